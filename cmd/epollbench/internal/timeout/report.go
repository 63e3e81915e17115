package timeout

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/chart"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
)

// reportConfig is the standard report's configuration.
func reportConfig(opts harness.Options) config {
	reqs := []time.Duration{10 * time.Microsecond, 100 * time.Microsecond, time.Millisecond, 3100 * time.Microsecond}
	cfg := config{
		Requests: reqs,
		Samples:  sampleCounts(reqs, 500, 400*time.Millisecond),
		Mechs:    allMechs,
		Rounds:   4,
		QEMU:     qemuConfig{Fds: []int{15, 85, 200}, Duration: time.Second, Mechs: qemuMechs},
		Log:      opts.Log,
	}
	if opts.Quick {
		// A smoke run builds no C reference (the report's -quick contract);
		// cref's TestPwait2InCReportsOneLinePerRequestAndNeverEarly covers it.
		cfg.Mechs = slices.DeleteFunc(slices.Clone(allMechs), func(m string) bool { return m == mechC })
		cfg.Samples = sampleCounts(reqs, 30, 40*time.Millisecond)
		cfg.Rounds = 2
		cfg.QEMU.Duration = 100 * time.Millisecond
	}
	return cfg
}

// Report adds the report's parameters, rows and charts.
func (res *result) Report(sec *harness.Section, cfg config) {
	var reqs []string
	samples := map[string]int{}
	for _, r := range cfg.Requests {
		reqs = append(reqs, r.String())
		samples[r.String()] = cfg.Samples[r]
	}
	sec.Params = map[string]any{
		"requests":      reqs,
		"samples":       samples,
		"mech":          cfg.Mechs,
		"rounds":        cfg.Rounds,
		"timer_slack":   res.Slack.String(),
		"qemu_fds":      cfg.QEMU.Fds,
		"qemu_duration": cfg.QEMU.Duration.String(),
	}
	sec.Notes = append(sec.Notes, res.Notes...)
	sec.Notes = append(sec.Notes, fmt.Sprintf(
		"overshoot = elapsed - requested; the thread's timer slack (%v) lets the kernel fire a timer that much late", res.Slack))
	overshootRows(sec, res, cfg)
	qemuRows(sec, res.QEMU)
	ch := chart.Chart{
		File:   "timeout.svg",
		Title:  "timed wait precision: median overshoot by requested timeout",
		XLabel: "requested timeout (us)",
		YLabel: "median overshoot (us)",
		LogX:   true,
		LogY:   true,
	}
	for _, mech := range cfg.Mechs {
		chart.Curve(&ch, mech, cfg.Requests, func(req time.Duration) (float64, float64) {
			st, _ := res.stat(mech, req)
			return us(req), us(st.Median)
		})
	}
	sec.Charts = []chart.Chart{ch}
	if qc, ok := qemuChart(res.QEMU); ok {
		sec.Charts = append(sec.Charts, qc)
	}
}

// us is d in microseconds, the unit of every row.
func us(d time.Duration) float64 { return float64(d) / 1e3 }

// overshootRows adds the target first, then each mechanism's median
// overshoot beside C epoll_pwait2's at the same request. Every row is
// lower-is-better.
func overshootRows(sec *harness.Section, res *result, cfg config) {
	add := func(r harness.Row) {
		r.LowerIsBetter = true
		sec.Add(r)
	}
	hundred := 100 * time.Microsecond
	if w, ok := res.stat(mechWait, hundred); ok {
		r := harness.Row{Case: "target: Wait(100us) median overshoot", Ours: us(w.Median), Unit: "us",
			RefName: "C epoll_pwait2 median + 10 us", Target: harness.AtLeast(1)}
		if c, ok := res.stat(mechC, hundred); ok {
			r.Ref = us(c.Median + targetMargin)
		} else {
			r.RefNote = res.cNote
		}
		add(r)
	}
	for _, req := range cfg.Requests {
		c, haveC := res.stat(mechC, req)
		for _, mech := range cfg.Mechs {
			s, ok := res.stat(mech, req)
			if !ok {
				continue
			}
			r := harness.Row{Case: fmt.Sprintf("%s %v median overshoot", mech, req), Ours: us(s.Median), Unit: "us"}
			if mech != mechC {
				r.RefName = "C epoll_pwait2"
				if haveC {
					r.Ref = us(c.Median)
				} else {
					r.RefNote = res.cNote
				}
			}
			if s.Early > 0 {
				r.RefNote = strings.TrimPrefix(r.RefNote+fmt.Sprintf("; %d of %d returned early", s.Early, s.Samples), "; ")
			}
			add(r)
		}
	}
}
