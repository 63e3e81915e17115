package source

import (
	"errors"
	"strconv"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Source is what every type in this package is: an object owning one
// pollable file descriptor. Register Fd with an epoll instance (for reading,
// epoll.In); when it reports the descriptor readable, call the source's read
// method until it returns an error matching unix.EAGAIN.
//
// Fd returns -1 once Close has begun. Close releases the descriptor and
// everything behind it; it is idempotent and safe while other goroutines are
// inside any method of the source.
type Source interface {
	Fd() int
	Close() error
}

var (
	_ Source = (*Timer)(nil)
	_ Source = (*Notifier)(nil)
	_ Source = (*Signals)(nil)
	_ Source = (*Watcher)(nil)
	_ Source = (*Process)(nil)
)

// ErrClosed is returned, wrapped in an *Error naming the call, by every
// method of a source that has been closed.
var ErrClosed = errors.New("source closed")

// ErrUnsupported is returned when the running kernel lacks the facility a
// source is built on (an ENOSYS answer). The error names the Linux version
// that added it and also matches the kernel's errno.
var ErrUnsupported = errors.New("not supported by this kernel")

// Error describes a failed call: which system call or operation, on which
// file descriptor, and why. Err is a unix.Errno for kernel errors, so
// errors.Is(err, unix.ENOENT) works; argument errors caught before the system
// call match unix.EINVAL. Kind, when set, is a sentinel such as ErrClosed,
// ErrOverflow or ErrClockChanged that errors.Is also matches.
type Error struct {
	Call string // the call that failed, e.g. "timerfd_settime" or "inotify_add_watch /tmp/x"
	Fd   int    // the descriptor, or -1 when there is none or it does not matter
	Err  error  // the cause
	Kind error  // a classifying sentinel, or nil
}

// Error returns the message: the package, the call, the target when there
// is one, and the cause.
func (e *Error) Error() string {
	s := "source: " + e.Call
	if e.Fd >= 0 {
		s += " fd " + strconv.Itoa(e.Fd)
	}
	s += ": "
	if e.Kind != nil {
		s += e.Kind.Error() + ": "
	}
	return s + e.Err.Error()
}

// Unwrap returns the cause and the classifying sentinel, so errors.Is and
// errors.As see both.
func (e *Error) Unwrap() []error {
	if e.Kind != nil {
		return []error{e.Err, e.Kind}
	}
	return []error{e.Err}
}

func callError(call string, fd int, err error) error {
	if err == unix.ENOSYS {
		return &Error{Call: call, Fd: fd, Err: err, Kind: ErrUnsupported}
	}
	return &Error{Call: call, Fd: fd, Err: err}
}

func closedError(call string) error { return &Error{Call: call, Fd: -1, Err: ErrClosed} }

func invalid(call string, why string) error {
	return &Error{Call: call, Fd: -1, Err: &argError{why: why}}
}

// argError is an argument error caught before the system call. It matches
// unix.EINVAL, the answer the kernel would give.
type argError struct{ why string }

func (e *argError) Error() string        { return e.why + " (EINVAL)" }
func (e *argError) Is(target error) bool { return target == unix.EINVAL }

// wouldBlock returns the error a read method gives when nothing is pending.
// It is made once per call name so that draining a source to EAGAIN, which
// every event loop does on every wake-up, allocates nothing.
func wouldBlock(call string) error { return &Error{Call: call, Fd: -1, Err: unix.EAGAIN} }

const closedBit = 1 << 62

// fdLife is the life of one descriptor, modelled on the Go runtime's
// internal/poll fdMutex and on epoll.Instance: the low bits count calls in
// flight that may issue a system call on fd, and closedBit says Close has
// begun. Once closedBit is set no call can take a reference, and the
// descriptor is closed only when the count has drained to zero, so no system
// call ever runs on an fd number that may already belong to another open.
// All descriptors of this package are non-blocking, so a call in flight
// leaves the kernel promptly and Close never waits long.
type fdLife struct {
	fd      int
	ref     atomic.Uint64
	drained chan struct{} // receives once when the count drains after close
}

func (l *fdLife) init(fd int) {
	l.fd = fd
	l.drained = make(chan struct{}, 1)
}

// get returns the descriptor, or -1 once Close has begun.
func (l *fdLife) get() int {
	if l.ref.Load()&closedBit != 0 {
		return -1
	}
	return l.fd
}

func (l *fdLife) closed() bool { return l.ref.Load()&closedBit != 0 }

// incref takes a reference for a call that will issue a system call on fd,
// or fails with ErrClosed.
func (l *fdLife) incref(call string) error {
	for {
		s := l.ref.Load()
		if s&closedBit != 0 {
			return closedError(call)
		}
		if l.ref.CompareAndSwap(s, s+1) {
			return nil
		}
	}
}

func (l *fdLife) decref() {
	if l.ref.Add(^uint64(0)) == closedBit {
		l.drained <- struct{}{}
	}
}

// close marks the descriptor closed, waits for calls in flight and closes
// it. It reports false, doing nothing, if close had already begun.
func (l *fdLife) close() (bool, error) {
	for {
		s := l.ref.Load()
		if s&closedBit != 0 {
			return false, nil
		}
		if l.ref.CompareAndSwap(s, s|closedBit) {
			break
		}
	}
	if l.ref.Load() != closedBit {
		<-l.drained
	}
	if err := unix.Close(l.fd); err != nil {
		return true, callError("close", l.fd, err)
	}
	return true, nil
}

// readUint64 reads the 8-byte counter of an eventfd or timerfd. It calls
// read(2) directly rather than through unix.Read, whose race-detector hooks
// make the buffer escape to the heap under -race; the counter is read on
// every wake-up of a loop and must not allocate.
func readUint64(fd int) (uint64, error) {
	var v uint64
	for {
		n, _, errno := unix.Syscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&v)), 8)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, errno
		}
		if n != 8 {
			return 0, unix.EIO
		}
		return v, nil // host byte order, as the kernel wrote it
	}
}

// writeUint64 adds v to an eventfd's counter with write(2), called directly
// for the same reason as in readUint64.
func writeUint64(fd int, v uint64) error {
	for {
		_, _, errno := unix.Syscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&v)), 8)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return errno
		}
		return nil
	}
}
