// Package errs is the one error model of eventpoll: the Error type every
// package returns (epoll re-exports it as epoll.Error), the sentinels that
// classify causes, and the constructors each package uses. A kernel error
// keeps its errno, so errors.Is(err, unix.EEXIST) works; the message names
// the package, the call and the descriptor.
package errs

import (
	"errors"
	"strconv"

	"golang.org/x/sys/unix"
)

// ErrClosed is the cause of every error returned by a call on an object
// that was closed, and by a blocking call that Close ended.
var ErrClosed = errors.New("use of closed object")

// ErrNotCreated is the cause of every error returned by a call on the zero
// value of a type that must be made by its constructor.
var ErrNotCreated = errNotCreated{}

type errNotCreated struct{}

func (errNotCreated) Error() string { return "object not created with its constructor" }

// Is makes ErrNotCreated match ErrClosed as well: a zero value is as
// unusable as a closed one, and code that checks for ErrClosed treats both.
func (errNotCreated) Is(target error) bool { return target == ErrClosed }

// ErrUnsupported classifies calls whose kernel facility is missing. It
// matches errors.ErrUnsupported.
var ErrUnsupported = unsupported{}

type unsupported struct{}

func (unsupported) Error() string        { return "not supported by this kernel" }
func (unsupported) Is(target error) bool { return target == errors.ErrUnsupported }

// ErrNotPollable classifies the EPERM epoll gives for a file it cannot
// watch (a regular file, a directory, some devices).
var ErrNotPollable = errors.New("file cannot be watched by epoll (regular file or directory)")

// Error describes a failed call: in which package, which call, on which
// file descriptor, and why.
type Error struct {
	Pkg  string // the package that reports it: "epoll", "ring", "source", "loop", "server"
	Call string // the call that failed, e.g. "epoll_ctl(ADD)" or "timerfd_settime"
	Fd   int    // the target file descriptor, or -1 when the call has none
	Err  error  // the cause: a unix.Errno, ErrClosed, or an argument error matching unix.EINVAL
	Kind error  // a sentinel classifying the cause (ErrNotPollable, ErrUnsupported, ...), or nil
}

// Error returns "<Pkg>: <Call> fd <Fd>: <Kind>: <Err>", without the fd
// when Fd is negative and without the kind when Kind is nil.
func (e *Error) Error() string {
	s := e.Pkg + ": " + e.Call
	if e.Fd >= 0 {
		s += " fd " + strconv.Itoa(e.Fd)
	}
	s += ": "
	if e.Kind != nil {
		s += e.Kind.Error() + ": "
	}
	return s + e.Err.Error()
}

// Unwrap returns the cause, so errors.Is and errors.As see through to it.
// It returns one error, not a slice holding the cause and the kind: a
// slice would be made by every errors.Is, and draining a descriptor until
// errors.Is(err, unix.EAGAIN), which every event loop does on every
// wake-up, must not allocate. The kind is seen through Is and As.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether the classifying sentinel matches target.
func (e *Error) Is(target error) bool { return e.Kind != nil && errors.Is(e.Kind, target) }

// As finds the first error in the kind's chain that matches target.
func (e *Error) As(target any) bool { return e.Kind != nil && errors.As(e.Kind, target) }

// Call returns the error of a failed call. An ENOSYS cause is classified
// as ErrUnsupported.
func Call(pkg, call string, fd int, err error) *Error {
	e := &Error{Pkg: pkg, Call: call, Fd: fd, Err: err}
	if err == unix.ENOSYS {
		e.Kind = ErrUnsupported
	}
	return e
}

// Closed returns the error of a call on a closed object.
func Closed(pkg, call string) *Error {
	return &Error{Pkg: pkg, Call: call, Fd: -1, Err: ErrClosed}
}

// NotCreated returns the error of a call on a zero value.
func NotCreated(pkg, call string) *Error {
	return &Error{Pkg: pkg, Call: call, Fd: -1, Err: ErrNotCreated}
}

// Invalid returns an argument error caught before any system call. It
// matches unix.EINVAL, the answer the kernel would give.
func Invalid(pkg, call string, fd int, why string) *Error {
	return &Error{Pkg: pkg, Call: call, Fd: fd, Err: &ArgError{Why: why}}
}

// BadFd returns the error for a descriptor number the kernel cannot have
// (negative, or beyond the int32 range): EBADF, before any system call, so
// that no number is ever truncated to another descriptor.
func BadFd(pkg, call string, fd int) *Error {
	return &Error{Pkg: pkg, Call: call, Fd: fd, Err: unix.EBADF}
}

// ArgError is an argument error caught before the system call. It matches
// unix.EINVAL.
type ArgError struct{ Why string }

// Error returns the reason followed by "(EINVAL)".
func (e *ArgError) Error() string { return e.Why + " (EINVAL)" }

// Is reports whether target is unix.EINVAL.
func (e *ArgError) Is(target error) bool { return target == unix.EINVAL }

// MaxFd is the largest descriptor number a kernel can hand out: file
// descriptors are C ints.
const MaxFd = 1<<31 - 1

// ValidFd reports whether fd is a number the kernel could have given:
// 0 <= fd <= MaxFd. Numbers outside it must be refused with EBADF before
// any system call, which would truncate them to 32 bits.
func ValidFd(fd int) bool { return fd >= 0 && int64(fd) <= MaxFd }
