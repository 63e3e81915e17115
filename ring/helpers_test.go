package ring

import (
	"errors"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
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

// newEventfd returns a non-blocking eventfd closed at cleanup.
func newEventfd(t testing.TB) int {
	t.Helper()
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatalf("eventfd: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

var one = []byte{1, 0, 0, 0, 0, 0, 0, 0}

func signal(t testing.TB, fd int) {
	t.Helper()
	if _, err := unix.Write(fd, one); err != nil {
		t.Fatalf("write eventfd %d: %v", fd, err)
	}
}

// drain reads an eventfd's counter to zero; it reports whether there was
// anything to read.
func drain(fd int) bool {
	var b [8]byte
	_, err := unix.Read(fd, b[:])
	return err == nil
}

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
