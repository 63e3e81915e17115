package pipetest

import (
	"fmt"
	"io"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/cref"
)

// Print writes the table of passes per second, one row per N, and what
// the run noted.
func (res *result) Print(out io.Writer, cfg config) {
	fmt.Fprintf(out, "%8s", "N")
	for _, m := range cfg.Mechs {
		fmt.Fprintf(out, " %14s", m+" passes/s")
	}
	if res.C != nil {
		for _, m := range cref.PipetestMechs {
			fmt.Fprintf(out, " %14s", "C "+m)
		}
	}
	fmt.Fprintf(out, " %7s %12s\n", "tables", "epoll/poll")
	for _, n := range res.Ns {
		fmt.Fprintf(out, "%8d", n)
		tables := 0
		for _, m := range cfg.Mechs {
			if r := res.rate(m, n); r > 0 {
				fmt.Fprintf(out, " %14.0f", r)
			} else {
				fmt.Fprintf(out, " %14s", "-")
			}
			for _, p := range res.Points {
				if p.N == n && p.Mech == m && p.Skipped == "" {
					tables = p.Tables
				}
			}
		}
		if res.C != nil {
			for _, m := range cref.PipetestMechs {
				if r := res.cRate(m, n); r > 0 {
					fmt.Fprintf(out, " %14.0f", r)
				} else {
					fmt.Fprintf(out, " %14s", "-")
				}
			}
		}
		fmt.Fprintf(out, " %7d", tables)
		if e, p := res.rate("epoll", n), res.rate("poll", n); e > 0 && p > 0 {
			fmt.Fprintf(out, " %12.1f", e/p)
		}
		fmt.Fprintln(out)
	}
	for _, p := range res.Points {
		if p.Skipped != "" {
			fmt.Fprintf(out, "# %s N=%d: %s\n", p.Mech, p.N, p.Skipped)
		}
	}
	for _, n := range res.Notes {
		fmt.Fprintln(out, "#", n)
	}
	if res.CNote != "" {
		fmt.Fprintln(out, "# C reference:", res.CNote)
	}
	if len(res.Ns) > 1 {
		lo := res.Ns[0]
		for _, m := range cfg.Mechs {
			if hi := res.largest(m); hi > lo {
				fmt.Fprintf(out, "# %s: N=%d / N=%d = %.3f\n", m, hi, lo, res.rate(m, hi)/res.rate(m, lo))
			}
		}
		hi := res.Ns[len(res.Ns)-1]
		for _, m := range cref.PipetestMechs {
			if a, b := res.cRate(m, lo), res.cRate(m, hi); a > 0 && b > 0 {
				fmt.Fprintf(out, "# C %s: N=%d / N=%d = %.3f\n", m, hi, lo, b/a)
			}
		}
	}
	fmt.Fprintf(out, "# 2002 (seed 001): epoll %d passes/s at 10 pipes, %d at %d; poll %d at 10, %d at %d\n",
		seedEpoll10, seedEpollBig, seedN, seedPoll10, seedPollBig, seedN)
}
