package epoll

import (
	"testing"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"github.com/eventpoll/eventpoll/internal/uring"
)

// newInstance returns an instance closed when the test ends.
func newInstance(t testing.TB, opts ...Option) *Instance {
	t.Helper()
	return fdtest.New(t, func() (*Instance, error) { return New(opts...) })
}

// watching returns a new instance watching a fresh eventfd for ev with
// data, and the eventfd; both are closed when the test ends.
func watching(t testing.TB, ev Events, data uint64) (*Instance, int) {
	t.Helper()
	ep, efd := newInstance(t), fdtest.Eventfd(t)
	if err := ep.Add(efd, ev, data); err != nil {
		t.Fatalf("Add: %v", err)
	}
	return ep, efd
}

// eventfds returns n non-blocking eventfds closed when the test ends.
func eventfds(t testing.TB, n int) []int {
	t.Helper()
	fds := make([]int, n)
	for i := range fds {
		fds[i] = fdtest.Eventfd(t)
	}
	return fds
}

// second returns the error of a (count, error) pair.
func second(_ int, err error) error { return err }

// skipNoRing skips a test of the io_uring backend where io_uring is off.
func skipNoRing(t testing.TB, be BatchBackend) {
	t.Helper()
	if be != BatchUring {
		return
	}
	if err := uring.Supported(); err != nil {
		t.Skipf("io_uring backend not testable: %v", err)
	}
	if !uring.OpSupported(uring.OpEpollCtl) {
		t.Skip("io_uring backend not testable: no IORING_OP_EPOLL_CTL (Linux 5.6)")
	}
}

func batchUringOff() bool {
	return uring.Supported() != nil || !uring.OpSupported(uring.OpEpollCtl)
}

// eachBatchBackend runs f on every backend available here.
func eachBatchBackend(t *testing.T, f func(t *testing.T, be BatchBackend)) {
	for _, be := range []BatchBackend{BatchSyscall, BatchUring, BatchAuto} {
		t.Run(be.String(), func(t *testing.T) {
			skipNoRing(t, be)
			f(t, be)
		})
	}
}
