package wait

import (
	"fmt"
	"strings"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/chart"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/cref"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/perfbench"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/system"
)

// point is one measured setting, ours beside C's. Each side runs reps
// times, alternating (ours, C, ours, C), and the best run of each is
// compared.
type point struct {
	Setting  string           `json:"setting"`
	Ours     *result          `json:"ours"`             // the best run
	OursAvgs []float64        `json:"ours_avgs"`        // every run's average ops/s
	C        *cref.WaitOutput `json:"c,omitempty"`      // the best run
	CAvgs    []float64        `json:"c_avgs,omitempty"` // every run's average ops/s
	CArgs    string           `json:"c_args,omitempty"`
	CNote    string           `json:"c_note,omitempty"`
}

// setting is one configuration the report measures.
type setting struct {
	name string
	cfg  config
	reps int
}

// curve reports whether pt is a point of the chart: the default setting
// at each map size.
func (pt point) curve() bool {
	return pt.Setting == "default (LT)" || strings.HasPrefix(pt.Setting, "-f ")
}

// settings are the report's: perf's five settings; the fd sweep of the
// chart; our other engines against epoll; the ring engines where the
// consumer, not perf's writer, sets the pace.
func settings(base config, reps int, sweep []int) []setting {
	with := func(f func(*config)) config { c := base; f(&c); return c }
	ss := []setting{
		{"default (LT)", base, reps},
		{"-E edge", with(func(c *config) { c.Edge = true }), reps},
		{"-S oneshot", with(func(c *config) { c.Oneshot = true }), reps},
		{"-m multiq", with(func(c *config) { c.Multiq = true }), reps},
		{"-N 2 nested", with(func(c *config) { c.Nested = 2 }), reps},
	}
	// The chart's extra points run once, but 1024 fds is also where the
	// ring's target is judged against C, so that point runs as often as
	// the target settings do.
	for _, f := range sweep {
		r := 1
		if f > base.Fds {
			r = reps
		}
		ss = append(ss, setting{fmt.Sprintf("-f %d", f), with(func(c *config) { c.Fds = f }), r})
	}
	for _, e := range []string{"ctx", "ring"} {
		ss = append(ss, setting{"engine " + e, with(func(c *config) { c.Engine = e }), reps})
	}
	// The ring's case is a busy consumer: at 64 fds perf's writer sets the
	// pace, at 1024 the consumer does.
	ss = append(ss, setting{"engine ring-epoll", with(func(c *config) { c.Engine = "ring-epoll" }), reps})
	for _, f := range sweep {
		if f > base.Fds {
			for _, e := range []string{"ring", "ring-epoll"} {
				ss = append(ss, setting{fmt.Sprintf("engine %s -f %d", e, f),
					with(func(c *config) { c.Engine, c.Fds = e, f }), reps})
			}
		}
	}
	return ss
}

func report(opts harness.Options) (harness.Section, error) {
	base := defaultConfig()
	base.Runtime = time.Second
	reps := 2
	sweep := []int{8, 1024}
	if opts.Quick {
		base.Runtime = 150 * time.Millisecond
		reps = 1
		sweep = nil
	}
	perf := perfbench.NewPlan(opts)
	sec := harness.Section{Experiment: "wait", Params: map[string]any{
		"runtime":   cref.FormatRuntime(base.Runtime),
		"reps":      reps,
		"threads":   base.Threads,
		"nfds":      base.Fds,
		"run_c":     perf.Runs(),
		"fd_sweep":  sweep,
		"reference": "perf bench epoll wait (C), same flags, same run, alternating with ours",
	}}
	var points []point
	for _, s := range settings(base, reps, sweep) {
		pt := point{Setting: s.name}
		var c perfbench.Reference[cref.WaitOutput]
		if s.cfg.Engine == "epoll" {
			c = perfbench.NewReference(perf, "wait", s.name, cref.PerfSeconds(s.cfg.Runtime), s.cfg.perfArgs(), func(out string) (cref.WaitOutput, float64, error) {
				p, err := cref.ParseWait(out)
				return p, p.Avg, err
			})
			pt.CArgs, pt.CNote = c.Args, c.Note
		}
		ours := func(rep int) (*result, float64, error) {
			opts.Log.Printf("wait: %s (%s, engine %s, %ss) run %d/%d...", s.name, s.cfg.flagString(), s.cfg.Engine,
				cref.FormatRuntime(s.cfg.Runtime), rep+1, s.reps)
			res, err := run(s.cfg)
			if err != nil {
				return nil, 0, err
			}
			return res, res.Avg, nil
		}
		o, cb, cErr, err := harness.Alternate(s.reps, ours, c.Run)
		if err != nil {
			if isRing(s.cfg.Engine) {
				sec.Notes = append(sec.Notes, s.cfg.Engine+" engine not measured: "+err.Error())
				continue
			}
			return sec, err
		}
		pt.Ours, pt.OursAvgs, pt.CAvgs = o.Run, o.All, cb.All
		if cErr != nil {
			pt.CNote = cErr.Error()
		} else if cb.Len() > 0 {
			pt.C = &cb.Run
		}
		points = append(points, pt)
	}
	sec.Raw = points
	addRows(&sec, points)
	sec.Charts = []chart.Chart{ratesChart(points)}
	sec.Notes = append(sec.Notes,
		"ops/s are per worker thread, averaged over threads, as perf's Averaged line; perf divides by whole seconds, we by the measured time",
		fmt.Sprintf("each side ran %d times, alternating with the other; the best run of each is shown (all runs are in the JSON)", reps),
		fmt.Sprintf("%d CPUs: perf's default of CPUs-1 workers plus one writer thread", len(system.OnlineCPUs())))
	return sec, nil
}

// addRows adds a row per point: our epoll engine against C, the other
// engines against our epoll engine at the same map size, and the ring
// engines against C too.
func addRows(sec *harness.Section, points []point) {
	epollAt, cAt := map[int]float64{}, map[int]float64{}
	for _, pt := range points {
		if pt.curve() {
			epollAt[pt.Ours.Config.Fds] = pt.Ours.Avg
			if pt.C != nil {
				cAt[pt.Ours.Config.Fds] = pt.C.Avg
			}
		}
	}
	for _, pt := range points {
		cfg := pt.Ours.Config
		r := harness.Row{Case: cfg.flagString(), Ours: pt.Ours.Avg, Unit: "ops/s"}
		if cfg.Engine == "epoll" {
			r.RefName = "C perf bench"
			r.RefNote = pt.CNote
			if pt.C != nil {
				r.Ref = pt.C.Avg
			}
			if strings.HasPrefix(pt.Setting, "-f ") {
				if pt.C != nil {
					r.RefNote = "a point of the chart; no target"
				}
			} else {
				r.Target = harness.AtLeast(0.95)
			}
			sec.Add(r)
			continue
		}
		r.Case = fmt.Sprintf("-engine %s %s", cfg.Engine, cfg.flagString())
		r.RefName = "our epoll engine"
		r.Ref = epollAt[cfg.Fds]
		sec.Add(r)
		if c := cAt[cfg.Fds]; c > 0 && isRing(cfg.Engine) {
			// The ring's target is against C: a second row. It is for a
			// consumer that sets the pace, which at perf's 64 fds the
			// writer does instead: the target is judged where there are
			// more fds than that.
			r.RefName, r.Ref = "C perf bench", c
			r.RefNote = ""
			if cfg.Fds > defaultConfig().Fds {
				r.Target = harness.AtLeast(1.2)
			} else {
				r.RefNote = "perf's writer sets the pace here; the ring's target is judged at more fds"
			}
			sec.Add(r)
		}
	}
}

// ratesChart plots ops/s against fds per thread for ours and C.
func ratesChart(points []point) chart.Chart {
	ch := chart.Chart{
		File:   "wait.svg",
		Title:  "epoll wait: ops/s per worker vs fds per thread (level-triggered, single queue)",
		XLabel: "file descriptors per thread (-f)",
		YLabel: "operations per second per worker",
		LogX:   true,
		LogY:   true,
	}
	chart.Curve(&ch, "Go epoll.Instance.Wait", points, func(pt point) (float64, float64) {
		if !pt.curve() {
			return 0, 0
		}
		return float64(pt.Ours.Config.Fds), pt.Ours.Avg
	})
	chart.Curve(&ch, "C perf bench", points, func(pt point) (float64, float64) {
		if !pt.curve() || pt.C == nil {
			return 0, 0
		}
		return float64(pt.Ours.Config.Fds), pt.C.Avg
	})
	return ch
}
