package source

import (
	"unsafe"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/errs"
	"github.com/eventpoll/eventpoll/internal/fdlife"
	"golang.org/x/sys/unix"
)

// Source is what every type in this package is: an object owning one
// pollable file descriptor. Register Fd with an epoll instance (for reading,
// epoll.In); when it reports the descriptor readable, call the source's read
// method until it returns an error matching unix.EAGAIN.
//
// Fd returns -1 once Close has begun, and on a zero value. Close releases
// the descriptor and everything behind it; it is idempotent and safe while
// other goroutines are inside any method of the source.
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

// ErrClosed is the cause of the error (an *epoll.Error naming the call)
// returned by every method of a source that has been closed. It is
// epoll.ErrClosed: one sentinel across eventpoll. A zero value, never made
// by its constructor, answers with epoll.ErrNotCreated, which matches
// ErrClosed too.
var ErrClosed = epoll.ErrClosed

// ErrUnsupported classifies the error returned when the running kernel
// lacks the facility a source is built on (an ENOSYS answer). It is
// epoll.ErrUnsupported and matches errors.ErrUnsupported; the error also
// matches the kernel's errno, and its message names the Linux version that
// added the facility where one is needed.
var ErrUnsupported = epoll.ErrUnsupported

const pkg = "source"

func callError(call string, fd int, err error) error { return errs.Call(pkg, call, fd, err) }

func invalid(call string, why string) error { return errs.Invalid(pkg, call, -1, why) }

// wouldBlock returns the error a read method gives when nothing is pending.
// It is made once per call name, at package initialisation, so that
// draining a source to EAGAIN, which every event loop does on every
// wake-up, allocates nothing.
func wouldBlock(call string) error { return errs.Call(pkg, call, -1, unix.EAGAIN) }

// acquire takes a reference on f for a call that will issue a system call
// on its descriptor (see fdlife), or returns why it cannot: ErrClosed after
// Close, ErrNotCreated on a zero value, which must never reach descriptor 0.
func acquire(f *fdlife.FD, call string) error {
	if f.Acquire() {
		return nil
	}
	return unusable(f, call)
}

// unusable is the error of a call on a source that is closed or was never
// made.
func unusable(f *fdlife.FD, call string) error {
	if f.Opened() {
		return errs.Closed(pkg, call)
	}
	return errs.NotCreated(pkg, call)
}

// closeFD closes f's descriptor once every call in flight has left it. The
// first Close closes it and reports the kernel's answer; later ones return
// nil; on a zero value Close returns an error matching ErrClosed (nothing
// was ever opened, and descriptor 0 is not ours).
//
// Every descriptor of this package is non-blocking, so a call in flight
// leaves the kernel promptly and needs no wake-up.
func closeFD(f *fdlife.FD) error {
	if !f.Opened() {
		return errs.NotCreated(pkg, "close")
	}
	if !f.Close(nil) {
		return nil
	}
	if err := unix.Close(f.Sysfd()); err != nil {
		return callError("close", f.Sysfd(), err)
	}
	return nil
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
