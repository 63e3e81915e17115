package epoll

import (
	"testing"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"github.com/eventpoll/eventpoll/internal/uring"
)

// newInstance returns an instance closed when the test ends.
func newInstance(t testing.TB, opts ...Option) *Instance {
	t.Helper()
	ep, err := New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { ep.Close() })
	return ep
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
