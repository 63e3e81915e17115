package loop

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/fdtest"
)

// engines lists the engines every behaviour test runs on. EngineRing falls
// back to EngineEpoll where io_uring is unavailable (EVENTPOLL_NO_URING=1 in
// CI's second pass), and the test then says so.
var engines = []Engine{EngineEpoll, EngineRing}

func forEngines(t *testing.T, f func(t *testing.T, e Engine)) {
	t.Helper()
	for _, e := range engines {
		t.Run(e.String(), func(t *testing.T) { f(t, e) })
	}
}

// newLoop makes a loop on engine e whose faults fail the test unless
// allowFaults, checks for descriptor leaks and closes the loop at cleanup.
func newLoop(t testing.TB, e Engine, opts ...Option) *Loop {
	t.Helper()
	fdtest.Check(t)
	opts = append([]Option{WithEngine(e), WithFaultHandler(func(tok Token, err error) {
		t.Errorf("unexpected fault for token %#x: %v", uint64(tok), err)
	})}, opts...)
	l, err := New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if e == EngineRing && l.Engine() != EngineRing {
		if os.Getenv("EVENTPOLL_NO_URING") == "" {
			t.Logf("EngineRing unavailable here; running on %v", l.Engine())
		}
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// start runs l in a goroutine and returns a function that closes the loop
// and returns Run's error.
func start(t testing.TB, l *Loop) (stop func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- l.Run(context.Background()) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			l.Close()
			select {
			case err = <-errc:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return within 10s of Close")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// onLoop runs f on the loop's goroutine and waits for it.
func onLoop(t testing.TB, l *Loop, f func()) {
	t.Helper()
	done := make(chan struct{})
	if err := l.Post(func() { f(); close(done) }); err != nil {
		t.Fatalf("Post: %v", err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("posted function did not run within 10s")
	}
}

// recorder is a Handler that records the events it receives.
type recorder struct {
	mu   sync.Mutex
	evs  []epoll.Events
	toks []Token
	ch   chan struct{}
	fn   func(l *Loop, t Token, ev epoll.Events)
}

func newRecorder() *recorder { return &recorder{ch: make(chan struct{}, 1<<16)} }

func (r *recorder) OnEvent(l *Loop, t Token, ev epoll.Events) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.toks = append(r.toks, t)
	r.mu.Unlock()
	if r.fn != nil {
		r.fn(l, t, ev)
	}
	select {
	case r.ch <- struct{}{}:
	default:
	}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.evs)
}

// waitFor waits for the recorder's next event, failing after a generous
// bound.
func (r *recorder) waitFor(t testing.TB) {
	t.Helper()
	select {
	case <-r.ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
}

// eventually polls cond for up to 10 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
