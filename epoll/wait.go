package epoll

import (
	"math"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxEvents caps the slice handed to the kernel, which refuses more than
// INT_MAX / sizeof(struct epoll_event) with EINVAL.
const maxEvents = math.MaxInt32 / int(unsafe.Sizeof(Event{}))

// noPwait2 remembers that the kernel answered ENOSYS to epoll_pwait2
// (before Linux 5.11), so the probe costs one failed call per process.
var noPwait2 atomic.Bool

// Wait waits for events and stores them in evs, returning how many it
// stored. It fills evs in place, in the kernel's layout: no copy, no
// allocation.
//
// timeout < 0 blocks until an event arrives; timeout == 0 returns at once
// with whatever is ready; timeout > 0 waits at most that long, to the
// nanosecond, with epoll_pwait2 (Linux 5.11, the epoll_pwait1 proposed in
// 2015). On an older kernel, or with WithMillisecondWait, it uses
// epoll_pwait with the timeout rounded up to the next millisecond. Either
// way a timed wait never returns before its timeout has passed; it may end
// later by the timer slack (50 us by default, see prctl PR_SET_TIMERSLACK)
// and by scheduling delay.
//
// A signal interrupting the wait (EINTR; the Go runtime itself sends
// SIGURG to preempt goroutines) restarts it with the time that remains,
// unless the instance is closing: Close ends blocked waits with SIGURG.
//
// A blocking Wait holds an OS thread for its duration, as any blocking
// system call does; a program with many waiting instances should use
// WaitContext, which parks only the goroutine. A Wait that finds events
// already queued returns them without sleeping; the runtime's bookkeeping
// around a call that may block (entersyscall, exitsyscall), which Wait(evs,
// 0) skips, is small beside the system call: BENCHMARKS.md, "epoll: Wait(0)
// and a blocking Wait with events queued", compares the two.
//
// A Wait needs no descriptor but the instance's own (New made the one Close
// wakes it with), so it works when the process's descriptor table is full.
// A timeout of any size is valid: math.MaxInt64 waits about 292 years.
//
// Errors: EINVAL (an argument error) when evs is empty; ErrClosed when the
// instance was closed before or during the wait, ErrNotCreated (matching
// ErrClosed) on the zero Instance; EFAULT if evs is not writable memory
// (cannot happen with a Go slice).
func (ep *Instance) Wait(evs []Event, timeout time.Duration) (int, error) {
	return ep.wait("epoll_pwait2", evs, timeout, nil)
}

// PWait is Wait with a signal mask, the sigmask argument of epoll_pwait and
// epoll_pwait2: the calling thread's signal mask is replaced by sigmask
// atomically for the duration of the wait and restored before the call
// returns. A nil sigmask leaves the mask alone, as in Wait.
//
// In a Go program signals are received by the runtime, on whichever thread
// the kernel picks, and delivered to the program through os/signal; a
// thread's mask only decides whether this thread may be the one interrupted.
// So the useful mask is one that blocks signals, for example SIGURG, the
// runtime's preemption signal, so a long wait is not interrupted and
// restarted many times a second. Unblocking a signal that the runtime keeps
// blocked has no effect on delivery to the program. The mask cannot block
// SIGKILL or SIGSTOP; the kernel ignores them in it. A mask that blocks
// SIGURG also keeps out the signal Close ends blocked waits with: Close
// then ends this wait through the instance's own eventfd, which a parent
// instance watching Fd sees as readiness for a moment (see Close).
//
// Errors are those of Wait.
func (ep *Instance) PWait(evs []Event, timeout time.Duration, sigmask *unix.Sigset_t) (int, error) {
	return ep.wait("epoll_pwait2", evs, timeout, sigmask)
}

func (ep *Instance) wait(call string, evs []Event, timeout time.Duration, sigmask *unix.Sigset_t) (int, error) {
	if len(evs) == 0 {
		return 0, invalid(call, -1, "empty event slice")
	}
	if len(evs) > maxEvents {
		evs = evs[:maxEvents]
	}
	if !ep.fd.Acquire() {
		return 0, ep.unusable(call)
	}
	var n int
	var err error
	if timeout == 0 {
		// A poll cannot block: Close need not wake it.
		n, err = ep.waitFd(ep.fd.Sysfd(), evs, 0, sigmask)
	} else {
		n, err = ep.waitBlocking(evs, timeout, sigmask)
	}
	if err == ErrClosed || err == nil && ep.isClosed() {
		// Close ran while we were in the kernel and may have made its wake
		// registration ready; the events, if any, belong to an instance the
		// caller has closed.
		n, err = 0, closedError(call)
	}
	ep.fd.Release()
	return n, err
}

// waitBlocking waits on the instance with a reference held, counted among
// the waits Close must wake.
func (ep *Instance) waitBlocking(evs []Event, timeout time.Duration, sigmask *unix.Sigset_t) (int, error) {
	if blocksURG(sigmask) {
		// Counted before the wait is, so that a Close that sees the wait
		// sees this too, and wakes it with the eventfd.
		ep.masked.Add(1)
		defer ep.masked.Add(-1)
	}
	if !ep.enterBlocking() {
		return 0, ErrClosed
	}
	n, err := ep.waitFd(ep.fd.Sysfd(), evs, timeout, sigmask)
	ep.leaveBlocking()
	return n, err
}

// waitFd waits on epfd, restarting after EINTR with the time that remains.
func (ep *Instance) waitFd(epfd int, evs []Event, timeout time.Duration, sigmask *unix.Sigset_t) (int, error) {
	if timeout == 0 && sigmask == nil {
		n, errno := pollRaw(epfd, evs)
		for errno == unix.EINTR {
			n, errno = pollRaw(epfd, evs)
		}
		if errno != 0 {
			return 0, callError("epoll_pwait", -1, errno)
		}
		return n, nil
	}
	var start time.Time
	if timeout > 0 {
		start = time.Now()
	}
	remain := timeout
	for {
		var n int
		var errno unix.Errno
		call := "epoll_pwait2"
		if ep.msWait || noPwait2.Load() {
			call = "epoll_pwait"
			n, errno = waitMs(epfd, evs, remain, sigmask)
		} else {
			n, errno = waitNs(epfd, evs, remain, sigmask)
			if errno == unix.ENOSYS {
				noPwait2.Store(true)
				continue
			}
		}
		if errno == 0 {
			if n == 0 && timeout > 0 {
				// epoll_pwait may be cut short of a long timeout that was
				// clamped to INT_MAX milliseconds; wait out the rest.
				if remain = timeout - time.Since(start); remain > 0 {
					continue
				}
			}
			return n, nil
		}
		if errno != unix.EINTR {
			return 0, callError(call, -1, errno)
		}
		if ep.fd.Closing() {
			return 0, ErrClosed // Close interrupted the wait (interrupt.go)
		}
		if timeout > 0 {
			if remain = timeout - time.Since(start); remain <= 0 {
				return 0, nil
			}
		}
	}
}

// pollRaw is a zero-timeout epoll_pwait. It cannot block, so it skips the
// scheduler hand-off a blocking system call pays for.
func pollRaw(epfd int, evs []Event) (int, unix.Errno) {
	r, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&evs[0])),
		uintptr(len(evs)), 0, 0, 0)
	return int(r), errno
}

// sigsetSize is the kernel's sizeof(sigset_t), which epoll_pwait checks
// exactly; unix.Sigset_t is the larger C library type.
const sigsetSize = 8

func waitNs(epfd int, evs []Event, timeout time.Duration, sigmask *unix.Sigset_t) (int, unix.Errno) {
	var ts unix.Timespec
	tsp := uintptr(0) // NULL: block
	if timeout >= 0 {
		ts = unix.NsecToTimespec(int64(timeout))
		tsp = uintptr(unsafe.Pointer(&ts))
	}
	mask, masksz := maskArgs(sigmask)
	r, _, errno := unix.Syscall6(unix.SYS_EPOLL_PWAIT2, uintptr(epfd), uintptr(unsafe.Pointer(&evs[0])),
		uintptr(len(evs)), tsp, mask, masksz)
	return int(r), errno
}

func waitMs(epfd int, evs []Event, timeout time.Duration, sigmask *unix.Sigset_t) (int, unix.Errno) {
	ms := -1
	if timeout >= 0 {
		// Round up: a 100 us wait must not become a 0 ms poll. (Adding
		// 999,999 ns first would overflow near math.MaxInt64.)
		d := timeout / time.Millisecond
		if timeout%time.Millisecond != 0 {
			d++
		}
		ms = int(min(d, math.MaxInt32))
	}
	mask, masksz := maskArgs(sigmask)
	r, _, errno := unix.Syscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&evs[0])),
		uintptr(len(evs)), uintptr(ms), mask, masksz)
	return int(r), errno
}

func maskArgs(sigmask *unix.Sigset_t) (uintptr, uintptr) {
	if sigmask == nil {
		return 0, 0
	}
	return uintptr(unsafe.Pointer(sigmask)), sigsetSize
}
