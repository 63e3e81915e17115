package uring

import (
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// WaitArg is the memory a timed WaitCompletions hands the kernel: a struct
// io_uring_getevents_arg and the __kernel_timespec it points to. Allocate it
// once with new(WaitArg) and keep it for the ring's life; the Go heap does
// not move objects, and one WaitArg serves one waiting goroutine at a time.
type WaitArg struct {
	arg getEventsArg
	ts  unix.Timespec
}

// WaitCompletions blocks in io_uring_enter(2) with IORING_ENTER_GETEVENTS
// until at least n completions are in the completion queue or timeout
// passes (timeout < 0 waits without bound; 0 only flushes completions the
// kernel holds back; > 0 is a relative bound with nanosecond resolution,
// passed with IORING_ENTER_EXT_ARG). It submits nothing.
//
// Unlike every other method it reads no submission-queue state and writes
// nothing in r, so one goroutine may sit in it while others call GetSQE,
// Submit and Reap under their own lock: that is how a consumer sleeps in the
// kernel without blocking producers. It must not overlap Close (the fd
// would be closed, and maybe reused, under the waiting call), nor another
// WaitCompletions with the same wa.
//
// It returns nil when the kernel says n completions are ready, and also
// when a signal interrupted the wait (EINTR; the Go runtime preempts
// goroutines with SIGURG): the caller re-checks Ready and waits again with
// the time it has left. It returns an error wrapping unix.ETIME when the
// timeout passed, ErrClosed after Close, unix.EINVAL when n is outside
// [0, CQEntries], or another io_uring_enter errno. It allocates nothing.
func (r *Ring) WaitCompletions(n int, timeout time.Duration, wa *WaitArg) error {
	if r.fd < 0 {
		return ErrClosed
	}
	if n < 0 || n > int(r.cqEntries) {
		return fmt.Errorf("uring: WaitCompletions: %d completions outside [0, %d]: %w", n, r.cqEntries, unix.EINVAL)
	}
	flags := uint32(enterGetEvents)
	var arg unsafe.Pointer
	var argSz uintptr
	if timeout >= 0 {
		wa.ts = unix.NsecToTimespec(int64(timeout))
		wa.arg = getEventsArg{ts: uint64(uintptr(unsafe.Pointer(&wa.ts)))}
		flags |= enterExtArg
		arg, argSz = unsafe.Pointer(&wa.arg), unsafe.Sizeof(getEventsArg{})
	}
	_, errno := enter(r.fd, 0, uint32(n), flags, arg, argSz)
	switch errno {
	case 0, unix.EINTR:
		return nil
	default:
		return enterError(errno)
	}
}
