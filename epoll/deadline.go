package epoll

import (
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
// before now polls, like a zero timeout.
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
// and timer are kept for reuse; they cost two descriptors per concurrent
// Realtime waiter.
//
// Errors: those of Wait; EINVAL (an argument error) for a clock other than
// Monotonic and Realtime.
func (ep *Instance) WaitDeadline(evs []Event, deadline time.Time, c Clock) (int, error) {
	switch c {
	case Monotonic:
		d := time.Until(deadline)
		if d < 0 {
			d = 0
		}
		return ep.wait("epoll_pwait2", evs, d, nil)
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
	if !deadline.Round(0).After(time.Now().Round(0)) {
		return ep.wait(call, evs, 0, nil)
	}
	if err := ep.incref(call); err != nil {
		return 0, err
	}
	defer ep.decref()
	n, err := ep.waitRealtimeRef(call, evs, deadline)
	if err == nil && ep.isClosed() {
		// As in wait: the wake registration may be among the events.
		n, err = 0, closedError(call)
	}
	return n, err
}

// waitRealtimeRef runs with a reference on ep.fd held.
func (ep *Instance) waitRealtimeRef(call string, evs []Event, deadline time.Time) (int, error) {
	if err := ep.ensureWake(call); err != nil {
		return 0, err
	}
	w, err := ep.getRT()
	if err != nil {
		return 0, err
	}
	defer ep.putRT(w)
	abs := unix.NsecToTimespec(deadline.UnixNano())
	for {
		spec := unix.ItimerSpec{Value: abs}
		if err := unix.TimerfdSettime(w.timer, unix.TFD_TIMER_ABSTIME|unix.TFD_TIMER_CANCEL_ON_SET, &spec, nil); err != nil {
			if err == unix.ECANCELED {
				continue // the clock was stepped as we armed it; arm again
			}
			return 0, callError("timerfd_settime", w.timer, err)
		}
		var got [2]Event
		n, err := ep.waitFd(w.outer, got[:], -1, nil)
		if err != nil {
			return 0, err
		}
		if ep.isClosed() {
			return 0, closedError(call)
		}
		for _, g := range got[:n] {
			if g.Data() == rtInstance {
				m, err := ep.waitFd(ep.fd, evs, 0, nil)
				if err != nil || m > 0 {
					return m, err
				}
				continue // another waiter took the events first
			}
			var buf [8]byte
			unix.Read(w.timer, buf[:]) // expired, or ECANCELED after a clock step
			if !deadline.Round(0).After(time.Now().Round(0)) {
				return ep.waitFd(ep.fd, evs, 0, nil)
			}
		}
	}
}

const (
	rtInstance = 0
	rtTimer    = 1
)

// rtWaiter is a private epoll instance watching the Instance (nested) and a
// CLOCK_REALTIME timerfd, for one Realtime WaitDeadline at a time.
type rtWaiter struct {
	outer, timer int
}

func (ep *Instance) getRT() (*rtWaiter, error) {
	ep.mu.Lock()
	if k := len(ep.rt); k > 0 {
		w := ep.rt[k-1]
		ep.rt = ep.rt[:k-1]
		ep.mu.Unlock()
		return w, nil
	}
	ep.mu.Unlock()
	w := &rtWaiter{outer: -1, timer: -1}
	var err error
	if w.outer, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, callError("epoll_create1", -1, err)
	}
	if w.timer, err = unix.TimerfdCreate(unix.CLOCK_REALTIME, unix.TFD_CLOEXEC|unix.TFD_NONBLOCK); err != nil {
		w.close()
		return nil, callError("timerfd_create", -1, err)
	}
	if errno := ctlRaw(w.outer, unix.EPOLL_CTL_ADD, ep.fd, In, rtInstance); errno != 0 {
		w.close()
		return nil, callError("epoll_ctl(ADD) nested instance", ep.fd, errno)
	}
	if errno := ctlRaw(w.outer, unix.EPOLL_CTL_ADD, w.timer, In, rtTimer); errno != 0 {
		w.close()
		return nil, callError("epoll_ctl(ADD) timerfd", w.timer, errno)
	}
	return w, nil
}

func (ep *Instance) putRT(w *rtWaiter) {
	ep.mu.Lock()
	ep.rt = append(ep.rt, w)
	ep.mu.Unlock()
}

func (w *rtWaiter) close() {
	if w.outer >= 0 {
		unix.Close(w.outer)
	}
	if w.timer >= 0 {
		unix.Close(w.timer)
	}
}
