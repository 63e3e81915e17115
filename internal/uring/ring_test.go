package uring

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

func TestNewRoundsSizesAndCloseIsIdempotent(t *testing.T) {
	r := newTestRing(t, 5, Options{CQEntries: 20, EpollEvents: 3})
	if got := r.SQEntries(); got != 8 {
		t.Errorf("SQEntries = %d, want 8 (5 rounded up)", got)
	}
	if got := r.CQEntries(); got != 32 {
		t.Errorf("CQEntries = %d, want 32 (20 rounded up)", got)
	}
	if r.Flags()&SetupCQSize == 0 {
		t.Errorf("Flags = %#x, want SetupCQSize", r.Flags())
	}
	if got := len(r.EpollEvents()); got != 3 {
		t.Errorf("len(EpollEvents) = %d, want 3", got)
	}
	if got := len(r.Timespecs()); got != 8 {
		t.Errorf("len(Timespecs) = %d, want 8", got)
	}
	if r.Features()&FeatNoDrop == 0 {
		t.Errorf("Features = %#x, want FeatNoDrop", r.Features())
	}
	if flags, err := unix.FcntlInt(uintptr(r.Fd()), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("ring fd flags = %#x, %v; want FD_CLOEXEC", flags, err)
	}
	if !r.OpSupported(OpNop) || !r.OpSupported(OpEpollCtl) {
		t.Errorf("probe: NOP %v, EPOLL_CTL %v; want both", r.OpSupported(OpNop), r.OpSupported(OpEpollCtl))
	}

	fdtest.CloseTwice(t, r)
	if s := r.GetSQE(); s != nil {
		t.Error("GetSQE after Close returned an entry")
	}
	if _, err := r.Submit(); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close: %v, want ErrClosed", err)
	}
	if _, err := r.Reap(make([]CQE, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Reap after Close: %v, want ErrClosed", err)
	}
	if _, err := r.WaitCQE(0); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitCQE after Close: %v, want ErrClosed", err)
	}
	if r.Fd() != -1 || r.EpollEvents() != nil || r.OpSupported(OpNop) {
		t.Error("closed ring still exposes its fd, scratch or probe")
	}
}

func TestNopRoundTripReturnsUserData(t *testing.T) {
	r := newTestRing(t, 4, Options{})
	for i := range 3 {
		s := mustSQE(t, r)
		s.PrepNop()
		s.UserData = uint64(100 + i)
	}
	if n, err := r.SubmitAndWait(3); err != nil || n != 3 {
		t.Fatalf("SubmitAndWait(3) = %d, %v; want 3, nil", n, err)
	}
	var cqes [8]CQE
	n, err := r.Reap(cqes[:])
	if err != nil || n != 3 {
		t.Fatalf("Reap = %d, %v; want 3, nil", n, err)
	}
	for i, c := range cqes[:n] {
		if c.UserData != uint64(100+i) || c.Res != 0 || c.Err() != nil {
			t.Errorf("cqe %d = %+v, want user_data %d res 0 in submission order", i, c, 100+i)
		}
	}
	if r.Ready() != 0 {
		t.Errorf("Ready after Reap = %d, want 0", r.Ready())
	}
}

func TestGetSQEReturnsNilWhenQueueFull(t *testing.T) {
	r := newTestRing(t, 2, Options{})
	mustSQE(t, r).PrepNop()
	mustSQE(t, r).PrepNop()
	if r.GetSQE() != nil || r.SQSpace() != 0 {
		t.Fatal("GetSQE handed out more entries than the SQ holds")
	}
	if _, err := r.SubmitAndWait(2); err != nil {
		t.Fatal(err)
	}
	if r.SQSpace() != 2 {
		t.Fatalf("SQSpace after Submit = %d, want 2", r.SQSpace())
	}
}

func TestNewRejectsBadArgumentsByName(t *testing.T) {
	cases := []struct {
		entries int
		opts    Options
		names   string
	}{
		{0, Options{}, "entries"},
		{-1, Options{}, "entries"},
		{MaxEntries + 1, Options{}, "entries"},
		{8, Options{CQEntries: 4}, "CQEntries"},
		{8, Options{CQEntries: MaxCQEntries + 1}, "CQEntries"},
		{8, Options{EpollEvents: -1}, "EpollEvents"},
		{8, Options{EpollEvents: MaxEpollEvents + 1}, "EpollEvents"},
		{8, Options{DeferTaskrun: true}, "SingleIssuer"},
	}
	for _, c := range cases {
		r, err := New(c.entries, c.opts)
		if err == nil {
			r.Close()
			t.Errorf("New(%d, %+v) succeeded", c.entries, c.opts)
			continue
		}
		if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), c.names) ||
			!strings.HasPrefix(err.Error(), "uring: New: ") {
			t.Errorf("New(%d, %+v) = %q; want EINVAL naming %s", c.entries, c.opts, err, c.names)
		}
	}
}

func TestWaitTimeoutNeverReturnsEarly(t *testing.T) {
	r := newTestRing(t, 4, Options{})
	const ceiling = 500 * time.Millisecond // a loaded 2-core VM, not a latency claim
	for _, d := range []time.Duration{100 * time.Microsecond, time.Millisecond, 20 * time.Millisecond} {
		for range 5 {
			start := time.Now()
			_, err := r.WaitCQE(d)
			took := time.Since(start)
			if !errors.Is(err, unix.ETIME) {
				t.Fatalf("WaitCQE(%v) on an idle ring = %v, want ETIME", d, err)
			}
			if took < d {
				t.Errorf("WaitCQE(%v) returned after %v: early", d, took)
			}
			if took > d+ceiling {
				t.Errorf("WaitCQE(%v) returned after %v: beyond %v", d, took, d+ceiling)
			}
		}
	}
	if msg := errTimeout.Error(); msg != "uring: io_uring_enter: timer expired" {
		t.Errorf("timeout error = %q", msg)
	}
}

func TestZeroTimeoutPollsWithoutSleeping(t *testing.T) {
	r := newTestRing(t, 4, Options{})
	start := time.Now()
	if _, err := r.WaitCQE(0); !errors.Is(err, unix.ETIME) {
		t.Fatalf("WaitCQE(0) on an idle ring = %v, want ETIME", err)
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("WaitCQE(0) took %v", took)
	}
	mustSQE(t, r).PrepNop()
	c, err := r.WaitCQE(0)
	if err != nil || c.Res != 0 {
		t.Fatalf("WaitCQE(0) with a NOP queued = %+v, %v; want its CQE", c, err)
	}
}

func TestTimeoutOpCompletesWithETime(t *testing.T) {
	r := newTestRing(t, 4, Options{})
	ts := &r.Timespecs()[0]
	*ts = unix.NsecToTimespec(int64(2 * time.Millisecond))
	s := mustSQE(t, r)
	s.PrepTimeout(ts, 0, 0)
	s.UserData = 7
	start := time.Now()
	c := waitOne(t, r)
	if c.UserData != 7 || !errors.Is(c.Err(), unix.ETIME) {
		t.Fatalf("timeout CQE = %+v, want user_data 7 res -ETIME", c)
	}
	if took := time.Since(start); took < 2*time.Millisecond {
		t.Errorf("IORING_OP_TIMEOUT of 2ms completed after %v", took)
	}
}

func TestAsyncCancelEndsAPendingRequest(t *testing.T) {
	r := newTestRing(t, 4, Options{})
	efd := fdtest.Eventfd(t)
	s := mustSQE(t, r)
	s.PrepPollAdd(efd, unix.POLLIN)
	s.UserData = 1
	s = mustSQE(t, r)
	s.PrepAsyncCancel(1, 0)
	s.UserData = 2
	got := map[uint64]int32{}
	for range 2 {
		c := waitOne(t, r)
		got[c.UserData] = c.Res
	}
	if got[1] != -int32(unix.ECANCELED) || got[2] != 0 {
		t.Fatalf("results %v, want poll -ECANCELED and cancel 0", got)
	}
}

// With DEFER_TASKRUN the kernel posts a poll's completion only when the
// issuing thread enters with GETEVENTS: Ready sees nothing, Reap flushes.
func TestDeferTaskrunPostsCompletionsOnlyOnEnter(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := newTestRing(t, 4, Options{SingleIssuer: true, DeferTaskrun: true})
	if r.Flags()&SetupDeferTaskrun == 0 {
		t.Skipf("kernel did not accept DEFER_TASKRUN (flags %#x)", r.Flags())
	}
	efd := fdtest.Eventfd(t)
	s := mustSQE(t, r)
	s.PrepPollAdd(efd, unix.POLLIN)
	s.UserData = 9
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	fdtest.Signal(t, efd)
	time.Sleep(5 * time.Millisecond)
	if n := r.Ready(); n != 0 {
		t.Fatalf("Ready = %d before any io_uring_enter; DEFER_TASKRUN should hold the CQE back", n)
	}
	var c [1]CQE
	if n, err := r.Reap(c[:]); err != nil || n != 1 || c[0].UserData != 9 || c[0].Res&unix.POLLIN == 0 {
		t.Fatalf("Reap = %d, %v, %+v; want the poll CQE", n, err, c[0])
	}
}
