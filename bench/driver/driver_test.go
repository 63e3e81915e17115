package driver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/bench/driver"
	"github.com/eventpoll/eventpoll/bench/peers"
	"github.com/eventpoll/eventpoll/bench/proc"
)

// The test binary doubles as peerserver: started with childEnv set, it is
// the child, with the "broken" implementation registered below.
const childEnv = "DRIVER_TEST_CHILD=1"

func TestMain(m *testing.M) {
	peers.Register(peers.Impl{
		Name: "broken", Apps: []peers.App{peers.Echo},
		Doc: "an echo server that flips a bit of every connection's 20th read, for the tests",
		New: func() peers.Server { return new(brokenEcho) },
	})
	if slices.Contains(os.Environ(), childEnv) {
		if err := proc.Serve(os.Args[1:], os.Stdin, os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func options(impls []string, families ...string) driver.Options {
	return driver.Options{
		// Long enough that a window under -race on a loaded machine
		// still completes messages on every connection.
		Short: true, Rounds: 2, Warmup: 20 * time.Millisecond, Duration: 200 * time.Millisecond, Idle: 50,
		Impls: impls, Families: families,
		Server: []string{os.Args[0]}, ServerEnv: []string{childEnv},
	}
}

func TestTinyRunReportsEveryImplementationInBothPlacements(t *testing.T) {
	rep, err := driver.Run(context.Background(), options([]string{"net", "c", "c-uring"}, "echo", "idle"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() {
		t.Fatalf("a correct server failed: %+v", rep.Rows)
	}
	cpus, _ := proc.CPUs()
	placements := []string{"1", "all"}
	if len(cpus) < 2 {
		placements = []string{"all"}
	}
	runs := func(name string) bool {
		i := slices.IndexFunc(rep.Implementations, func(im driver.Implementation) bool { return im.Name == name })
		if i < 0 {
			t.Fatalf("%s not among the implementations reported", name)
		}
		return rep.Implementations[i].Skipped == ""
	}
	c := runs("c")
	for _, loops := range placements {
		for _, kase := range []string{"echo 64B c100", "echo 4KiB c100", "idle c50"} {
			for _, impl := range []string{"net", "c", "c-uring"} {
				if !runs(impl) {
					continue
				}
				i := slices.IndexFunc(rep.Rows, func(r *driver.Row) bool {
					return r.Loops == loops && r.Case == kase && r.Impl == impl
				})
				if i < 0 {
					t.Errorf("no row for %s loops=%s %s", impl, loops, kase)
					continue
				}
				checkRow(t, rep.Rows[i], c)
			}
		}
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ops/s", "p99.9", "×best Go", "RSS/conn", "echo 4KiB c100", "idle c50"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back driver.Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Schema != driver.Schema || len(back.Rows) != len(rep.Rows) || back.Rows[0].OpsPerSec != rep.Rows[0].OpsPerSec {
		t.Fatalf("JSON does not round-trip: schema %q, %d rows", back.Schema, len(back.Rows))
	}
}

func checkRow(t *testing.T, r *driver.Row, withC bool) {
	t.Helper()
	if r.Error != "" {
		t.Errorf("%s %s: %s", r.Impl, r.Case, r.Error)
		return
	}
	// The default engine: epoll goroutines, one per CPU the generator
	// may use, polling where those CPUs are its own.
	cpus, _ := proc.CPUs()
	want := fmt.Sprintf("epoll x%d", len(cpus))
	switch {
	case r.Family == driver.FamilyIdle:
		want = ""
	case r.Pinned:
		want = fmt.Sprintf("epoll x%d spin", len(cpus)-1)
	}
	if r.Engine != want {
		t.Errorf("%s loops=%s %s: engine %q, want %q", r.Impl, r.Loops, r.Case, r.Engine, want)
	}
	if r.Family == driver.FamilyIdle {
		if r.Idle == nil || r.Idle.Conns != 50 || r.Idle.RSSAfter == 0 {
			t.Errorf("%s %s: idle figures %+v", r.Impl, r.Case, r.Idle)
		}
		if strings.HasPrefix(r.Impl, "c") != (r.Idle != nil && r.Idle.GoPerConn == nil) {
			t.Errorf("%s %s: Go heap+stack reported for C or missing for Go", r.Impl, r.Case)
		}
	} else {
		if r.OpsPerSec <= 0 || len(r.Runs) != 2 || r.P50us == nil || r.P999us == nil || *r.P50us > *r.P999us {
			t.Errorf("%s %s: figures %v ops/s, runs %v", r.Impl, r.Case, r.OpsPerSec, r.Runs)
		}
		if slices.Max(r.Runs) != r.OpsPerSec {
			t.Errorf("%s %s: reported %v, not the best of %v", r.Impl, r.Case, r.OpsPerSec, r.Runs)
		}
		checkCPU(t, r)
	}
	if r.BestGoPeer != "net" || r.VsBestGoPeer == nil || (r.Impl == "net" && *r.VsBestGoPeer != 1) {
		t.Errorf("%s %s: best Go peer %q ratio %v; net is the only Go peer", r.Impl, r.Case, r.BestGoPeer, r.VsBestGoPeer)
	}
	if withC && (r.VsC == nil || (r.Impl == "c" && *r.VsC != 1)) {
		t.Errorf("%s %s: ratio to C %v", r.Impl, r.Case, r.VsC)
	}
}

// checkCPU checks a throughput row's server CPU per op: there, above
// zero, and no more than the server's CPUs could spend at its rate.
func checkCPU(t *testing.T, r *driver.Row) {
	t.Helper()
	if r.ServerCPUus == nil || *r.ServerCPUus <= 0 || len(r.RunsServerCPUus) != len(r.Runs) ||
		!slices.Contains(r.RunsServerCPUus, *r.ServerCPUus) || slices.Min(r.RunsServerCPUus) <= 0 {
		t.Errorf("%s loops=%s %s: server CPU per op %v, runs %v (ops/s %v): want the best run's, above zero, every run's",
			r.Impl, r.Loops, r.Case, r.ServerCPUus, r.RunsServerCPUus, r.Runs)
		return
	}
	// Every op costs the server a system call or more (well above
	// 0.05 µs), and the server cannot spend more than its CPUs' time;
	// a unit slip fails one or the other by a factor of 1,000.
	cpus := float64(r.ServerLoops)
	if r.Loops == "1" {
		cpus = 1
	}
	if busy := *r.ServerCPUus * r.OpsPerSec / 1e6; *r.ServerCPUus < 0.05 || busy > 1.25*cpus {
		t.Errorf("%s loops=%s %s: %.3f µs per op at %.0f ops/s is %.2f CPUs busy, on %v CPUs",
			r.Impl, r.Loops, r.Case, *r.ServerCPUus, r.OpsPerSec, busy, cpus)
	}
	if (r.ServerUserUs == nil) != (r.ServerSysUs == nil) ||
		(r.ServerUserUs != nil && math.Abs(*r.ServerUserUs+*r.ServerSysUs-*r.ServerCPUus) > 1e-6**r.ServerCPUus) {
		t.Errorf("%s loops=%s %s: user %v + system %v is not the %v in all", r.Impl, r.Loops, r.Case, r.ServerUserUs, r.ServerSysUs, *r.ServerCPUus)
	}
}

func TestEveryThroughputRowReportsTheServersCPUPerOp(t *testing.T) {
	o := options([]string{"eventpoll", "net", "c"}, "echo", "http", "latency", "connrate")
	o.Rate = 2000
	rep, err := driver.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() {
		t.Fatalf("a correct server failed: %+v", rep.Rows)
	}
	families := map[driver.Family]bool{}
	for _, r := range rep.Rows {
		families[r.Family] = true
		checkCPU(t, r)
	}
	if len(families) != 4 {
		t.Fatalf("rows of %v, want echo, http, latency and connrate", families)
	}
	// A comparison for every case and placement ours ran in.
	for _, r := range rep.Rows {
		if strings.HasPrefix(r.Impl, "eventpoll") && !slices.ContainsFunc(rep.ServerCPU, func(v driver.CPUComparison) bool {
			return v.Ours == r.Impl && v.Case == r.Case && v.Loops == r.Loops && v.Generator == r.Generator
		}) {
			t.Errorf("no CPU comparison for %s loops=%s %s", r.Impl, r.Loops, r.Case)
		}
	}
	for _, v := range rep.ServerCPU {
		if v.BestGoPeer != "net" || v.Ratio == nil || *v.Ratio != v.OursUs / *v.BestGoUs {
			t.Errorf("comparison %+v: want ours over net's, the only Go peer", v)
		}
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"srv cpu/op", "server CPU per op (information, not a target)", "lowest Go peer"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"server_cpu_us_per_op"`) || !strings.Contains(js.String(), `"server_cpu"`) {
		t.Fatalf("JSON lacks the CPU figures:\n%s", js.String())
	}
}

func TestLatencyRowsCompareEveryServerAtTheOfferedRate(t *testing.T) {
	o := options([]string{"eventpoll", "net", "c"}, "latency")
	o.Rate = 2000 // far below what any server does, under -race too
	rep, err := driver.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() {
		t.Fatalf("a correct server failed: %+v", rep.Rows)
	}
	cpus, _ := proc.CPUs()
	placements := []string{"1", "all"}
	if len(cpus) < 2 {
		placements = []string{"all"}
	}
	c := !slices.ContainsFunc(rep.Implementations, func(im driver.Implementation) bool { return im.Name == "c" && im.Skipped != "" })
	const kase = "http c100 @2k/s"
	for _, loops := range placements {
		var ours *driver.Row
		for _, impl := range []string{"eventpoll", "net", "c"} {
			if impl == "c" && !c {
				continue
			}
			i := slices.IndexFunc(rep.Rows, func(r *driver.Row) bool { return r.Loops == loops && r.Case == kase && r.Impl == impl })
			if i < 0 {
				t.Errorf("no row for %s loops=%s %s", impl, loops, kase)
				continue
			}
			r := rep.Rows[i]
			if r.Family != driver.FamilyLatency || r.OfferedPerSec != 2000 || r.OpsPerSec <= 0 || r.OpsPerSec > 1.1*2000 {
				t.Errorf("%s loops=%s: family %q, offered %v, achieved %v", impl, loops, r.Family, r.OfferedPerSec, r.OpsPerSec)
			}
			if len(r.Runs) != 2 || len(r.RunsP99us) != 2 || r.P99us == nil || !slices.Contains(r.RunsP99us, *r.P99us) {
				t.Errorf("%s loops=%s: runs %v, p99s %v, reported p99 %v: want the best run's", impl, loops, r.Runs, r.RunsP99us, r.P99us)
			}
			if r.LateP50us == nil || r.LateP99us == nil || r.Outstanding == nil {
				t.Errorf("%s loops=%s: the generator's lateness or the outstanding count missing", impl, loops)
			}
			if r.Overloaded != "" && r.VsBestGoPeer != nil {
				t.Errorf("%s loops=%s did not keep up (%s) and still has a ratio", impl, loops, r.Overloaded)
			}
			if impl == "eventpoll" {
				ours = r
			}
		}
		i := slices.IndexFunc(rep.P99Target, func(v driver.P99Verdict) bool { return v.Loops == loops && v.Case == kase })
		if i < 0 || ours == nil {
			t.Errorf("loops=%s: no p99 verdict", loops)
			continue
		}
		v := rep.P99Target[i]
		if v.Ours != "eventpoll" || v.OursP99us == nil || *v.OursP99us != *ours.P99us {
			t.Errorf("loops=%s: verdict %+v does not judge eventpoll's p99", loops, v)
		}
		switch {
		case v.Ratio != nil && (v.BestGoPeer != "net" || (*v.Ratio <= 1) != (v.Verdict == driver.Met)):
			t.Errorf("loops=%s: verdict %+v: ratio and verdict disagree, or the best Go peer is not net", loops, v)
		case v.Ratio == nil && v.Note == "":
			t.Errorf("loops=%s: verdict %+v without a ratio says not why", loops, v)
		}
	}
	// The machine's own gaps are measured on every CPU before and after
	// the latency runs.
	cpus, err = proc.CPUs()
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.MachineStalls) != 2*len(cpus) {
		t.Fatalf("%d stall measurements for %d CPUs, want one per CPU before the runs and one after", len(rep.MachineStalls), len(cpus))
	}
	for i, m := range rep.MachineStalls {
		want := "before"
		if i >= len(cpus) {
			want = "after"
		}
		if m.When != want || m.CPU != cpus[i%len(cpus)] || m.Window <= 0 || m.Over <= 0 || m.Lost > m.Window {
			t.Errorf("stall measurement %d: %+v", i, m)
		}
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"latency, open loop", "offered", "gen late p99", kase, "p99 target, judged on the latency rows", "machine stalls", "before the runs, CPU"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back driver.Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.P99Target) != len(rep.P99Target) || back.Rows[0].OfferedPerSec != 2000 || len(back.MachineStalls) != len(rep.MachineStalls) {
		t.Fatalf("JSON does not round-trip the latency rows and verdicts")
	}
}

func TestBrokenServerFailsItsRowsLoudly(t *testing.T) {
	rep, err := driver.Run(context.Background(), options([]string{"net", "broken"}, "echo"))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Failed() {
		t.Fatal("a server that corrupts replies did not fail the report")
	}
	for _, r := range rep.Rows {
		switch r.Impl {
		case "broken":
			if r.Error == "" || r.OpsPerSec != 0 || r.VsBestGoPeer != nil {
				t.Errorf("broken %s: error %q, figure %v, ratio %v; want an error and no figure", r.Case, r.Error, r.OpsPerSec, r.VsBestGoPeer)
			}
		case "net":
			if r.Error != "" || r.OpsPerSec == 0 {
				t.Errorf("net %s beside the broken server: %q", r.Case, r.Error)
			}
		}
	}
	var table bytes.Buffer
	rep.WriteTable(&table)
	if !strings.Contains(table.String(), "FAILED") || !strings.Contains(table.String(), "byte") {
		t.Errorf("table does not say which byte failed:\n%s", table.String())
	}
}

func TestUnknownImplementationIsRefused(t *testing.T) {
	_, err := driver.Run(context.Background(), options([]string{"nosuch"}, "echo"))
	if err == nil || !strings.Contains(err.Error(), `"nosuch"`) {
		t.Fatalf("got %v", err)
	}
}

func TestUnknownEngineIsRefused(t *testing.T) {
	o := options([]string{"net"}, "echo")
	o.Engine = "threads"
	if _, err := driver.Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), `engine "threads"`) {
		t.Fatalf("got %v", err)
	}
}

func TestGoroutineEngineDrivesTheClosedLoopsInBothPlacements(t *testing.T) {
	o := options([]string{"net"}, "echo", "http")
	o.Engine = "goroutines"
	rep, err := driver.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() {
		t.Fatalf("a correct server failed: %+v", rep.Rows)
	}
	placements := map[string]bool{}
	for _, r := range rep.Rows {
		if r.Generator != "peerbench" {
			continue
		}
		placements[r.Loops] = true
		if r.Engine != "goroutines" || r.OpsPerSec <= 0 {
			t.Errorf("loops=%s %s: engine %q at %.0f ops/s, want goroutines", r.Loops, r.Case, r.Engine, r.OpsPerSec)
		}
	}
	if cpus, _ := proc.CPUs(); len(cpus) >= 2 && len(placements) != 2 {
		t.Errorf("rows in placements %v, want both", placements)
	}
}

func TestCaseNamesSayWhatIsMeasured(t *testing.T) {
	for c, want := range map[driver.Case]string{
		{Family: driver.FamilyEcho, Conns: 10, Size: 64, Depth: 1}:                                     "echo 64B c10",
		{Family: driver.FamilyEcho, Conns: 1000, Size: 4096, Depth: 1}:                                 "echo 4KiB c1000",
		{Family: driver.FamilyHTTP, Conns: 100, Depth: 16}:                                             "http c100 p16",
		{Family: driver.FamilyConnRate, Conns: 32, Depth: 1}:                                           "connrate w32",
		{Family: driver.FamilyIdle, Conns: 10000, Depth: 1}:                                            "idle c10000",
		{Family: driver.FamilyLatency, Proto: peers.Echo, Conns: 100, Size: 64, Depth: 1, Rate: 20000}: "echo 64B c100 @20k/s",
		{Family: driver.FamilyLatency, Proto: peers.HTTP, Conns: 100, Depth: 1, Rate: 2500}:            "http c100 @2.5k/s",
		{Family: driver.FamilyLatency, Proto: peers.HTTP, Conns: 10, Depth: 1, Rate: 500}:              "http c10 @500/s",
	} {
		if got := c.Name(); got != want {
			t.Errorf("%+v: %q, want %q", c, got, want)
		}
	}
}

// brokenEcho echoes, except that it flips one bit of every connection's
// 20th read.
type brokenEcho struct {
	ln net.Listener
	wg sync.WaitGroup
}

func (b *brokenEcho) Start(cfg peers.Config) error {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	b.ln = ln
	b.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				for n := 1; ; n++ {
					r, err := c.Read(buf)
					if r > 0 && n == 20 {
						buf[r/2] ^= 0x10
					}
					if _, werr := c.Write(buf[:r]); werr != nil || err != nil {
						return
					}
				}
			}()
		}
	})
	return nil
}

func (b *brokenEcho) Memory() peers.Memory { return peers.GoMemory() }

func (b *brokenEcho) Stop() error {
	err := b.ln.Close()
	b.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
