package uring

import (
	"errors"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// epollCtl queues one EPOLL_CTL with its event in scratch slot i.
func epollCtl(t testing.TB, r *Ring, i, epfd, op, fd int, events uint32, flags uint8) {
	t.Helper()
	ev := &r.EpollEvents()[i]
	*ev = unix.EpollEvent{Events: events, Fd: int32(fd)}
	s := mustSQE(t, r)
	s.PrepEpollCtl(epfd, op, fd, ev)
	s.UserData = uint64(i)
	s.Flags |= flags
}

// reapAll collects n CQEs indexed by user_data.
func reapAll(t testing.TB, r *Ring, n int) map[uint64]CQE {
	t.Helper()
	got := make(map[uint64]CQE, n)
	for len(got) < n {
		c := waitOne(t, r)
		if _, dup := got[c.UserData]; dup {
			t.Fatalf("second CQE for user_data %d", c.UserData)
		}
		got[c.UserData] = c
	}
	return got
}

func TestEpollCtlAddsEventfdToRealEpoll(t *testing.T) {
	r := newTestRing(t, 4, Options{})
	epfd, efd := newEpoll(t), fdtest.Eventfd(t)
	epollCtl(t, r, 0, epfd, unix.EPOLL_CTL_ADD, efd, unix.EPOLLIN, 0)
	if c := waitOne(t, r); c.Res != 0 {
		t.Fatalf("EPOLL_CTL_ADD via io_uring: %v", c.Err())
	}
	fdtest.Signal(t, efd)
	evs := make([]unix.EpollEvent, 4)
	n, err := unix.EpollWait(epfd, evs, 1000)
	if err != nil || n != 1 || evs[0].Fd != int32(efd) || evs[0].Events&unix.EPOLLIN == 0 {
		t.Fatalf("epoll_wait = %d, %v, %+v; want the eventfd readable", n, err, evs[0])
	}
	// And the kernel agrees the fd is registered: a plain ADD now collides.
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, &unix.EpollEvent{}); !errors.Is(err, unix.EEXIST) {
		t.Fatalf("plain epoll_ctl ADD after io_uring ADD = %v, want EEXIST", err)
	}
}

func TestLinkedBatchStopsAtFirstFailure(t *testing.T) {
	r := newTestRing(t, 4, Options{})
	epfd, a, b := newEpoll(t), fdtest.Eventfd(t), fdtest.Eventfd(t)
	epollCtl(t, r, 0, epfd, unix.EPOLL_CTL_ADD, a, unix.EPOLLIN, FlagLink)
	epollCtl(t, r, 1, epfd, unix.EPOLL_CTL_ADD, a, unix.EPOLLIN, FlagLink) // EEXIST
	epollCtl(t, r, 2, epfd, unix.EPOLL_CTL_ADD, b, unix.EPOLLIN, 0)        // never runs
	got := reapAll(t, r, 3)
	if err := got[0].Err(); err != nil {
		t.Errorf("first ADD: %v, want success", err)
	}
	if err := got[1].Err(); !errors.Is(err, unix.EEXIST) {
		t.Errorf("duplicate ADD: %v, want EEXIST", err)
	}
	if err := got[2].Err(); !errors.Is(err, unix.ECANCELED) {
		t.Errorf("ADD after the failure: %v, want ECANCELED", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_DEL, b, nil); !errors.Is(err, unix.ENOENT) {
		t.Errorf("DEL of the cancelled fd = %v, want ENOENT: the cancelled ADD ran", err)
	}
}

func TestUnlinkedBatchContinuesAfterFailure(t *testing.T) {
	r := newTestRing(t, 4, Options{})
	epfd, a, b := newEpoll(t), fdtest.Eventfd(t), fdtest.Eventfd(t)
	epollCtl(t, r, 0, epfd, unix.EPOLL_CTL_ADD, a, unix.EPOLLIN, 0)
	epollCtl(t, r, 1, epfd, unix.EPOLL_CTL_ADD, a, unix.EPOLLIN, 0)
	epollCtl(t, r, 2, epfd, unix.EPOLL_CTL_ADD, b, unix.EPOLLIN, 0)
	got := reapAll(t, r, 3)
	if got[0].Err() != nil || !errors.Is(got[1].Err(), unix.EEXIST) || got[2].Err() != nil {
		t.Fatalf("results %v, want ok, EEXIST, ok", got)
	}
}

func TestMultishotPollPostsACQEPerWakeupUntilRemoved(t *testing.T) {
	r := newTestRing(t, 4, Options{})
	efd := fdtest.Eventfd(t)
	const poll, remove = 1, 2
	s := mustSQE(t, r)
	s.PrepPollMultishot(efd, unix.POLLIN)
	s.UserData = poll
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		fdtest.Signal(t, efd)
		c := waitOne(t, r)
		if c.UserData != poll || c.Res&unix.POLLIN == 0 || !c.More() {
			t.Fatalf("wake-up %d: CQE %+v, want POLLIN with IORING_CQE_F_MORE", i, c)
		}
	}
	s = mustSQE(t, r)
	s.PrepPollRemove(poll)
	s.UserData = remove
	got := reapAll(t, r, 2)
	if got[remove].Res != 0 {
		t.Errorf("POLL_REMOVE: %v", got[remove].Err())
	}
	if last := got[poll]; !errors.Is(last.Err(), unix.ECANCELED) || last.More() {
		t.Errorf("final poll CQE %+v, want -ECANCELED without F_MORE", last)
	}
	fdtest.Signal(t, efd)
	if c, err := r.WaitCQE(20 * time.Millisecond); !errors.Is(err, unix.ETIME) {
		t.Errorf("CQE %+v after POLL_REMOVE; the poll should be gone", c)
	}
}

func TestPollUpdateReplacesUserData(t *testing.T) {
	r := newTestRing(t, 4, Options{})
	efd := fdtest.Eventfd(t)
	s := mustSQE(t, r)
	s.PrepPollMultishot(efd, unix.POLLIN)
	s.UserData = 1
	s = mustSQE(t, r)
	s.PrepPollUpdate(1, 5, 0, PollUpdateUserData|PollAddMulti)
	s.UserData = 2
	if c := waitOne(t, r); c.UserData != 2 || c.Res != 0 {
		t.Fatalf("poll update CQE %+v, want user_data 2 res 0", c)
	}
	fdtest.Signal(t, efd)
	if c := waitOne(t, r); c.UserData != 5 || c.Res&unix.POLLIN == 0 {
		t.Fatalf("CQE after update %+v, want the new user_data 5", c)
	}
}

func TestEpollWaitOpCompletesWhenEventsArrive(t *testing.T) {
	r := newTestRing(t, 4, Options{EpollEvents: 8})
	if !r.OpSupported(OpEpollWait) {
		t.Skip("kernel lacks IORING_OP_EPOLL_WAIT (Linux 6.15)")
	}
	epfd, efd := newEpoll(t), fdtest.Eventfd(t)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd,
		&unix.EpollEvent{Events: unix.EPOLLIN, Fd: 77}); err != nil {
		t.Fatal(err)
	}
	evs := r.EpollEvents()[:4]
	s := mustSQE(t, r)
	s.PrepEpollWait(epfd, evs)
	s.UserData = 3
	// Nothing is ready: the request must park, not complete with 0.
	if c, err := r.WaitCQE(20 * time.Millisecond); !errors.Is(err, unix.ETIME) {
		t.Fatalf("EPOLL_WAIT completed with nothing ready: %+v, %v", c, err)
	}
	fdtest.Signal(t, efd)
	c := waitOne(t, r)
	if c.UserData != 3 || c.Res != 1 {
		t.Fatalf("EPOLL_WAIT CQE %+v, want one event", c)
	}
	if evs[0].Fd != 77 || evs[0].Events&unix.EPOLLIN == 0 {
		t.Fatalf("event %+v, want data 77 with EPOLLIN", evs[0])
	}
}
