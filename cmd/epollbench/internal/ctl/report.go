package ctl

import (
	"fmt"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/chart"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/cref"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/perfbench"
)

// point is one measured configuration of the report. As in wait, each
// side runs reps times, alternating with the other, and the best run of
// each is compared.
type point struct {
	Setting  string          `json:"setting"`
	Ours     *result         `json:"ours,omitempty"` // the best run
	OursAvgs []float64       `json:"ours_avgs,omitempty"`
	Err      string          `json:"error,omitempty"`
	C        *cref.CtlOutput `json:"c,omitempty"` // the best run
	CRate    float64         `json:"c_ops_per_s,omitempty"`
	CRates   []float64       `json:"c_rates,omitempty"`
	CArgs    string          `json:"c_args,omitempty"`
	CNote    string          `json:"c_note,omitempty"`
}

// reporter measures the report's points, in order.
type reporter struct {
	opts   harness.Options
	perf   perfbench.Plan // whether C runs where it is the reference
	points []*point
}

// measure runs c reps times, alternating with perf's run of the same
// flags when withC, and records the point.
func (rp *reporter) measure(name string, c config, withC bool, reps int) *point {
	pt := &point{Setting: name}
	rp.points = append(rp.points, pt)
	var ref perfbench.Reference[*cref.CtlOutput]
	if withC {
		secs := cref.PerfSeconds(c.Runtime)
		ref = perfbench.NewReference(rp.perf, "ctl", name, secs, c.perfArgs(), func(out string) (*cref.CtlOutput, float64, error) {
			p, err := cref.ParseCtl(out)
			return &p, p.Rate(secs), err
		})
		pt.CArgs, pt.CNote = ref.Args, ref.Note
	}
	ours := func(rep int) (*result, float64, error) {
		rp.opts.Log.Printf("ctl: %s (%s, %ss) run %d/%d...", name, c.flagString(), cref.FormatRuntime(c.Runtime), rep+1, reps)
		res, err := run(c)
		if err != nil {
			return nil, 0, err
		}
		return res, res.Avg, nil
	}
	o, cb, cErr, err := harness.Alternate(reps, ours, ref.Run)
	if o.Len() > 0 {
		pt.Ours, pt.OursAvgs = o.Run, o.All
	}
	if err != nil {
		pt.Err = err.Error()
		rp.opts.Log.Printf("ctl: %s: %v", name, err)
		return pt
	}
	pt.CRates = cb.All
	if cErr != nil {
		pt.CNote = cErr.Error()
	} else if cb.Len() > 0 {
		pt.C, pt.CRate = cb.Run, cb.Figure
	}
	return pt
}

// loopCase is the event-loop stream at one thread count: per-op, Batch
// and BatchAll.
type loopCase struct{ perOp, strict, all *point }

func report(opts harness.Options) (harness.Section, error) {
	base := defaultConfig()
	base.Runtime = time.Second
	reps := 2
	sizes := []int{1, 4, 16, 64, 256}
	if opts.Quick {
		base.Runtime = 150 * time.Millisecond
		reps = 1
		sizes = []int{64}
	}
	rp := &reporter{opts: opts, perf: perfbench.NewPlan(opts)}
	sec := harness.Section{Experiment: "ctl", Params: map[string]any{
		"runtime":     cref.FormatRuntime(base.Runtime),
		"reps":        reps,
		"threads":     base.Threads,
		"nfds":        base.Fds,
		"batch_sizes": sizes,
		"run_c":       rp.perf.Runs(),
		"reference":   "perf bench epoll ctl (C), same flags, same run, alternating with ours",
	}}
	perOp := rp.measure("per-op", base, true, reps)
	rnd := base
	rnd.Randomize = true
	rp.measure("per-op -R", rnd, true, reps)
	strict := map[string]*point{}
	all := map[string]map[int]*point{}
	for _, backend := range []string{"uring", "syscall"} {
		c := base
		c.Mode, c.Backend = "batch", backend
		strict[backend] = rp.measure(fmt.Sprintf("Batch(64) %s", backend), c, false, reps)
		all[backend] = map[int]*point{}
		for _, b := range sizes {
			c := base
			c.Mode, c.Backend, c.BatchSize = "batchall", backend, b
			r := 1
			if b == 64 {
				r = reps // a row of the table, not only a point of the chart
			}
			all[backend][b] = rp.measure(fmt.Sprintf("BatchAll(%d) %s", b, backend), c, false, r)
		}
	}
	// What a program gets without choosing: BatchAuto's pick.
	c := base
	c.Mode, c.Backend = "batch", "auto"
	strict["auto"] = rp.measure("Batch(64) auto", c, false, reps)
	c.Mode = "batchall"
	all["auto"] = map[int]*point{64: rp.measure("BatchAll(64) auto", c, false, reps)}
	var loops []loopCase
	if !opts.Quick {
		loops = rp.loopCases(base, reps)
	}
	sec.Raw = rp.points
	if err := addRows(&sec, rp.points[:2], strict, all, loops); err != nil {
		return sec, err
	}
	sec.Charts = []chart.Chart{batchChart(sizes, all, perOp)}
	sec.Notes = append(sec.Notes,
		fmt.Sprintf("each figure is the best of %d runs (ours alternating with C where C is the reference); all runs are in the JSON", reps),
		"ops/s: successful ADD+MOD+DEL per second per thread, averaged over threads; perf prints totals, divided here by its whole-second runtime",
		"a non-random round is ADD, MOD, DEL of each of the 64 fds (192 commands, 3 batches of 64) then a 250 ns nanosleep, as perf",
		"-phase -pause -1: ADD of all 64 fds, MOD of all, DEL of all (an event loop's batch never names an fd twice) with no pause: the cost of the commands alone; perf's 250 ns pause lasts ~50 us with the default timer slack, about as long as a round")
	return sec, nil
}

// loopCases measures an event loop's batch: each fd once per batch (ADD
// all, MOD all, DEL all) and no pause, so the figure is the cost of the
// commands alone, on one thread and on base.Threads. This is the stream
// the batch targets are stated for.
func (rp *reporter) loopCases(base config, reps int) []loopCase {
	var loops []loopCase
	for _, t := range []int{1, base.Threads} {
		c := base
		c.Threads, c.Phase, c.PauseNs = t, true, -1
		var lc loopCase
		lc.perOp = rp.measure(fmt.Sprintf("per-op phase t%d", t), c, false, reps)
		c.Mode, c.Backend = "batch", "auto"
		lc.strict = rp.measure(fmt.Sprintf("Batch(64) auto phase t%d", t), c, false, reps)
		c.Mode = "batchall"
		lc.all = rp.measure(fmt.Sprintf("BatchAll(64) auto phase t%d", t), c, false, reps)
		loops = append(loops, lc)
		if t == base.Threads {
			break
		}
	}
	return loops
}

// addRows adds per-op against C, each batch mode and backend against our
// per-op, and the event-loop stream's batches against per-op on the same
// stream.
func addRows(sec *harness.Section, perOps []*point, strict map[string]*point, all map[string]map[int]*point, loops []loopCase) error {
	row := func(cs string, ours float64, refName string, ref float64, target *harness.Target, note string) {
		sec.Add(harness.Row{Case: cs, Ours: ours, Unit: "ops/s", RefName: refName, Ref: ref, Target: target, RefNote: note})
	}
	for _, pt := range perOps {
		if pt.Ours == nil {
			return fmt.Errorf("ctl %s: %s", pt.Setting, pt.Err)
		}
		row("per-op "+pt.Ours.Config.flagString(), pt.Ours.Avg, "C perf bench", pt.CRate, harness.AtLeast(0.95), pt.CNote)
	}
	perOp := perOps[0]
	for _, backend := range []string{"uring", "syscall", "auto"} {
		for _, pt := range []*point{strict[backend], all[backend][64]} {
			if pt == nil {
				continue
			}
			if pt.Ours == nil {
				sec.Notes = append(sec.Notes, fmt.Sprintf("%s not measured: %s", pt.Setting, pt.Err))
				continue
			}
			kind := "Batch strict"
			if pt.Ours.Config.Mode == "batchall" {
				kind = "BatchAll"
			}
			row(fmt.Sprintf("%s 64 cmds, %s backend", kind, backend), pt.Ours.Avg, "our per-op", perOp.Ours.Avg, nil, "")
		}
	}
	for _, lc := range loops {
		if lc.perOp.Ours == nil || lc.strict.Ours == nil || lc.all.Ours == nil {
			sec.Notes = append(sec.Notes, "event-loop batch case not measured: "+lc.perOp.Err+lc.strict.Err+lc.all.Err)
			continue
		}
		cfg := lc.perOp.Ours.Config.flagString()
		row("Batch strict 64 cmds, auto, "+cfg, lc.strict.Ours.Avg, "our per-op, same stream", lc.perOp.Ours.Avg, harness.AtLeast(1), "")
		row("BatchAll 64 cmds, auto, "+cfg, lc.all.Ours.Avg, "our per-op, same stream", lc.perOp.Ours.Avg, harness.AtLeast(1.2), "")
	}
	return nil
}

// batchChart plots BatchAll's ops/s against commands per call, per
// backend, with per-op Go and C as flat lines.
func batchChart(sizes []int, all map[string]map[int]*point, perOp *point) chart.Chart {
	ch := chart.Chart{
		File:   "ctl.svg",
		Title:  "epoll ctl: ADD+MOD+DEL ops/s per thread vs commands per BatchAll",
		XLabel: "commands per BatchAll call",
		YLabel: "successful operations per second per thread",
		LogX:   true,
		LogY:   true,
	}
	for _, backend := range []string{"uring", "syscall"} {
		chart.Curve(&ch, "BatchAll, "+backend+" backend", sizes, func(b int) (float64, float64) {
			if pt := all[backend][b]; pt != nil && pt.Ours != nil {
				return float64(b), pt.Ours.Avg
			}
			return 0, 0
		})
	}
	lo, hi := float64(sizes[0]), float64(sizes[len(sizes)-1])
	if hi == lo {
		hi = lo * 2
	}
	if perOp.Ours != nil {
		ch.Series = append(ch.Series, chart.Series{Name: "Go per-op epoll_ctl", X: []float64{lo, hi}, Y: []float64{perOp.Ours.Avg, perOp.Ours.Avg}})
	}
	if perOp.CRate > 0 {
		ch.Series = append(ch.Series, chart.Series{Name: "C perf bench per-op", X: []float64{lo, hi}, Y: []float64{perOp.CRate, perOp.CRate}})
	}
	return ch
}
