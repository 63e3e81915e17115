package epoll

import (
	"errors"
	"strconv"

	"golang.org/x/sys/unix"
)

// ErrClosed is returned, wrapped in an *Error naming the call, by every
// method of an Instance that has been closed, and by a Wait or WaitContext
// that was blocked when Close ran.
var ErrClosed = errors.New("epoll instance closed")

// ErrNotPollable is returned by Add when the kernel refuses the file with
// EPERM because it has no poll support: regular files and directories, for
// which read and write never block. The error also satisfies
// errors.Is(err, unix.EPERM).
var ErrNotPollable = errors.New("file cannot be watched by epoll (regular file or directory)")

// ErrUnsupported is returned by calls whose kernel facility is missing
// (an older kernel answering ENOSYS or ENOTTY). The error also satisfies
// errors.Is with the errno the kernel gave.
var ErrUnsupported = errors.New("not supported by this kernel")

var errEmptyEvents = errors.New("empty event set")

type unknownEventError struct{ word string }

func (e *unknownEventError) Error() string { return "unknown event name " + strconv.Quote(e.word) }

// Error describes a failed call: which call, on which file descriptor, and
// why. Err is a unix.Errno for kernel errors (so errors.Is(err, unix.EEXIST)
// works), ErrClosed, or an argument error; Kind, when set, is a sentinel
// such as ErrNotPollable that errors.Is also matches.
type Error struct {
	Call string // the call that failed, e.g. "epoll_ctl(ADD)" or "epoll_pwait2"
	Fd   int    // the target file descriptor, or -1 when the call has none
	Err  error  // the cause
	Kind error  // a sentinel classifying the cause, or nil
}

// Error returns "epoll: <Call> fd <Fd>: <Kind>: <Err>", leaving out the fd
// when the call has none and the kind when it is nil.
func (e *Error) Error() string {
	s := "epoll: " + e.Call
	if e.Fd >= 0 && e.Call != "parse events" {
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
	return &Error{Call: call, Fd: fd, Err: err}
}

func closedError(call string) error { return &Error{Call: call, Fd: -1, Err: ErrClosed} }

func invalid(call string, fd int, why string) error {
	return &Error{Call: call, Fd: fd, Err: &argError{why: why}}
}

// argError is an argument error caught before the system call. It matches
// unix.EINVAL so callers can treat it as the kernel's own refusal would be.
type argError struct{ why string }

func (e *argError) Error() string        { return e.why + " (EINVAL)" }
func (e *argError) Is(target error) bool { return target == unix.EINVAL }
