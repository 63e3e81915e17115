package uring

import (
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Preallocated so that a timed-out or interrupted wait allocates nothing.
var (
	errTimeout   error = &callError{call: "io_uring_enter", errno: unix.ETIME}
	errNoProgess error = &callError{call: "io_uring_enter", errno: unix.EAGAIN}
)

// callError is "uring: <call>: <errno>", unwrapping to the errno.
type callError struct {
	call  string
	errno unix.Errno
}

func (e *callError) Error() string { return "uring: " + e.call + ": " + e.errno.Error() }
func (e *callError) Unwrap() error { return e.errno }

func enterError(errno unix.Errno) error {
	if errno == unix.ETIME {
		return errTimeout
	}
	return &callError{call: "io_uring_enter", errno: errno}
}

// GetSQE returns the next free submission queue entry, zeroed, or nil when
// the SQ is full (every entry handed out since the last Submit, or not yet
// consumed by the kernel) or the ring is closed. The entry goes to the kernel
// at the next Submit, in the order GetSQE handed it out.
func (r *Ring) GetSQE() *SQE {
	if r.fd < 0 {
		return nil
	}
	// The kernel advances the head with release as it consumes entries; only
	// then may we reuse them.
	if r.sqeTail-atomic.LoadUint32(r.sqHead) >= r.sqEntries {
		return nil
	}
	s := &r.sqes[r.sqeTail&r.sqMask]
	r.sqeTail++
	*s = SQE{}
	return s
}

// SQSpace returns how many more SQEs GetSQE can hand out before Submit.
func (r *Ring) SQSpace() int {
	if r.fd < 0 {
		return 0
	}
	return int(r.sqEntries - (r.sqeTail - atomic.LoadUint32(r.sqHead)))
}

// publish makes the prepared SQEs visible to the kernel and returns how many
// it has not consumed yet. The kernel reads the tail with acquire; the
// atomic store orders every SQE field written before it.
func (r *Ring) publish() uint32 {
	atomic.StoreUint32(r.sqTail, r.sqeTail)
	return r.sqeTail - atomic.LoadUint32(r.sqHead)
}

// cqNeedsFlush reports whether completions are waiting outside the CQ: in
// the kernel's overflow list (the CQ was full) or as queued task work
// (DeferTaskrun/CoopTaskrun). Either is delivered by io_uring_enter with
// IORING_ENTER_GETEVENTS.
func (r *Ring) cqNeedsFlush() bool {
	return atomic.LoadUint32(r.sqFlags)&(sqCQOverflow|sqTaskrun) != 0
}

// Submit hands every SQE prepared since the last Submit to the kernel with
// io_uring_enter(2), without waiting for completions, and returns how many
// it consumed. It also flushes completions the kernel holds back (see
// Reap). Errors: ErrClosed; EBUSY or EAGAIN when the kernel is short of
// resources; EEXIST from a thread other than the issuer of a SingleIssuer
// ring. Errors of individual requests arrive in their CQEs, not here.
func (r *Ring) Submit() (int, error) { return r.SubmitAndWaitTimeout(0, 0) }

// SubmitAndWait submits like Submit and then blocks until at least n CQEs
// are ready to Reap (n = 0 does not block). Signals are retried.
func (r *Ring) SubmitAndWait(n int) (int, error) { return r.SubmitAndWaitTimeout(n, -1) }

// SubmitAndWaitTimeout submits like Submit and then waits, in the kernel,
// until at least n CQEs are ready to Reap or timeout elapses: timeout < 0
// waits without bound, 0 does not sleep, > 0 is a relative bound with
// nanosecond resolution, passed to io_uring_enter as IORING_ENTER_EXT_ARG
// with a __kernel_timespec and measured on CLOCK_MONOTONIC. It never
// returns a timeout early: an EINTR restarts the wait with the time left.
//
// It returns the number of SQEs submitted and nil, or an error wrapping
// unix.ETIME when fewer than n CQEs are ready at the deadline (the SQEs are
// submitted even then), unix.EINVAL when n is negative or larger than the
// CQ, ErrClosed, or another io_uring_enter errno as for Submit. It
// allocates nothing.
func (r *Ring) SubmitAndWaitTimeout(n int, timeout time.Duration) (int, error) {
	if r.fd < 0 {
		return 0, ErrClosed
	}
	if n < 0 || n > int(r.cqEntries) {
		return 0, fmt.Errorf("uring: wait: %d completions outside [0, %d]: %w", n, r.cqEntries, unix.EINVAL)
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	want := uint32(n)
	submitted := 0
	flushed := false // a GETEVENTS pass ran since the last wait
	expired := false
	for {
		toSubmit := r.publish()
		if r.Ready() >= n {
			if toSubmit == 0 && (flushed || !r.cqNeedsFlush()) {
				return submitted, nil
			}
			var flags uint32
			if r.cqNeedsFlush() {
				// A full CQ parks completions in the overflow list (NODROP);
				// only a GETEVENTS pass moves them back as space frees up.
				flags = enterGetEvents
			}
			k, errno := enter(r.fd, toSubmit, 0, flags, nil, 0)
			if err := r.progress(&submitted, k, errno, toSubmit); err != nil {
				return submitted, err
			}
			flushed = true
			continue
		}
		var left time.Duration
		if timeout > 0 && !expired {
			if left = time.Until(deadline); left <= 0 {
				expired = true
			}
		}
		if timeout == 0 || expired {
			if flushed {
				return submitted, errTimeout
			}
			// Out of time: one last non-sleeping pass to submit and to run
			// queued completion work before declaring a timeout.
			k, errno := enter(r.fd, toSubmit, 0, enterGetEvents, nil, 0)
			if err := r.progress(&submitted, k, errno, toSubmit); err != nil {
				return submitted, err
			}
			flushed = true
			continue
		}
		flags := uint32(enterGetEvents)
		var arg unsafe.Pointer
		var argSz uintptr
		if timeout > 0 {
			// The kernel reads the argument and the timespec during the
			// call; both live in the scratch mapping, so nothing escapes to
			// the heap and nothing can move under the kernel.
			*r.waitTS = unix.NsecToTimespec(int64(left))
			*r.waitArg = getEventsArg{ts: uint64(uintptr(unsafe.Pointer(r.waitTS)))}
			flags |= enterExtArg
			arg, argSz = unsafe.Pointer(r.waitArg), unsafe.Sizeof(getEventsArg{})
		}
		k, errno := enter(r.fd, toSubmit, want, flags, arg, argSz)
		if errno == unix.ETIME {
			// The kernel ran its GETEVENTS pass before timing out; what the
			// CQ holds now is all there is.
			expired, flushed = true, true
			continue
		}
		if err := r.progress(&submitted, k, errno, toSubmit); err != nil {
			return submitted, err
		}
		flushed = false
	}
}

// progress accounts for one io_uring_enter result. EINTR (Go's preemption
// signals land here) is not an error: the caller loops. Without
// IORING_SETUP_SUBMIT_ALL the kernel may stop short of toSubmit; the caller
// loops to submit the rest, and a call that consumed nothing while SQEs
// wait is reported rather than spun on.
func (r *Ring) progress(submitted *int, k int, errno unix.Errno, toSubmit uint32) error {
	switch errno {
	case 0:
	case unix.EINTR:
		return nil
	default:
		return enterError(errno)
	}
	*submitted += k
	if k == 0 && toSubmit > 0 {
		return errNoProgess
	}
	return nil
}

// Ready returns how many CQEs wait in the completion queue, without a
// system call. Completions the kernel holds back (see Reap) are not counted.
func (r *Ring) Ready() int {
	if r.fd < 0 {
		return 0
	}
	return int(atomic.LoadUint32(r.cqTail) - atomic.LoadUint32(r.cqHead))
}

// reap copies up to len(dst) CQEs and returns them to the kernel in one
// store of the head.
func (r *Ring) reap(dst []CQE) int {
	head := atomic.LoadUint32(r.cqHead)
	// Acquire pairs with the kernel's release of the tail: every CQE below
	// it is fully written.
	avail := atomic.LoadUint32(r.cqTail) - head
	n := min(int(avail), len(dst))
	for i := range n {
		dst[i] = r.cqes[(head+uint32(i))&r.cqMask]
	}
	// Release: the kernel may overwrite these slots only after our copies.
	atomic.StoreUint32(r.cqHead, head+uint32(n))
	return n
}

// Reap copies up to len(dst) completions into dst, oldest first, frees
// their CQ slots, and returns how many it copied. It makes no system call
// while the CQ holds them. When dst still has room and the kernel has
// flagged completions held outside the CQ (IORING_SQ_CQ_OVERFLOW after the
// CQ filled up, or IORING_SQ_TASKRUN for queued completion work) it makes
// one io_uring_enter with IORING_ENTER_GETEVENTS to bring them in and copies
// again, so no completion is ever lost or left behind. With DeferTaskrun
// that call must come from the issuing thread.
//
// Errors: ErrClosed; an io_uring_enter errno from the flush, with the count
// of CQEs already copied.
func (r *Ring) Reap(dst []CQE) (int, error) {
	if r.fd < 0 {
		return 0, ErrClosed
	}
	n := r.reap(dst)
	if n < len(dst) && r.cqNeedsFlush() {
		for {
			_, errno := enter(r.fd, 0, 0, enterGetEvents, nil, 0)
			if errno == unix.EINTR {
				continue
			}
			if errno != 0 {
				return n, enterError(errno)
			}
			break
		}
		n += r.reap(dst[n:])
	}
	return n, nil
}

// CQOverflow returns the kernel's count of completions it could not deliver
// at all (io_cqring_offsets.overflow). With FeatNoDrop a full CQ does not
// lose completions; this counts only those lost when even the overflow list
// could not be allocated. It stays 0 in a healthy process.
func (r *Ring) CQOverflow() uint32 {
	if r.fd < 0 {
		return 0
	}
	return atomic.LoadUint32(r.cqOverflow)
}
