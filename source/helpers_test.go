package source

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// newInstance returns an epoll instance closed when the test ends.
func newInstance(t testing.TB) *epoll.Instance {
	t.Helper()
	return fdtest.New(t, func() (*epoll.Instance, error) { return epoll.New() })
}

// watch registers src for epoll.In with data.
func watch(t testing.TB, ep *epoll.Instance, src Source, data uint64) {
	t.Helper()
	if err := ep.Add(src.Fd(), epoll.In, data); err != nil {
		t.Fatalf("epoll Add fd %d: %v", src.Fd(), err)
	}
}

// waitEvent waits up to timeout for an event and fails unless exactly the
// registration with data is reported readable.
func waitEvent(t testing.TB, ep *epoll.Instance, data uint64, timeout time.Duration) epoll.Event {
	t.Helper()
	evs := make([]epoll.Event, 8)
	n, err := ep.Wait(evs, timeout)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if n == 0 {
		t.Fatalf("no event within %v, want one for data %d", timeout, data)
	}
	if n != 1 || evs[0].Data() != data || evs[0].Events&epoll.In == 0 {
		t.Fatalf("got %d events, first data %d %v; want one IN event for data %d", n, evs[0].Data(), evs[0].Events, data)
	}
	return evs[0]
}

// expectNoEvent fails if any event is ready now.
func expectNoEvent(t testing.TB, ep *epoll.Instance) {
	t.Helper()
	evs := make([]epoll.Event, 8)
	n, err := ep.Wait(evs, 0)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if n != 0 {
		t.Fatalf("%d events ready (first data %d %v), want none", n, evs[0].Data(), evs[0].Events)
	}
}

// wantAgain fails unless err is the "nothing pending" error.
func wantAgain(t testing.TB, what string, err error) {
	t.Helper()
	if !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("%s: got %v, want an error matching EAGAIN", what, err)
	}
}

// isEAGAIN is errors.Is(err, unix.EAGAIN) without the allocation of
// *epoll.Error's Unwrap, for the allocation tests: a type assertion and a
// comparison.
func isEAGAIN(err error) bool {
	e, ok := err.(*epoll.Error)
	return ok && e.Err == unix.EAGAIN
}

// wantCallError fails unless err matches target and its message names call.
func wantCallError(t testing.TB, err, target error, call string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one matching %v naming %q", target, call)
	}
	if !errors.Is(err, target) {
		t.Fatalf("error %q does not match %v", err, target)
	}
	var se *epoll.Error
	if !errors.As(err, &se) || se.Pkg != "source" {
		t.Fatalf("error %q is %T, not an *epoll.Error of package source", err, err)
	}
	if !strings.Contains(err.Error(), call) {
		t.Fatalf("error %q does not name %q", err, call)
	}
}

// fdFlags returns the descriptor's status flags and whether it is
// close-on-exec.
func fdFlags(t testing.TB, fd int) (nonblock, cloexec bool) {
	t.Helper()
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatalf("F_GETFL: %v", err)
	}
	fdfl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatalf("F_GETFD: %v", err)
	}
	return fl&unix.O_NONBLOCK != 0, fdfl&unix.FD_CLOEXEC != 0
}

func epollNew() (*epoll.Instance, error) { return epoll.New() }

// waitOne reports whether an event arrived within timeout.
func waitOne(ep *epoll.Instance, timeout time.Duration) bool {
	evs := make([]epoll.Event, 1)
	n, err := ep.Wait(evs, timeout)
	return err == nil && n > 0
}
