package uring

import (
	"errors"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// newTestRing creates a ring, skipping the test where the kernel refuses
// io_uring, and closes it at cleanup. It also checks that the test leaks no
// file descriptor.
func newTestRing(t testing.TB, entries int, opts Options) *Ring {
	t.Helper()
	fdtest.Check(t)
	r, err := New(entries, opts)
	if errors.Is(err, ErrUnsupported) {
		t.Skipf("io_uring unusable here: %v", err)
	}
	if err != nil {
		t.Fatalf("New(%d, %+v): %v", entries, opts, err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

func newEpoll(t testing.TB) int {
	t.Helper()
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatalf("epoll_create1: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// waitOne waits up to a generous bound for one CQE.
func waitOne(t testing.TB, r *Ring) CQE {
	t.Helper()
	c, err := r.WaitCQE(5 * time.Second)
	if err != nil {
		t.Fatalf("WaitCQE: %v", err)
	}
	return c
}

func mustSQE(t testing.TB, r *Ring) *SQE {
	t.Helper()
	s := r.GetSQE()
	if s == nil {
		t.Fatal("GetSQE: SQ full")
	}
	return s
}
