package wait

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/cref"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness/harnesstest"
	"github.com/eventpoll/eventpoll/internal/fdtest"
)

func quick() config {
	c := defaultConfig()
	c.Threads, c.Fds, c.Runtime = 2, 8, 150*time.Millisecond
	return c
}

func TestWaitEverySettingCountsOperationsOnEveryThread(t *testing.T) {
	cases := map[string]func(*config){
		"level":       func(c *config) {},
		"edge":        func(c *config) { c.Edge = true },
		"oneshot":     func(c *config) { c.Oneshot = true },
		"edgeOneshot": func(c *config) { c.Edge, c.Oneshot = true, true },
		"multiq":      func(c *config) { c.Multiq = true },
		"nested":      func(c *config) { c.Nested = 2 },
		"multiqNest":  func(c *config) { c.Multiq, c.Nested = true, 1 },
		"randomize":   func(c *config) { c.Randomize = true },
		"noaffinity":  func(c *config) { c.NoAffinity = true },
		// Spinning waiters keep both cores busy: a thread the scheduler
		// starts late still gets time to run within half a second.
		"nonblocking": func(c *config) { c.Nonblocking, c.Runtime = true, 500*time.Millisecond },
		"ctx":         func(c *config) { c.Engine = "ctx" },
		"ring":        func(c *config) { c.Engine = "ring" },
		"ringOneshot": func(c *config) { c.Engine, c.Oneshot, c.Multiq = "ring", true, true },
		"ringEpoll":   func(c *config) { c.Engine = "ring-epoll" },
		"ringEpollS":  func(c *config) { c.Engine, c.Oneshot = "ring-epoll", true },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			fdtest.Check(t)
			c := quick()
			f(&c)
			res, err := run(c)
			if isRing(c.Engine) && errors.Is(err, errors.ErrUnsupported) {
				t.Skipf("io_uring unavailable: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Ops) != c.Threads || len(res.PerThread) != c.Threads {
				t.Fatalf("got %d/%d per-thread figures, want %d", len(res.Ops), len(res.PerThread), c.Threads)
			}
			for i, ops := range res.Ops {
				// Every thread's fds are written every round, so every
				// worker must have been woken: none may be idle.
				if ops == 0 {
					t.Errorf("thread %d made no operations", i)
				}
			}
			if res.Avg <= 0 || res.Elapsed < c.Runtime.Seconds() {
				t.Errorf("avg %v ops/s over %vs; want > 0 over at least %v", res.Avg, res.Elapsed, c.Runtime)
			}
		})
	}
}

func TestWaitRejectsBadSettings(t *testing.T) {
	for name, f := range map[string]func(*config){
		"-t 0":         func(c *config) { c.Threads = 0 },
		"-f 0":         func(c *config) { c.Fds = 0 },
		"-N -1":        func(c *config) { c.Nested = -1 },
		"-engine nope": func(c *config) { c.Engine = "nope" },
		"-B":           func(c *config) { c.Engine, c.Nonblocking = "ctx", true },
	} {
		c := quick()
		f(&c)
		_, err := run(c)
		if err == nil || !strings.Contains(err.Error(), strings.Fields(name)[0]) {
			t.Errorf("%s: err = %v, want an error naming the flag", name, err)
		}
	}
	harnesstest.Refuses(t, Experiment, []string{"-r", "abc"}, []string{"extra"}, []string{"-batch", "-1"}, []string{"-pause", "-2"})
}

func TestWaitRunPrintsPerfFormat(t *testing.T) {
	// Our own output must be readable by the parser written for perf's.
	out, p := harnesstest.Parses(t, Experiment, cref.ParseWait, "-t", "1", "--nfds", "4", "-r", "100ms", "-E")
	if len(p.PerThread) != 1 || p.Avg <= 0 {
		t.Errorf("parsed %+v from\n%s", p, out)
	}
	if !strings.Contains(out, "Run summary [PID") || !strings.Contains(out, "file-descriptors for 0.1 secs") {
		t.Errorf("no perf-style summary line:\n%s", out)
	}
}

func TestWaitPerfArgsMirrorOurFlags(t *testing.T) {
	c := quick()
	c.Edge, c.Oneshot, c.Multiq, c.Randomize, c.NoAffinity, c.Nonblocking, c.Nested = true, true, true, true, true, true, 2
	c.Runtime = 1500 * time.Millisecond
	got := strings.Join(c.perfArgs(), " ")
	want := "-t 2 -f 8 -r 2 -m -E -S -R -n -B -N 2"
	if got != want {
		t.Errorf("perfArgs = %q, want %q", got, want)
	}
}

// A fresh machine has Go and nothing else: the quick report still measures
// every engine, and says in the C column why it is empty; perf's five
// settings carry the target ours >= 0.95x C, not judged rather than met or
// missed.
func TestReportQuickWithoutPerfMeasuresEveryEngineAndSaysWhyCIsMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	sec := harnesstest.Quick(t, Experiment)
	engines := map[string]bool{}
	for _, pt := range sec.Raw.([]point) {
		engines[pt.Ours.Config.Engine] = true
		if pt.Ours.Config.Engine == "epoll" && (pt.C != nil || pt.CNote != cref.PerfMissing) {
			t.Errorf("%s: C %v, note %q; want no C figure and %q", pt.Setting, pt.C, pt.CNote, cref.PerfMissing)
		}
	}
	for _, e := range []string{"epoll", "ctx"} {
		if !engines[e] {
			t.Errorf("engine %s not measured", e)
		}
	}
	targets := 0
	for _, r := range sec.Rows {
		if r.RefName == "C perf bench" && r.Ref != 0 {
			t.Errorf("row %q has a C figure %v with perf absent", r.Case, r.Ref)
		}
		if r.Target != nil {
			targets++
			if r.Target.MinRatio != 0.95 || r.Target.Verdict != harness.NotJudged || !strings.Contains(r.RefNote, cref.PerfMissing) {
				t.Errorf("row %q: target %+v, note %q; want >= 0.95x not judged, and why", r.Case, *r.Target, r.RefNote)
			}
		}
	}
	if targets != 5 {
		t.Errorf("%d rows with a target, want perf's 5 settings", targets)
	}
}

// A batch of events per wait, the writer never pausing, and a run that
// ends after a number of operations rather than a time: the forms the
// benchmark and -rounds use.
func TestBatchedRunEndsAfterItsOperations(t *testing.T) {
	for _, engine := range []string{"epoll", "ring", "ring-epoll"} {
		t.Run(engine, func(t *testing.T) {
			fdtest.Check(t)
			c := quick()
			c.Threads, c.Engine, c.Batch, c.PauseNs, c.Ops, c.Runtime = 1, engine, 64, -1, 5000, time.Minute
			res, err := run(c)
			if isRing(engine) && errors.Is(err, errors.ErrUnsupported) {
				t.Skipf("io_uring unavailable: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Ops[0] < c.Ops || res.Ops[0] >= c.Ops+64 {
				t.Errorf("%d operations, want %d and less than one batch more", res.Ops[0], c.Ops)
			}
			if res.Elapsed >= 30 {
				t.Errorf("the run took %vs: it did not end at its operations", res.Elapsed)
			}
			if res.events != res.Ops[0]+res.stale {
				t.Errorf("events %d != operations %d + stale %d", res.events, res.Ops[0], res.stale)
			}
			if isRing(engine) && res.ring.Delivered < res.events {
				t.Errorf("the ring delivered %d events, the workers counted %d", res.ring.Delivered, res.events)
			}
		})
	}
}

func TestVerboseRunSaysHowManyEventsItDelivered(t *testing.T) {
	out, err := harnesstest.Run(t, Experiment, "-v", "-t", "1", "-f", "4", "-r", "100ms", "-batch", "8")
	if err != nil {
		t.Fatal(err)
	}
	k := consumer{name: "go-epoll", engine: "epoll"}
	if n, err := delivered(k, out, 100*time.Millisecond); err != nil || n <= 0 {
		t.Errorf("events delivered: %v, %v in\n%s", n, err, out)
	}
}

func TestRoundsInterleaveEveryConsumerAndSayWhyOneIsMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no perf: the C columns say why
	out, err := harnesstest.Run(t, Experiment, "-rounds", "2", "-r", "50ms", "-f", "8", "-syscalls=false")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^C +- +- +not measured: ` + cref.PerfMissing + `$`).MatchString(out) {
		t.Errorf("no line says why C is missing:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "go-epoll" && len(f) != 5 {
			t.Errorf("go-epoll: want a median, no ratio (no C) and 2 runs: %q", line)
		}
	}
}
