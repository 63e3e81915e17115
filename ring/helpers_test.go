package ring

import (
	"errors"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/fdtest"
)

// engines lists every engine; forEngine runs a subtest on each.
var engines = []Engine{EngineMultishot, EngineEpollWait}

func forEngine(t *testing.T, f func(t *testing.T, e Engine)) {
	for _, e := range engines {
		t.Run(e.String(), func(t *testing.T) { f(t, e) })
	}
}

// newTestRing creates a ring, skipping the test with New's reason where
// io_uring (or the engine's opcode) is unavailable, closes it at cleanup and
// checks that the test leaked no file descriptor.
func newTestRing(t testing.TB, maxItems int, opts ...Option) *Ring {
	t.Helper()
	fdtest.Check(t)
	return openRing(t, maxItems, opts...)
}

// openRing is newTestRing without the descriptor check, for tests that
// hold several rings at once: each ring's duplicates would be descriptors
// opened after the others' checks began. Such a test calls fdtest.Check
// itself, first.
func openRing(t testing.TB, maxItems int, opts ...Option) *Ring {
	t.Helper()
	r, err := New(maxItems, opts...)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("ring unavailable here, epoll.Instance is the fallback: %v", err)
	}
	if err != nil {
		t.Fatalf("New(%d): %v", maxItems, err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// one is an eventfd increment, for writers that must not fail the test
// from another goroutine.
var one = []byte{1, 0, 0, 0, 0, 0, 0, 0}

// waitN waits until it has collected at least n events or the generous
// deadline passes, returning what it collected.
func waitN(t testing.TB, r *Ring, n int, within time.Duration) []epoll.Event {
	t.Helper()
	var got []epoll.Event
	evs := make([]epoll.Event, 64)
	deadline := time.Now().Add(within)
	for len(got) < n {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		k, err := r.Wait(evs, left)
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		got = append(got, evs[:k]...)
	}
	return got
}
