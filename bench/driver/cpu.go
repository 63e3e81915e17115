package driver

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/eventpoll/eventpoll/bench/load"
	"github.com/eventpoll/eventpoll/bench/proc"
)

// On a machine where the generator runs out of CPU before the server,
// the servers' throughputs barely differ; what they spend per operation
// does. A run reads the server process's CPU time (every thread's, from
// the kernel) as its measured window opens and as it closes.

// cpuSample is a server's CPU time and when it was read.
type cpuSample struct {
	at  time.Time
	cpu proc.CPUTime
}

// cpuPerOp is what a server spent per operation in one run, in µs: in
// all, and its user and system parts (nil when the window was shorter
// than a clock tick of CPU time, which the split is counted in).
type cpuPerOp struct {
	total     float64
	user, sys *float64
}

// perOp divides the CPU time the server spent between samples a and b by
// ops, the operations completed between them.
func perOp(a, b cpuSample, ops float64) (*cpuPerOp, error) {
	run := b.cpu.Run - a.cpu.Run
	switch {
	case ops <= 0:
		return nil, fmt.Errorf("server CPU per op: %v ops", ops)
	case run < 0 || b.cpu.UserTicks < a.cpu.UserTicks || b.cpu.SysTicks < a.cpu.SysTicks:
		return nil, fmt.Errorf("server CPU time went back: %+v, then %+v", a.cpu, b.cpu)
	}
	c := &cpuPerOp{total: float64(run) / float64(time.Microsecond) / ops}
	du, ds := b.cpu.UserTicks-a.cpu.UserTicks, b.cpu.SysTicks-a.cpu.SysTicks
	if du+ds > 0 {
		user := c.total * float64(du) / float64(du+ds)
		sys := c.total - user
		c.user, c.sys = &user, &sys
	}
	return c, nil
}

// cpuMeter reads a server's CPU time as a generator's window opens and
// closes (load.Timing.Probe), or around a wrk run.
type cpuMeter struct {
	pid     int
	samples []cpuSample
	err     error
}

func (m *cpuMeter) probe() {
	t, err := proc.ReadCPUTime(m.pid)
	now := time.Now()
	if err != nil {
		if m.err == nil {
			m.err = err
		}
		return
	}
	m.samples = append(m.samples, cpuSample{at: now, cpu: t})
}

// windowPerOp is the server's CPU per op in a generator's window. The
// samples are taken a little after the window's edges, by a timer: the
// CPU time between them is divided by the ops completed at the run's rate
// over the same span, so that late samples cost no accuracy while the
// load is steady.
func (m *cpuMeter) windowPerOp(res *load.Result) (*cpuPerOp, error) {
	if m.err != nil {
		return nil, fmt.Errorf("server CPU time: %w", m.err)
	}
	if len(m.samples) != 2 {
		return nil, fmt.Errorf("server CPU time read %d times in the window, want at its opening and close", len(m.samples))
	}
	a, b := m.samples[0], m.samples[1]
	return perOp(a, b, res.Rate()*b.at.Sub(a.at).Seconds())
}

// wholePerOp is the server's CPU per op over a whole wrk run: wrk counts
// every request from its start to its exit, and has no warm-up.
func (m *cpuMeter) wholePerOp(res *load.Result) (*cpuPerOp, error) {
	if m.err != nil {
		return nil, fmt.Errorf("server CPU time: %w", m.err)
	}
	if len(m.samples) != 2 {
		return nil, errors.New("server CPU time not read before and after wrk")
	}
	return perOp(m.samples[0], m.samples[1], float64(res.Ops))
}

// CPUComparison sets the server CPU per op of the implementation under
// test beside that of the Go peer that spent least, and C's, in one case,
// placement and generator. It is information, not a target.
type CPUComparison struct {
	Case       string   `json:"case"`
	Loops      string   `json:"loops"`
	Generator  string   `json:"generator"`
	Ours       string   `json:"ours"`
	OursUs     float64  `json:"ours_us_per_op"`
	BestGoPeer string   `json:"best_go_peer,omitempty"`
	BestGoUs   *float64 `json:"best_go_us_per_op,omitempty"`
	Ratio      *float64 `json:"ratio,omitempty"` // ours over the best Go peer's
	CUs        *float64 `json:"c_us_per_op,omitempty"`
	VsC        *float64 `json:"vs_c,omitempty"` // ours over C's
}

// compareCPU makes a comparison for every row of the implementation under
// test (each of its modes) that has a CPU figure.
func compareCPU(rows []*Row) []CPUComparison {
	var out []CPUComparison
	for _, rs := range byCase(rows, func(r *Row) bool { return r.Error == "" && r.ServerCPUus != nil }) {
		var best, c *Row
		for _, r := range rs {
			if r.isC {
				c = r
			}
			if r.goPeer && (best == nil || *r.ServerCPUus < *best.ServerCPUus) {
				best = r
			}
		}
		for _, r := range rs {
			if !r.ours {
				continue
			}
			v := CPUComparison{Case: r.Case, Loops: r.Loops, Generator: r.Generator, Ours: r.Impl, OursUs: *r.ServerCPUus}
			if best != nil {
				v.BestGoPeer, v.BestGoUs = best.Impl, best.ServerCPUus
				v.Ratio = ratio(*r.ServerCPUus, *best.ServerCPUus)
			}
			if c != nil {
				v.CUs, v.VsC = c.ServerCPUus, ratio(*r.ServerCPUus, *c.ServerCPUus)
			}
			out = append(out, v)
		}
	}
	return out
}

// writeCPUComparison writes the comparisons, a line per case.
func writeCPUComparison(w io.Writer, vs []CPUComparison) error {
	if len(vs) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\nserver CPU per op (information, not a target): %s's over the Go peer that spent least, and over C's\n", vs[0].Ours)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "loops\tcase\tgen\tours\tlowest Go peer\tratio\tC\t×C\t")
	modes := map[caseKey]int{}
	for _, v := range vs {
		modes[caseKey{v.Loops, v.Case, v.Generator}]++
	}
	for _, v := range vs {
		ours, best := cpuText(&v.OursUs), "-"
		if modes[caseKey{v.Loops, v.Case, v.Generator}] > 1 {
			ours += " " + v.Ours // several modes of ours in one case
		}
		if v.BestGoPeer != "" {
			best = cpuText(v.BestGoUs) + " " + v.BestGoPeer
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", v.Loops, v.Case, v.Generator, ours, best,
			ratioText(v.Ratio), cpuText(v.CUs), ratioText(v.VsC))
	}
	return tw.Flush()
}

// cpuText writes µs of CPU per op: "3.21µs".
func cpuText(v *float64) string {
	if v != nil && *v < 100 {
		return fmt.Sprintf("%.2fµs", *v)
	}
	return usText(v)
}

// sysText writes the system part of a row's CPU per op as a share.
func sysText(r *Row) string {
	if r.ServerSysUs == nil || r.ServerCPUus == nil || *r.ServerCPUus == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100**r.ServerSysUs / *r.ServerCPUus)
}
