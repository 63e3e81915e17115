package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/cref"
	"github.com/eventpoll/eventpoll/internal/fdtest"
)

func quickWait() waitConfig {
	c := defaultWaitConfig()
	c.Threads, c.Fds, c.Runtime = 2, 8, 150*time.Millisecond
	return c
}

func TestWaitEverySettingCountsOperationsOnEveryThread(t *testing.T) {
	cases := map[string]func(*waitConfig){
		"level":       func(c *waitConfig) {},
		"edge":        func(c *waitConfig) { c.Edge = true },
		"oneshot":     func(c *waitConfig) { c.Oneshot = true },
		"edgeOneshot": func(c *waitConfig) { c.Edge, c.Oneshot = true, true },
		"multiq":      func(c *waitConfig) { c.Multiq = true },
		"nested":      func(c *waitConfig) { c.Nested = 2 },
		"multiqNest":  func(c *waitConfig) { c.Multiq, c.Nested = true, 1 },
		"randomize":   func(c *waitConfig) { c.Randomize = true },
		"noaffinity":  func(c *waitConfig) { c.NoAffinity = true },
		"nonblocking": func(c *waitConfig) { c.Nonblocking = true },
		"ctx":         func(c *waitConfig) { c.Engine = "ctx" },
		"ring":        func(c *waitConfig) { c.Engine = "ring" },
		"ringOneshot": func(c *waitConfig) { c.Engine, c.Oneshot, c.Multiq = "ring", true, true },
		"ringEpoll":   func(c *waitConfig) { c.Engine = "ring-epoll" },
		"ringEpollS":  func(c *waitConfig) { c.Engine, c.Oneshot = "ring-epoll", true },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			fdtest.Check(t)
			c := quickWait()
			f(&c)
			res, err := runWait(c)
			if isRingEngine(c.Engine) && errors.Is(err, errors.ErrUnsupported) {
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
	for name, f := range map[string]func(*waitConfig){
		"-t 0":         func(c *waitConfig) { c.Threads = 0 },
		"-f 0":         func(c *waitConfig) { c.Fds = 0 },
		"-N -1":        func(c *waitConfig) { c.Nested = -1 },
		"-engine nope": func(c *waitConfig) { c.Engine = "nope" },
		"-B":           func(c *waitConfig) { c.Engine, c.Nonblocking = "ctx", true },
	} {
		c := quickWait()
		f(&c)
		_, err := runWait(c)
		if err == nil || !strings.Contains(err.Error(), strings.Fields(name)[0]) {
			t.Errorf("%s: err = %v, want an error naming the flag", name, err)
		}
	}
	if err := waitRun([]string{"-r", "abc"}); err == nil {
		t.Error("-r abc accepted")
	}
	if err := waitRun([]string{"extra"}); err == nil {
		t.Error("a stray argument was accepted")
	}
}

func TestWaitRunPrintsPerfFormat(t *testing.T) {
	out, err := captureStdout(t, func() error {
		return waitRun([]string{"-t", "1", "--nfds", "4", "-r", "100ms", "-E"})
	})
	if err != nil {
		t.Fatal(err)
	}
	// Our own output must be readable by the parser written for perf's.
	p, err := cref.ParseWait(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(p.PerThread) != 1 || p.Avg <= 0 {
		t.Errorf("parsed %+v from\n%s", p, out)
	}
	if !strings.Contains(out, "Run summary [PID") || !strings.Contains(out, "file-descriptors for 0.1 secs") {
		t.Errorf("no perf-style summary line:\n%s", out)
	}
}

func TestWaitPerfArgsMirrorOurFlags(t *testing.T) {
	c := quickWait()
	c.Edge, c.Oneshot, c.Multiq, c.Randomize, c.NoAffinity, c.Nonblocking, c.Nested = true, true, true, true, true, true, 2
	c.Runtime = 1500 * time.Millisecond
	got := strings.Join(c.perfArgs(), " ")
	want := "-t 2 -f 8 -r 2 -m -E -S -R -n -B -N 2"
	if got != want {
		t.Errorf("perfArgs = %q, want %q", got, want)
	}
}
