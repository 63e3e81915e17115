package driver

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/bench/load"
)

// latencyRow is a latency row as finish leaves it.
func latencyRow(impl string, p99 float64, overloaded string) *Row {
	r := &Row{Impl: impl, Case: "http c100 @20k/s", Family: FamilyLatency, Loops: "1", Generator: "peerbench",
		OpsPerSec: 20000, OfferedPerSec: 20000, P99us: &p99, Overloaded: overloaded}
	switch impl {
	case "eventpoll":
		r.ours = true
	case "c":
		r.isC = true
	default:
		r.goPeer = true
	}
	return r
}

func TestP99TargetIsJudgedAgainstTheGoPeersThatKeptUp(t *testing.T) {
	ours := latencyRow("eventpoll", 500, "")
	gnet := latencyRow("gnet", 400, "answered 15000/s of the 20000/s offered")
	net := latencyRow("net", 600, "")
	nbio := latencyRow("nbio", 900, "")
	c := latencyRow("c", 250, "")
	rows := []*Row{ours, gnet, net, nbio, c}
	compare(rows)
	vs := judgeP99(rows)
	if len(vs) != 1 {
		t.Fatalf("%d verdicts for one case and placement", len(vs))
	}
	v := vs[0]
	// gnet's 400 µs is lower, but it did not keep up: its p99 is a
	// queue's, and no reference.
	if v.BestGoPeer != "net" || *v.BestGoP99us != 600 || v.Verdict != Met || *v.Ratio != 500.0/600 {
		t.Fatalf("verdict %+v: want met against net's 600 µs, ratio 0.83", v)
	}
	if *v.CP99us != 250 || *v.VsC != 2 || !strings.Contains(v.Note, "gnet did not keep up") {
		t.Fatalf("verdict %+v: want 2x C's p99 and a note that gnet did not keep up", v)
	}
	if gnet.VsBestGoPeer != nil || gnet.VsC != nil {
		t.Errorf("the overloaded row got ratios %v, %v", *gnet.VsBestGoPeer, *gnet.VsC)
	}
	if ours.BestGoPeer != "net" || *ours.VsBestGoPeer != 500.0/600 || *nbio.VsBestGoPeer != 1.5 {
		t.Errorf("row ratios: ours %q %v, nbio %v; want p99 over net's", ours.BestGoPeer, *ours.VsBestGoPeer, *nbio.VsBestGoPeer)
	}

	net.P99us = new(float64)
	*net.P99us = 450
	compare(rows)
	if v := judgeP99(rows)[0]; v.Verdict != NotMet || *v.Ratio != 500.0/450 {
		t.Errorf("ours 500 µs against net's 450: %+v, want not met", v)
	}
}

func TestP99TargetWhenSomeoneDidNotKeepUp(t *testing.T) {
	for _, c := range []struct {
		name    string
		rows    []*Row
		verdict string
		note    string
	}{
		{"ours overloaded", []*Row{latencyRow("eventpoll", 100, "answered 10/s"), latencyRow("net", 600, "")}, NotMet, "eventpoll did not keep up"},
		{"no Go peer kept up", []*Row{latencyRow("eventpoll", 100, ""), latencyRow("net", 60, "answered 10/s")}, NotJudged, "no Go peer kept up"},
		{"both overloaded", []*Row{latencyRow("eventpoll", 100, "answered 10/s"), latencyRow("net", 60, "answered 10/s")}, NotJudged, "eventpoll did not keep up"},
		{"ours failed", []*Row{{Impl: "eventpoll", Case: "x", Family: FamilyLatency, Loops: "1", Generator: "peerbench", ours: true, Error: "byte 3"},
			latencyRow("net", 60, "")}, NotJudged, "eventpoll failed: byte 3"},
	} {
		for _, r := range c.rows {
			r.Case = "x"
		}
		compare(c.rows)
		vs := judgeP99(c.rows)
		if len(vs) != 1 || vs[0].Verdict != c.verdict || vs[0].Ratio != nil || !strings.Contains(vs[0].Note, c.note) {
			t.Errorf("%s: %+v, want %q without a ratio, the note saying %q", c.name, vs, c.verdict, c.note)
		}
	}
	// A run without the implementation under test judges nothing.
	if vs := judgeP99([]*Row{latencyRow("net", 60, "")}); len(vs) != 0 {
		t.Errorf("verdicts without ours: %+v", vs)
	}
}

func paced(p99 time.Duration, ops int64, overloaded string) *load.Result {
	return &load.Result{Ops: ops, Window: time.Second, P99: p99, Paced: &load.Pacing{Offered: 1000, Overloaded: overloaded, Lateness: new(load.Histogram)}}
}

func TestBestLatencyRunIsTheLowestP99ThatKeptUp(t *testing.T) {
	r := &Row{Family: FamilyLatency}
	r.add(paced(300*time.Microsecond, 700, "answered 700/s"), &cpuPerOp{total: 1})
	r.add(paced(900*time.Microsecond, 1000, ""), &cpuPerOp{total: 2})
	r.add(paced(500*time.Microsecond, 1000, ""), &cpuPerOp{total: 3})
	r.add(paced(800*time.Microsecond, 1000, ""), &cpuPerOp{total: 4})
	if r.best.P99 != 500*time.Microsecond {
		t.Fatalf("best run p99 %v: want 500µs, the lowest of the runs that kept up", r.best.P99)
	}
	r.finish()
	if *r.ServerCPUus != 3 || !slices.Equal(r.RunsServerCPUus, []float64{1, 2, 3, 4}) {
		t.Fatalf("server CPU per op %v, runs %v: want the best run's, 3, and every run's", *r.ServerCPUus, r.RunsServerCPUus)
	}
	if !slices.Equal(r.RunsP99us, []float64{300, 900, 500, 800}) || len(r.Runs) != 4 {
		t.Fatalf("runs %v, p99s %v: want every run", r.Runs, r.RunsP99us)
	}
	o := &Row{Family: FamilyLatency}
	o.add(paced(300*time.Microsecond, 500, "answered 500/s"), &cpuPerOp{total: 1})
	o.add(paced(900*time.Microsecond, 800, "answered 800/s"), &cpuPerOp{total: 2})
	if o.best.Ops != 800 {
		t.Fatalf("of two overloaded runs the one that answered %d was kept; want the one that answered more", o.best.Ops)
	}
}

func TestShortPlanRunsTheHTTPLatencyCase(t *testing.T) {
	latency := func(p plan) (names []string) {
		for _, c := range p.cases {
			if c.Family == FamilyLatency {
				names = append(names, c.Name())
			}
		}
		return names
	}
	if got := latency(makePlan(Options{})); !slices.Equal(got, []string{"echo 64B c100 @30k/s", "http c100 @20k/s"}) {
		t.Errorf("default plan: latency cases %q, want echo and http", got)
	}
	// The standard report's servers section judges the p99 target on it.
	if got := latency(makePlan(Options{Short: true})); !slices.Equal(got, []string{"http c100 @20k/s"}) {
		t.Errorf("short plan: latency cases %q, want http alone", got)
	}
	p := makePlan(Options{Short: true, Families: []string{"latency"}, Rate: 1500})
	if len(p.cases) != 1 || p.cases[0].Name() != "http c100 @1.5k/s" {
		t.Errorf("short plan with -cases latency -rate 1500: %v", p.cases)
	}
	if got := latency(makePlan(Options{Short: true, Families: []string{"echo", "http"}})); len(got) != 0 {
		t.Errorf("short plan with -cases echo,http: latency cases %q, want none", got)
	}
}
