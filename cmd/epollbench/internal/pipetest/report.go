package pipetest

import (
	"fmt"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/chart"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/cref"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
)

// Report adds the report's parameters, rows and a chart.
func (res *result) Report(sec *harness.Section, cfg config) {
	sec.Params = map[string]any{
		"n":        res.Ns,
		"mech":     cfg.Mechs,
		"duration": cfg.Duration.String(),
		"rounds":   cfg.Rounds,
		"warmup":   cfg.Warmup.String(),
	}
	sec.Notes = append(sec.Notes, res.Notes...)
	sec.Notes = append(sec.Notes, fmt.Sprintf(
		"each figure is the best of %d interleaved rounds: the machine is shared and a burst of other work lowers whichever run it lands on", cfg.Rounds))
	if len(res.Ns) == 0 {
		return
	}
	seed := shapeRows(sec, res)
	costRows(sec, res)
	versusRows(sec, res)
	seedRows(sec, res, seed)
	sec.Charts = []chart.Chart{passesChart(res, cfg)}
	noted := map[string]bool{}
	for _, p := range res.Points {
		if p.Skipped != "" && !noted[p.Mech] {
			noted[p.Mech] = true
			sec.Notes = append(sec.Notes, fmt.Sprintf("%s not measured from N=%d on: %s", p.Mech, p.N, p.Skipped))
		}
	}
}

// at2002 is, for epoll and poll, the largest N measured up to the 2002
// N (poll stops where one descriptor table does), and a note when that is
// not the 2002 N.
type at2002 struct {
	epoll, poll         int
	epollNote, pollNote string
}

func upTo2002(res *result, mech string) (big int, note string) {
	for _, p := range res.Points {
		if p.Mech == mech && p.Rate > 0 && p.N <= seedN {
			big = max(big, p.N)
		}
	}
	if big != seedN {
		note = fmt.Sprintf("2002 figure at N=%d", seedN)
	}
	return big, note
}

// shapeRows adds how each rate falls with N: epoll's flatness (the claim
// of 2002 and the target), the 2002 shape, poll's 1/N, the C reference on
// the same ring (a fall C shares is the machine's, not ours), and epoll
// against the no-wait baseline.
func shapeRows(sec *harness.Section, res *result) at2002 {
	lo, hi := res.Ns[0], res.Ns[len(res.Ns)-1]
	var seed at2002
	seed.epoll, seed.epollNote = upTo2002(res, "epoll")
	seed.poll, seed.pollNote = upTo2002(res, "poll")
	if a, b := res.rate("epoll", lo), res.rate("epoll", hi); a > 0 && b > 0 {
		sec.Add(harness.Row{Case: fmt.Sprintf("epoll N=%d / N=%d", hi, lo), Ours: b / a, Unit: "x",
			RefName: "target", Ref: targetFlat, Target: harness.AtLeast(1),
			RefNote: fmt.Sprintf("2002: %.2f at N=%d", float64(seedEpollBig)/seedEpoll10, seedN)})
	}
	if a, b := res.rate("epoll", 10), res.rate("epoll", seed.epoll); a > 0 && b > 0 && seed.epoll > 10 {
		sec.Add(harness.Row{Case: fmt.Sprintf("epoll N=%d / N=10", seed.epoll), Ours: b / a, Unit: "x",
			RefName: "seed 001 (2002)", Ref: float64(seedEpollBig) / seedEpoll10, RefNote: seed.epollNote})
	}
	if ph := res.largest("poll"); ph > lo {
		sec.Add(harness.Row{Case: fmt.Sprintf("poll N=%d / N=%d", ph, lo), Ours: res.rate("poll", ph) / res.rate("poll", lo), Unit: "x",
			RefNote: fmt.Sprintf("1/N would be %.2g", float64(lo)/float64(ph))})
	}
	if a, b, ca, cb := res.rate("epoll", lo), res.rate("epoll", hi), res.cRate("epoll", lo), res.cRate("epoll", hi); a > 0 && b > 0 {
		r := harness.Row{Case: fmt.Sprintf("epoll N=%d / N=%d vs C", hi, lo), Ours: b / a, Unit: "x", RefName: "C, same ring"}
		if ca > 0 && cb > 0 {
			r.Ref = cb / ca
		} else {
			r.RefNote = res.CNote
		}
		sec.Add(r)
	}
	for _, n := range []int{lo, hi} {
		if e, c := res.rate("epoll", n), res.cRate("epoll", n); e > 0 && c > 0 {
			sec.Add(harness.Row{Case: fmt.Sprintf("epoll N=%d vs C", n), Ours: e, Unit: "passes/s", RefName: "C, same ring", Ref: c})
		}
	}
	if a, b := res.rate("poll", 10), res.rate("poll", seed.poll); a > 0 && b > 0 && seed.poll > 10 {
		sec.Add(harness.Row{Case: fmt.Sprintf("poll N=%d / N=10", seed.poll), Ours: b / a, Unit: "x",
			RefName: "seed 001 (2002)", Ref: float64(seedPollBig) / seedPoll10, RefNote: seed.pollNote})
	}
	// How much of epoll's fall is the wait's, and how much the pipes' own
	// (both rates fall as N pipes' kernel state outgrows the CPU caches;
	// the ratio epoll/direct isolates the wait).
	if d0, dh, e0, eh := res.rate("direct", lo), res.rate("direct", hi), res.rate("epoll", lo), res.rate("epoll", hi); d0 > 0 && dh > 0 && e0 > 0 && eh > 0 && hi != lo {
		sec.Add(harness.Row{Case: fmt.Sprintf("epoll/direct N=%d vs N=%d", hi, lo), Ours: eh / dh, Unit: "x",
			RefName: fmt.Sprintf("epoll/direct N=%d", lo), Ref: e0 / d0,
			RefNote: fmt.Sprintf("direct (read+write, no wait) itself: N=%d / N=%d = %.2f", hi, lo, dh/d0)})
	}
	return seed
}

// costRows adds what one wait costs per pass, from the no-wait baseline:
// 1/rate - 1/direct, epoll's against poll's.
func costRows(sec *harness.Section, res *result) {
	for _, n := range res.Ns {
		d := res.rate("direct", n)
		if d <= 0 {
			continue
		}
		cost := func(m string) float64 {
			if r := res.rate(m, n); r > 0 {
				return 1e6 * (1/r - 1/d)
			}
			return 0
		}
		if e, p := cost("epoll"), cost("poll"); e > 0 && p > 0 {
			sec.Add(harness.Row{Case: fmt.Sprintf("wait cost per pass: epoll vs poll N=%d", n), Ours: e, Unit: "us",
				RefName: "poll(2)", Ref: p, LowerIsBetter: true, RefNote: "1/rate - 1/direct"})
		}
	}
}

// versusRows adds epoll against poll and select, and the ring against
// epoll, at each N.
func versusRows(sec *harness.Section, res *result) {
	for _, n := range res.Ns {
		e := res.rate("epoll", n)
		if p := res.rate("poll", n); e > 0 && p > 0 {
			sec.Add(harness.Row{Case: fmt.Sprintf("epoll vs poll N=%d", n), Ours: e, Unit: "passes/s", RefName: "poll(2)", Ref: p})
		}
		if s := res.rate("select", n); e > 0 && s > 0 {
			sec.Add(harness.Row{Case: fmt.Sprintf("epoll vs select N=%d", n), Ours: e, Unit: "passes/s", RefName: "select(2)", Ref: s})
		}
		if r := res.rate("ring", n); e > 0 && r > 0 {
			sec.Add(harness.Row{Case: fmt.Sprintf("ring vs epoll N=%d", n), Ours: r, Unit: "passes/s", RefName: "epoll", Ref: e})
		}
	}
}

// seedRows adds the absolute 2002 figures, on 2002 hardware: a reference,
// not a target.
func seedRows(sec *harness.Section, res *result, seed at2002) {
	for _, c := range []struct {
		mech string
		n    int
		ref  float64
		note string
	}{
		{"epoll", 10, seedEpoll10, ""}, {"epoll", seed.epoll, seedEpollBig, seed.epollNote},
		{"poll", 10, seedPoll10, ""}, {"poll", seed.poll, seedPollBig, seed.pollNote},
	} {
		if r := res.rate(c.mech, c.n); r > 0 {
			note := "2002 hardware, kernel 2.5.44"
			if c.n != 10 && c.note != "" {
				note += "; " + c.note
			}
			sec.Add(harness.Row{Case: fmt.Sprintf("%s N=%d", c.mech, c.n), Ours: r, Unit: "passes/s",
				RefName: "seed 001 (2002)", Ref: c.ref, RefNote: note})
		}
	}
}

// passesChart plots passes/s against N for every mechanism, C's and the
// 2002 figures.
func passesChart(res *result, cfg config) chart.Chart {
	ch := chart.Chart{
		File:   "pipetest.svg",
		Title:  "pipetest: one token around N pipes, one thread moving it at a time",
		XLabel: "pipes in the ring (N)",
		YLabel: "token passes per second",
		LogX:   true,
		LogY:   true,
	}
	for _, m := range cfg.Mechs {
		chart.Curve(&ch, m, res.Ns, func(n int) (float64, float64) { return float64(n), res.rate(m, n) })
	}
	for _, m := range cref.PipetestMechs {
		chart.Curve(&ch, "C "+m, res.Ns, func(n int) (float64, float64) { return float64(n), res.cRate(m, n) })
	}
	ch.Series = append(ch.Series,
		chart.Series{Name: "epoll 2002", X: []float64{10, seedN}, Y: []float64{seedEpoll10, seedEpollBig}},
		chart.Series{Name: "poll 2002", X: []float64{10, seedN}, Y: []float64{seedPoll10, seedPollBig}},
	)
	return ch
}
