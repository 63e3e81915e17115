package timeout

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/eventpoll/eventpoll/epoll"
	"golang.org/x/sys/unix"
)

// waiters holds what the Go-side mechanisms wait on: an epoll instance
// with nothing registered (so every wait times out), and a timerfd.
type waiters struct {
	ep      *epoll.Instance
	evs     []epoll.Event
	rawEvs  []unix.EpollEvent
	timerfd int
}

func newWaiters() (*waiters, error) {
	ep, err := epoll.New()
	if err != nil {
		return nil, err
	}
	tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC)
	if err != nil {
		ep.Close()
		return nil, fmt.Errorf("timerfd_create: %w", err)
	}
	return &waiters{ep: ep, evs: make([]epoll.Event, 8), rawEvs: make([]unix.EpollEvent, 8), timerfd: tfd}, nil
}

func (w *waiters) close() {
	w.ep.Close()
	unix.Close(w.timerfd)
}

// wait makes one timed wait of d with mech and returns how long it took.
func (w *waiters) wait(mech string, d time.Duration) (time.Duration, error) {
	switch mech {
	case mechEpollWait:
		return w.epollWaitMs(d)
	case mechWait:
		t0 := time.Now()
		_, err := w.ep.Wait(w.evs, d)
		return time.Since(t0), err
	case mechMono:
		t0 := time.Now()
		_, err := w.ep.WaitDeadline(w.evs, t0.Add(d), epoll.Monotonic)
		return time.Since(t0), err
	case mechReal:
		// A Realtime deadline is a wall-clock instant, and the wall clock
		// may be stepped or slewed under the wait (a VM's clock is): the
		// wait is then right to end earlier or later on the monotonic
		// clock. So it is timed on the wall clock, Round(0) dropping the
		// monotonic reading: "early" means before the wall clock reached
		// the deadline, which would be a bug.
		t0 := time.Now().Round(0)
		_, err := w.ep.WaitDeadline(w.evs, t0.Add(d), epoll.Realtime)
		return time.Now().Round(0).Sub(t0), err
	case mechPpoll:
		return w.ppoll(d)
	case mechTimerfd:
		return w.timer(d)
	case mechRaw:
		return w.rawPwait2(d)
	}
	return 0, fmt.Errorf("unknown mechanism %q", mech)
}

// epollWaitMs waits with epoll_wait's millisecond timeout.
func (w *waiters) epollWaitMs(d time.Duration) (time.Duration, error) {
	// The millisecond API: a sub-millisecond wait must round up, or it
	// would return early (or poll, for a timeout of 0).
	ms := int((d + time.Millisecond - 1) / time.Millisecond)
	t0 := time.Now()
	for {
		_, err := unix.EpollWait(w.ep.Fd(), w.rawEvs, ms)
		if err == unix.EINTR {
			continue // restarted with the full timeout: only lengthens
		}
		if err != nil {
			return 0, fmt.Errorf("epoll_wait: %w", err)
		}
		return time.Since(t0), nil
	}
}

// ppoll sleeps in ppoll(2) with no descriptors.
func (w *waiters) ppoll(d time.Duration) (time.Duration, error) {
	return restarted(d, func(ts *unix.Timespec) error {
		if _, err := unix.Ppoll(nil, ts, nil); err != nil {
			return fmt.Errorf("ppoll: %w", err)
		}
		return nil
	})
}

// rawPwait2 calls epoll_pwait2 directly from Go.
func (w *waiters) rawPwait2(d time.Duration) (time.Duration, error) {
	return restarted(d, func(ts *unix.Timespec) error {
		_, _, e := unix.Syscall6(unix.SYS_EPOLL_PWAIT2, uintptr(w.ep.Fd()),
			uintptr(unsafe.Pointer(&w.rawEvs[0])), uintptr(len(w.rawEvs)),
			uintptr(unsafe.Pointer(ts)), 0, 0)
		if e != 0 {
			return fmt.Errorf("epoll_pwait2: %w", e)
		}
		return nil
	})
}

// restarted times a wait of d made by call with a relative timeout,
// restarting it on EINTR with what is left, as a C loop would, and returns
// how long it took.
func restarted(d time.Duration, call func(ts *unix.Timespec) error) (time.Duration, error) {
	t0 := time.Now()
	for {
		left := d - time.Since(t0)
		if left <= 0 {
			return time.Since(t0), nil
		}
		ts := unix.NsecToTimespec(int64(left))
		if err := call(&ts); errors.Is(err, unix.EINTR) {
			continue
		} else if err != nil {
			return 0, err
		}
		return time.Since(t0), nil
	}
}

// timer arms the timerfd and reads it.
func (w *waiters) timer(d time.Duration) (time.Duration, error) {
	its := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	var buf [8]byte
	t0 := time.Now()
	if err := unix.TimerfdSettime(w.timerfd, 0, &its, nil); err != nil {
		return 0, fmt.Errorf("timerfd_settime: %w", err)
	}
	for {
		_, err := unix.Read(w.timerfd, buf[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read timerfd: %w", err)
		}
		return time.Since(t0), nil
	}
}
