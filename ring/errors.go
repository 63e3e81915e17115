package ring

import (
	"errors"
	"strconv"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/errs"
	"golang.org/x/sys/unix"
)

const pkg = "ring"

// Preallocated so that the hot paths allocate nothing.
var (
	errWaitClosed = errs.Closed(pkg, "Wait")
	errWaitEmpty  = errs.Invalid(pkg, "Wait", -1, "empty event slice")
)

// errNoEpollWait is the cause New gives for EngineEpollWait on a kernel
// without the opcode.
var errNoEpollWait = errors.New("EngineEpollWait needs IORING_OP_EPOLL_WAIT (Linux 6.15); use EngineMultishot or epoll.Instance")

// closedError is the error of a call that found the ring closed, or never
// made by New.
func (r *Ring) closedError(call string) error {
	if !r.fd.Opened() {
		return errs.NotCreated(pkg, call)
	}
	if call == "Wait" {
		return errWaitClosed
	}
	return errs.Closed(pkg, call)
}

// ctlError is the error of an interest call (Add, Modify, Delete, or the
// command of a BatchAll) that failed. cause is an errno, or the error the
// epoll instance behind the ring returned: its errno and kind are kept, and
// the call named is the ring's, so the message reads "ring: Modify fd 7:
// no such file or directory", never a chain through epoll.
func ctlError(call string, fd int, cause error) error {
	e := &errs.Error{Pkg: pkg, Call: call, Fd: fd, Err: cause}
	var inner *errs.Error
	if errors.As(cause, &inner) {
		e.Err, e.Kind = inner.Err, inner.Kind
	} else if errors.Is(cause, unix.EPERM) && call == "Add" {
		e.Kind = errs.ErrNotPollable
	}
	return e
}

// errnoOf returns the errno in err, or 0. It walks the chain itself:
// errors.As would move its target to the heap on every call, and the
// kernel's answer is looked at on every command.
func errnoOf(err error) unix.Errno {
	for err != nil {
		switch e := err.(type) {
		case unix.Errno:
			return e
		case *errs.Error:
			err = e.Err
		case interface{ Unwrap() error }:
			err = e.Unwrap()
		default:
			return 0
		}
	}
	return 0
}

// callError is the error of a system call the ring made for call (Wait,
// Close) that failed.
func callError(call string, err error) error {
	if errno := errnoOf(err); errno != 0 {
		return errs.Call(pkg, call, -1, errno)
	}
	return &errs.Error{Pkg: pkg, Call: call, Fd: -1, Err: err}
}

// cmdError names the command of a BatchAll whose arguments were refused
// before any command ran.
type cmdError struct {
	index int
	err   error
}

func (e *cmdError) Error() string { return "command " + strconv.Itoa(e.index) + ": " + e.err.Error() }
func (e *cmdError) Unwrap() error { return e.err }

func batchArgError(i, fd int, cause error) error {
	return &errs.Error{Pkg: pkg, Call: batchCall, Fd: fd, Err: &cmdError{index: i, err: cause}}
}

var ctlCalls = [...]string{epoll.OpAdd: "Add", epoll.OpModify: "Modify", epoll.OpDelete: "Delete"}
