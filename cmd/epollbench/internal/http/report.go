package http

import (
	"fmt"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/chart"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
)

// Report adds the report's parameters, rows and a chart.
func (res *result) Report(sec *harness.Section, cfg config) {
	sec.Params = map[string]any{
		"dead":       res.Dead,
		"engine":     cfg.Engines,
		"conc":       cfg.Conc,
		"duration":   cfg.Duration.String(),
		"windows":    cfg.Windows,
		"warmup":     cfg.Warmup.String(),
		"page_bytes": len(response),
	}
	sec.Notes = append(sec.Notes, res.Notes...)
	sec.Notes = append(sec.Notes, fmt.Sprintf("each figure is the best of %d windows of the measuring time (the machine is shared); Raw holds every window and the mean", cfg.Windows))
	sec.Notes = append(sec.Notes, "server and load generator share this machine's CPUs over loopback; the 2002 figures used separate client machines")
	if len(res.Dead) == 0 {
		return
	}
	lo, hi := res.Dead[0], res.Dead[len(res.Dead)-1]
	at2002 := fmt.Sprintf("2002 figure at %d dead connections", seedDead)
	if lo == 0 && hi > 0 {
		if a, b := res.rate(engineEpoll, 0), res.rate(engineEpoll, hi); a > 0 && b > 0 {
			sec.Add(harness.Row{Case: fmt.Sprintf("epoll dead=%d / dead=0", hi), Ours: b / a, Unit: "x",
				RefName: "seed 001 (2002)", Ref: 1, RefNote: at2002 + " (flat)"})
		}
		if a, b := res.rate(enginePoll, 0), res.rate(enginePoll, hi); a > 0 && b > 0 {
			sec.Add(harness.Row{Case: fmt.Sprintf("poll dead=%d / dead=0", hi), Ours: b / a, Unit: "x",
				RefName: "seed 001 (2002)", Ref: float64(seedPollBig) / seedEpoll,
				RefNote: at2002 + ", against epoll's 13.4k at 0"})
		}
		if a, b := res.rate(engineReactor, 0), res.rate(engineReactor, hi); a > 0 && b > 0 {
			sec.Add(harness.Row{Case: fmt.Sprintf("reactor dead=%d / dead=0", hi), Ours: b / a, Unit: "x",
				RefName: "seed 001 (2002)", Ref: 1, RefNote: at2002 + " (epoll, flat)"})
		}
	}
	for _, d := range res.Dead {
		if e, p := res.rate(engineEpoll, d), res.rate(enginePoll, d); e > 0 && p > 0 {
			sec.Add(harness.Row{Case: fmt.Sprintf("epoll vs poll dead=%d", d), Ours: e, Unit: "replies/s", RefName: "poll(2)", Ref: p})
		}
	}
	// The same page served with package server on one loop, beside the
	// hand-written epoll engine: what the product costs over raw calls. No
	// target: on the shared 2-core machine one engine's rate at one point
	// moves by 2x between runs, more than a 0.9x target could tell apart
	// (BENCHMARKS.md).
	for _, d := range res.Dead {
		if r, e := res.rate(engineReactor, d), res.rate(engineEpoll, d); r > 0 && e > 0 {
			sec.Add(harness.Row{Case: fmt.Sprintf("reactor vs epoll dead=%d", d), Ours: r, Unit: "replies/s",
				RefName: "hand-written epoll engine", Ref: e})
		}
	}
	if r := res.rate(engineEpoll, 0); r > 0 {
		sec.Add(harness.Row{Case: "epoll dead=0", Ours: r, Unit: "replies/s", RefName: "seed 001 (2002)", Ref: seedEpoll,
			RefNote: "2002 hardware, separate clients"})
	}
	if r := res.rate(engineEpoll, hi); r > 0 && hi > 0 {
		sec.Add(harness.Row{Case: fmt.Sprintf("epoll dead=%d", hi), Ours: r, Unit: "replies/s", RefName: "seed 001 (2002)", Ref: seedEpoll,
			RefNote: at2002})
	}
	if r := res.rate(enginePoll, hi); r > 0 && hi > 0 {
		sec.Add(harness.Row{Case: fmt.Sprintf("poll dead=%d", hi), Ours: r, Unit: "replies/s", RefName: "seed 001 (2002)", Ref: seedPollBig,
			RefNote: at2002})
	}
	ch := chart.Chart{
		File:   "http.svg",
		Title:  "one-thread HTTP server: replies/s with idle connections held open",
		XLabel: "dead (idle) connections",
		YLabel: "replies per second",
		LogY:   true,
	}
	for _, e := range cfg.Engines {
		chart.Curve(&ch, e, res.Dead, func(d int) (float64, float64) { return float64(d), res.rate(e, d) })
	}
	// The 2002 curves are left out: drawn to 60,000 dead connections on a
	// linear axis they would squeeze ours into the left sixth; the rows
	// carry them.
	sec.Charts = []chart.Chart{ch}
}
