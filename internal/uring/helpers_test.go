package uring

import (
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// newTestRing creates a ring, skipping the test where the kernel refuses
// io_uring, and closes it at cleanup. It also checks that the test leaks no
// file descriptor.
func newTestRing(t testing.TB, entries int, opts Options) *Ring {
	t.Helper()
	checkFds(t)
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

// checkFds fails the test if the set of open descriptors differs at cleanup
// from what it is now. Registered first, it runs after every other cleanup.
func checkFds(t testing.TB) {
	t.Helper()
	before := openFds(t)
	t.Cleanup(func() {
		if after := openFds(t); !slices.Equal(before, after) {
			t.Errorf("fd leak: /proc/self/fd was %v, now %v", before, after)
		}
	})
}

func openFds(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("read /proc/self/fd: %v", err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	// The descriptor ReadDir itself used is closed again, but may sit at a
	// different number between calls if another was freed meanwhile;
	// compare the set without it by dropping names that no longer resolve.
	out := names[:0]
	for _, n := range names {
		if _, err := os.Readlink("/proc/self/fd/" + n); err == nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func newEventfd(t testing.TB) int {
	t.Helper()
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatalf("eventfd: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
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

func signal(t testing.TB, efd int) {
	t.Helper()
	if _, err := unix.Write(efd, []byte{1, 0, 0, 0, 0, 0, 0, 0}); err != nil {
		t.Fatalf("write eventfd: %v", err)
	}
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
