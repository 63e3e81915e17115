package epoll

import (
	"math"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Clock names a clock of the kernel (a clockid_t): the clock a WaitDeadline
// deadline is measured on (the clockid argument of the proposed
// epoll_pwait1), and the clock a source.Timer counts on. It is the one
// Clock type of eventpoll; package source uses it under the same names.
type Clock int

const (
	// Monotonic (CLOCK_MONOTONIC) measures elapsed time and is never
	// stepped: the deadline is a point a fixed interval from now. It does
	// not count time while the system is suspended.
	Monotonic Clock = unix.CLOCK_MONOTONIC
	// Realtime (CLOCK_REALTIME) is the wall clock: the deadline is a
	// calendar instant, and if the system clock is stepped during the wait
	// the wait still ends when the wall clock reaches it.
	Realtime Clock = unix.CLOCK_REALTIME
	// Boottime (CLOCK_BOOTTIME, Linux 2.6.39) is Monotonic plus the time
	// spent suspended. Timers accept it; WaitDeadline does not (a
	// time.Time carries no boottime reading).
	Boottime Clock = unix.CLOCK_BOOTTIME
)

// String returns "Monotonic", "Realtime", "Boottime", or "Clock(n)".
func (c Clock) String() string {
	switch c {
	case Monotonic:
		return "Monotonic"
	case Realtime:
		return "Realtime"
	case Boottime:
		return "Boottime"
	}
	return "Clock(" + strconv.Itoa(int(c)) + ")"
}

// Now reads the clock with clock_gettime(2), as the time since the
// clock's epoch.
//
// Errors: EINVAL for a clock other than Monotonic, Realtime and Boottime.
func (c Clock) Now() (time.Duration, error) {
	switch c {
	case Monotonic, Realtime, Boottime:
	default:
		return 0, invalid("clock_gettime", -1, "unknown clock "+c.String())
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(int32(c), &ts); err != nil {
		return 0, callError("clock_gettime "+c.String(), -1, err)
	}
	return time.Duration(ts.Nano()), nil
}

// WaitDeadline is Wait with an absolute deadline on the given clock, as the
// proposed epoll_pwait1 took a timespec and a clock id. A deadline at or
// before now polls, like a zero timeout; a deadline too far ahead for the
// kernel's clocks (past the year 2262, where nanoseconds since 1970 leave
// the int64 range) waits as long as they can count, which is forever in
// practice. Both hold for the zero Time, times before 1970 and the year
// 9999 alike, on either clock.
//
// With Monotonic the deadline is converted to the interval from now on the
// monotonic clock (time.Until: a time.Time from time.Now carries a monotonic
// reading) and waited as by Wait, to the nanosecond.
//
// With Realtime the deadline is a wall-clock instant. The kernel has no
// absolute-time epoll wait, so the wait is made on a private epoll instance
// that holds this instance and a CLOCK_REALTIME timerfd armed with
// TFD_TIMER_ABSTIME|TFD_TIMER_CANCEL_ON_SET at the deadline: the kernel
// fires it when the wall clock reaches the deadline, however the clock is
// stepped in between, and a step makes it report ECANCELED, on which the
// deadline is checked again and the timer re-armed. The private instance
// and timer (two descriptors per concurrent Realtime waiter) are kept for
// reuse; this instance is in the private one only during the wait, so it
// adds no nesting level between waits.
//
// When the private instance cannot be had, because the descriptor table is
// full (EMFILE, ENFILE) or this instance heads four levels of nested
// instances (the private one would be a fifth: ELOOP), the wait does not
// fail: it waits on this instance alone, in monotonic slices of at most
// 50 ms, reading the wall clock after each. It still never returns before
// the deadline; after a step of the wall clock past the deadline it returns
// at most one slice (50 ms) late.
//
// Errors: those of Wait; EINVAL (an argument error) for a clock other than
// Monotonic and Realtime (Boottime included: a time.Time carries no boottime
// reading).
func (ep *Instance) WaitDeadline(evs []Event, deadline time.Time, c Clock) (int, error) {
	switch c {
	case Monotonic:
		// time.Until saturates at the largest Duration, 292 years.
		return ep.wait("epoll_pwait2", evs, max(time.Until(deadline), 0), nil)
	case Realtime:
		return ep.waitRealtime(evs, deadline)
	}
	return 0, invalid("WaitDeadline", -1, "unknown clock "+c.String())
}

func (ep *Instance) waitRealtime(evs []Event, deadline time.Time) (int, error) {
	const call = "WaitDeadline(Realtime)"
	if len(evs) == 0 {
		return 0, invalid(call, -1, "empty event slice")
	}
	deadline = deadline.Round(0) // the wall clock reading alone
	if !deadline.After(time.Now().Round(0)) {
		return ep.wait(call, evs, 0, nil)
	}
	if len(evs) > maxEvents {
		evs = evs[:maxEvents]
	}
	if err := ep.acquire(call); err != nil {
		return 0, err
	}
	n, err := 0, ErrClosed
	if ep.enterBlocking() {
		n, err = ep.waitWall(evs, deadline)
		ep.leaveBlocking()
	}
	if err == ErrClosed || err == nil && ep.isClosed() {
		// As in wait: the wake registration may be among the events.
		n, err = 0, closedError(call)
	}
	ep.fd.Release()
	return n, err
}

// waitWall waits until the wall clock reaches deadline or events come, on
// a private instance with a timerfd when it can have one, else in slices.
// The caller holds a reference and is counted among the blocked waiters.
func (ep *Instance) waitWall(evs []Event, deadline time.Time) (int, error) {
	w := ep.getRT()
	if w == nil {
		return ep.waitWallSlices(evs, deadline)
	}
	defer ep.putRT(w)
	spec := unix.ItimerSpec{Value: wallTimespec(deadline)}
	for {
		err := unix.TimerfdSettime(w.timer, unix.TFD_TIMER_ABSTIME|unix.TFD_TIMER_CANCEL_ON_SET, &spec, nil)
		if err == unix.ECANCELED {
			continue // the clock was stepped as we armed it; arm again
		}
		if err != nil {
			return ep.waitWallSlices(evs, deadline)
		}
		var got [2]Event
		n, err := ep.waitFd(w.outer, got[:], -1, nil)
		if err != nil {
			return 0, err
		}
		for _, g := range got[:n] {
			if g.Data() == rtInstance {
				m, err := ep.waitFd(ep.fd.Sysfd(), evs, 0, nil)
				if err != nil || m > 0 {
					return m, err
				}
				continue // another waiter took the events first
			}
			var buf [8]byte
			unix.Read(w.timer, buf[:]) // expired, or ECANCELED after a clock step
			if !deadline.After(time.Now().Round(0)) {
				return ep.waitFd(ep.fd.Sysfd(), evs, 0, nil)
			}
		}
	}
}

// wallSlice bounds each wait of the descriptor-free Realtime wait: a step
// of the wall clock is noticed when the slice it falls in ends.
const wallSlice = 50 * time.Millisecond

// waitWallSlices waits until the wall clock reaches deadline on this
// instance alone, in monotonic slices, reading the wall clock after each,
// so it needs no descriptor and no nesting level.
func (ep *Instance) waitWallSlices(evs []Event, deadline time.Time) (int, error) {
	for {
		d := deadline.Sub(time.Now().Round(0))
		if d <= 0 {
			return ep.waitFd(ep.fd.Sysfd(), evs, 0, nil)
		}
		n, err := ep.waitFd(ep.fd.Sysfd(), evs, min(d, wallSlice), nil)
		if err != nil || n > 0 {
			return n, err
		}
	}
}

// maxTimerSec is the largest second count the kernel's clocks reach
// (KTIME_SEC_MAX: nanoseconds in an int64); the kernel treats any later
// expiry as that one, which never comes.
const maxTimerSec = math.MaxInt64 / int64(time.Second)

// wallTimespec is deadline, a time after now, as an absolute
// CLOCK_REALTIME timespec. Seconds and nanoseconds are taken apart, not
// through UnixNano, which wraps past the year 2262.
func wallTimespec(deadline time.Time) unix.Timespec {
	return unix.Timespec{Sec: min(deadline.Unix(), maxTimerSec), Nsec: int64(deadline.Nanosecond())}
}

const (
	rtInstance = 0
	rtTimer    = 1
)

// rtWaiter is a private epoll instance watching a CLOCK_REALTIME timerfd,
// and the Instance while one Realtime WaitDeadline uses it.
type rtWaiter struct {
	outer, timer int
}

// getRT returns an idle private instance holding this instance, or nil
// when none can be made or this instance cannot be nested in it. The
// caller holds a reference.
func (ep *Instance) getRT() *rtWaiter {
	ep.mu.Lock()
	var w *rtWaiter
	if k := len(ep.rt); k > 0 {
		w = ep.rt[k-1]
		ep.rt = ep.rt[:k-1]
	}
	ep.mu.Unlock()
	if w == nil {
		if w = newRTWaiter(); w == nil {
			return nil
		}
	}
	if ctlRaw(w.outer, unix.EPOLL_CTL_ADD, ep.fd.Sysfd(), In, rtInstance) != 0 {
		ep.idleRT(w)
		return nil
	}
	return w
}

// putRT takes this instance out of w, so that between waits it is nested
// nowhere it did not ask to be, and keeps w for the next wait.
func (ep *Instance) putRT(w *rtWaiter) {
	if ctlRaw(w.outer, unix.EPOLL_CTL_DEL, ep.fd.Sysfd(), 0, 0) != 0 {
		w.close()
		return
	}
	ep.idleRT(w)
}

func (ep *Instance) idleRT(w *rtWaiter) {
	ep.mu.Lock()
	ep.rt = append(ep.rt, w)
	ep.mu.Unlock()
}

func newRTWaiter() *rtWaiter {
	w := &rtWaiter{outer: -1, timer: -1}
	var err error
	if w.outer, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil
	}
	if w.timer, err = unix.TimerfdCreate(unix.CLOCK_REALTIME, unix.TFD_CLOEXEC|unix.TFD_NONBLOCK); err != nil {
		w.close()
		return nil
	}
	if ctlRaw(w.outer, unix.EPOLL_CTL_ADD, w.timer, In, rtTimer) != 0 {
		w.close()
		return nil
	}
	return w
}

func (w *rtWaiter) close() {
	if w.outer >= 0 {
		unix.Close(w.outer)
	}
	if w.timer >= 0 {
		unix.Close(w.timer)
	}
}
