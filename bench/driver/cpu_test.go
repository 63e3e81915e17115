package driver

import (
	"strings"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/bench/load"
	"github.com/eventpoll/eventpoll/bench/proc"
)

func sample(at time.Duration, run time.Duration, user, sys uint64) cpuSample {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	return cpuSample{at: t0.Add(at), cpu: proc.CPUTime{Run: run, UserTicks: user, SysTicks: sys}}
}

func TestPerOpDividesTheServersCPUTimeByTheOpsAndSplitsItByTicks(t *testing.T) {
	// 150 ms of CPU, 5 ticks user and 10 system, over 50,000 ops: 3 µs
	// an op, 1 of them user, 2 system.
	a := sample(0, 4*time.Second, 300, 100)
	b := sample(200*time.Millisecond, 4*time.Second+150*time.Millisecond, 305, 110)
	c, err := perOp(a, b, 50000)
	if err != nil {
		t.Fatal(err)
	}
	if c.total != 3 || c.user == nil || c.sys == nil || *c.user != 1 || *c.sys != 2 {
		t.Fatalf("per op %+v: want 3 µs, 1 user and 2 system", c)
	}
	// Under a tick of CPU time the split is unknown, the total not.
	b = sample(200*time.Millisecond, 4*time.Second+3*time.Millisecond, 300, 100)
	if c, err := perOp(a, b, 1000); err != nil || c.total != 3 || c.user != nil || c.sys != nil {
		t.Fatalf("3 ms of CPU within a tick: %+v, %v; want 3 µs and no split", c, err)
	}
	for _, bad := range []struct {
		b   cpuSample
		ops float64
	}{
		{sample(time.Second, 5*time.Second, 310, 110), 0},
		{sample(time.Second, 3*time.Second, 310, 110), 1000},
		{sample(time.Second, 5*time.Second, 299, 110), 1000},
	} {
		if c, err := perOp(a, bad.b, bad.ops); err == nil {
			t.Errorf("%+v over %v ops: %+v, want an error", bad.b.cpu, bad.ops, c)
		}
	}
}

func TestWindowPerOpCountsTheOpsOfTheSpanSampled(t *testing.T) {
	// 100,000 ops in a 1 s window; the samples, late by a timer, span
	// 1.01 s, over which the server spent 303 ms: 101,000 ops at that
	// rate, 3 µs each.
	res := &load.Result{Ops: 100000, Window: time.Second}
	m := &cpuMeter{samples: []cpuSample{
		sample(100*time.Millisecond, time.Second, 100, 0),
		sample(1110*time.Millisecond, time.Second+303*time.Millisecond, 110, 20),
	}}
	c, err := m.windowPerOp(res)
	if err != nil {
		t.Fatal(err)
	}
	if d := c.total - 3; d > 1e-9 || d < -1e-9 {
		t.Fatalf("%v µs per op, want 3", c.total)
	}
	// wrk's count covers its whole run, as the samples around it do.
	if c, err := m.wholePerOp(res); err != nil || c.total != 3.03 {
		t.Fatalf("over a whole run: %+v, %v; want 303 ms over 100,000 ops, 3.03 µs", c, err)
	}
	m.samples = m.samples[:1]
	if _, err := m.windowPerOp(res); err == nil || !strings.Contains(err.Error(), "read 1 times") {
		t.Fatalf("one sample: %v, want an error saying so", err)
	}
}

func TestMeterReadsAServerThatIsGoneAsAnError(t *testing.T) {
	m := &cpuMeter{pid: 1 << 30} // above pid_max: no such process
	m.probe()
	m.probe()
	if _, err := m.windowPerOp(&load.Result{Ops: 1, Window: time.Second}); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}

func cpuRow(impl string, us float64) *Row {
	r := &Row{Impl: impl, Case: "echo 64B c100", Family: FamilyEcho, Loops: "1", Generator: "peerbench", OpsPerSec: 1000, ServerCPUus: &us}
	switch {
	case strings.HasPrefix(impl, "eventpoll"):
		r.ours = true
	case impl == "c":
		r.isC = true
	default:
		r.goPeer = true
	}
	return r
}

func TestCPUComparisonIsOursOverTheGoPeerThatSpentLeast(t *testing.T) {
	failed := cpuRow("nbio", 0.5)
	failed.Error, failed.ServerCPUus = "byte 3", nil
	rows := []*Row{cpuRow("eventpoll", 3), cpuRow("gnet", 2), cpuRow("net", 2.5), cpuRow("c", 1.5), failed}
	vs := compareCPU(rows)
	if len(vs) != 1 {
		t.Fatalf("%d comparisons for one case: %+v", len(vs), vs)
	}
	v := vs[0]
	if v.Ours != "eventpoll" || v.OursUs != 3 || v.BestGoPeer != "gnet" || *v.BestGoUs != 2 || *v.Ratio != 1.5 || *v.CUs != 1.5 || *v.VsC != 2 {
		t.Fatalf("%+v: want eventpoll's 3 µs over gnet's 2 (1.5) and C's 1.5 (2)", v)
	}
	// Several modes of ours: a comparison each, named in the table.
	rows = append(rows, cpuRow("eventpoll/sharedqueue", 1))
	vs = compareCPU(rows)
	if len(vs) != 2 || *vs[1].Ratio != 0.5 {
		t.Fatalf("two modes of ours: %+v", vs)
	}
	var b strings.Builder
	if err := writeCPUComparison(&b, vs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"information, not a target", "3.00µs eventpoll", "1.00µs eventpoll/sharedqueue", "2.00µs gnet", "1.50"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("comparison table lacks %q:\n%s", want, b.String())
		}
	}
	// Without ours there is nothing to compare.
	if vs := compareCPU(rows[1:4]); len(vs) != 0 {
		t.Errorf("comparisons without ours: %+v", vs)
	}
}
