package load

import (
	"context"
	"sync"
	"testing"
	"time"
)

// probeLog records when a Timing's Probe was called.
type probeLog struct {
	mu    sync.Mutex
	calls []time.Time
}

func (p *probeLog) probe() {
	p.mu.Lock()
	p.calls = append(p.calls, time.Now())
	p.mu.Unlock()
}

func (p *probeLog) times() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.calls...)
}

func TestProbeIsCalledAsTheWindowOpensAndCloses(t *testing.T) {
	const warmup, window = 60 * time.Millisecond, 120 * time.Millisecond
	runs := map[string]func(addr string, tm Timing) (*Result, error){
		"echo": func(addr string, tm Timing) (*Result, error) {
			return Echo{Addr: addr, Conns: 4, Size: 64, Depth: 1, Timing: tm}.Run(context.Background())
		},
		"http": func(addr string, tm Timing) (*Result, error) {
			return HTTP{Addr: addr, Conns: 4, Depth: 2, Timing: tm}.Run(context.Background())
		},
		"connrate": func(addr string, tm Timing) (*Result, error) {
			return ConnRate{Addr: addr, App: "http", Workers: 2, Timing: tm}.Run(context.Background())
		},
		"paced": func(addr string, tm Timing) (*Result, error) {
			return Paced{Addr: addr, App: "echo", Conns: 4, Size: 64, Rate: 1000, Timing: tm}.Run(context.Background())
		},
	}
	for name, run := range runs {
		app := "echo"
		if name == "http" || name == "connrate" {
			app = "http"
		}
		addr := serve(t, app, nil)
		var log probeLog
		start := time.Now()
		if _, err := run(addr, Timing{Warmup: warmup, Duration: window, Probe: log.probe}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		returned := time.Now()
		calls := log.times()
		if len(calls) != 2 {
			t.Fatalf("%s: probe called %d times, want at the window's opening and close", name, len(calls))
		}
		// The generator starts its clock after its connections are
		// open, so the calls are at least this late after start; never
		// early.
		if calls[0].Sub(start) < warmup || calls[1].Sub(start) < warmup+window || calls[1].After(returned) {
			t.Errorf("%s: probed at %v and %v after the start, returned at %v; want the first at or after %v, "+
				"the second at or after %v, both before the return", name, calls[0].Sub(start), calls[1].Sub(start),
				returned.Sub(start), warmup, warmup+window)
		}
	}
}

func TestFailedRunProbesNoMoreAfterReturning(t *testing.T) {
	addr := serve(t, "echo", func(n int, b []byte) []byte {
		if n == 3 {
			b[0] ^= 1
		}
		return b
	})
	var log probeLog
	if _, err := (Echo{Addr: addr, Conns: 2, Size: 64, Depth: 1,
		Timing: Timing{Warmup: 10 * time.Millisecond, Duration: 300 * time.Millisecond, Probe: log.probe}}).Run(context.Background()); err == nil {
		t.Fatal("a wrong byte passed")
	}
	n := len(log.times())
	time.Sleep(400 * time.Millisecond)
	if m := len(log.times()); m != n {
		t.Fatalf("probe called %d times after the failed run returned", m-n)
	}
}
