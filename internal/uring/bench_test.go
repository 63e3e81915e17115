package uring

import (
	"errors"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

func TestHotPathsAllocateNothing(t *testing.T) {
	r := newTestRing(t, 8, Options{})
	var cqes [4]CQE
	roundTrip := testing.AllocsPerRun(200, func() {
		s := r.GetSQE()
		s.PrepNop()
		s.UserData = 1
		if _, err := r.SubmitAndWait(1); err != nil {
			t.Fatal(err)
		}
		if n, _ := r.Reap(cqes[:]); n != 1 {
			t.Fatalf("Reap = %d", n)
		}
	})
	timedOut := testing.AllocsPerRun(20, func() {
		if _, err := r.SubmitAndWaitTimeout(1, time.Microsecond); !errors.Is(err, unix.ETIME) {
			t.Fatal(err)
		}
	})
	if roundTrip != 0 || timedOut != 0 {
		t.Fatalf("allocations per call: NOP round trip %v, timed-out wait %v; want 0", roundTrip, timedOut)
	}
}

// BenchmarkNopRoundTrip measures one SQE through the kernel and back: one
// io_uring_enter with GETEVENTS, then a system-call-free reap.
func BenchmarkNopRoundTrip(b *testing.B) {
	r := newTestRing(b, 8, Options{})
	var cqes [1]CQE
	b.ReportAllocs()
	for b.Loop() {
		r.GetSQE().PrepNop()
		if _, err := r.SubmitAndWait(1); err != nil {
			b.Fatal(err)
		}
		if n, _ := r.Reap(cqes[:]); n != 1 {
			b.Fatal("no CQE")
		}
	}
}

const batch = 64

func batchFixture(b *testing.B) (epfd int, fds []int) {
	epfd = newEpoll(b)
	for range batch {
		fd := fdtest.Eventfd(b)
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN}); err != nil {
			b.Fatal(err)
		}
		fds = append(fds, fd)
	}
	return epfd, fds
}

// BenchmarkEpollCtlBatch64 changes the interest of 64 registered fds with one
// io_uring_enter (EPOLL_CTL_MOD), linked (a failure stops the batch: each
// link is issued from task work after the previous completes) and unlinked
// (all issued in one pass). BenchmarkEpollCtlSyscall64 is the same work as
// 64 epoll_ctl calls.
func BenchmarkEpollCtlBatch64(b *testing.B) {
	b.Run("linked", func(b *testing.B) { benchBatch(b, FlagLink) })
	b.Run("unlinked", func(b *testing.B) { benchBatch(b, 0) })
}

func benchBatch(b *testing.B, link uint8) {
	r := newTestRing(b, batch, Options{CQEntries: 2 * batch})
	epfd, fds := batchFixture(b)
	evs := r.EpollEvents()
	cqes := make([]CQE, batch)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		mask := uint32(unix.EPOLLIN)
		if i&1 != 0 {
			mask |= unix.EPOLLOUT
		}
		i++
		for j, fd := range fds {
			evs[j] = unix.EpollEvent{Events: mask, Fd: int32(fd)}
			s := r.GetSQE()
			s.PrepEpollCtl(epfd, unix.EPOLL_CTL_MOD, fd, &evs[j])
			s.UserData = uint64(j)
			if j < batch-1 {
				s.Flags = link
			}
		}
		if _, err := r.SubmitAndWait(batch); err != nil {
			b.Fatal(err)
		}
		if n, _ := r.Reap(cqes); n != batch {
			b.Fatalf("Reap = %d", n)
		}
		for _, c := range cqes {
			if c.Res != 0 {
				b.Fatalf("MOD %d: %v", c.UserData, c.Err())
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/op-ctl")
}

func BenchmarkEpollCtlSyscall64(b *testing.B) {
	fdtest.Check(b)
	epfd, fds := batchFixture(b)
	b.ReportAllocs()
	i := 0
	var ev unix.EpollEvent
	for b.Loop() {
		mask := uint32(unix.EPOLLIN)
		if i&1 != 0 {
			mask |= unix.EPOLLOUT
		}
		i++
		for _, fd := range fds {
			ev = unix.EpollEvent{Events: mask, Fd: int32(fd)}
			if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_MOD, fd, &ev); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/op-ctl")
}
