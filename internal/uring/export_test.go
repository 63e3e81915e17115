package uring

// What only the tests use: kept out of the package's API, compiled with its
// tests alone.

import (
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// WaitCQE returns the oldest completion, waiting up to timeout for one (the
// rules of SubmitAndWaitTimeout; prepared SQEs are submitted first). It
// returns an error wrapping unix.ETIME when none arrived in time.
func (r *Ring) WaitCQE(timeout time.Duration) (CQE, error) {
	var c [1]CQE
	if r.fd < 0 {
		return CQE{}, ErrClosed
	}
	if r.Ready() == 0 || r.sqeTail != atomic.LoadUint32(r.sqHead) {
		if _, err := r.SubmitAndWaitTimeout(1, timeout); err != nil {
			return CQE{}, err
		}
	}
	if _, err := r.Reap(c[:]); err != nil {
		return CQE{}, err
	}
	return c[0], nil
}

// Timespecs returns one __kernel_timespec slot per SQ entry, outside the Go
// heap, for PrepTimeout; the kernel copies the value during Submit. The
// slice is nil after Close.
func (r *Ring) Timespecs() []unix.Timespec { return r.timespecs }

// PrepPollUpdate makes s change an armed poll request in place (Linux 5.13):
// flags is a combination of PollUpdateEvents (use events as the new mask),
// PollUpdateUserData (use newUserData from now on) and PollAddMulti (the
// updated request is multishot). s completes with 0 or -ENOENT.
func (s *SQE) PrepPollUpdate(target, newUserData uint64, events, flags uint32) {
	s.Opcode = uint8(OpPollRemove)
	s.Fd = -1
	s.Addr = target
	s.Off = newUserData
	s.Len = flags
	s.OpFlags = poll32Events(events)
}

// PrepTimeout makes s a timer: it completes with -ETIME when ts elapses
// (relative unless flags has TimeoutAbs), or with 0 once count other
// requests have completed, if count > 0. The kernel copies *ts while
// preparing s; the rules for PrepEpollCtl's ev apply (Ring.Timespecs).
func (s *SQE) PrepTimeout(ts *unix.Timespec, count, flags uint32) {
	s.Opcode = uint8(OpTimeout)
	s.Fd = -1
	s.Addr = uint64(uintptr(unsafe.Pointer(ts)))
	s.Len = 1
	s.Off = uint64(count)
	s.OpFlags = flags
}
