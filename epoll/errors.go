package epoll

import (
	"errors"
	"strconv"

	"github.com/eventpoll/eventpoll/internal/errs"
)

// ErrClosed is the cause of every error returned by a call on a closed
// Instance (and on a closed ring.Ring, source or loop: it is one sentinel
// across eventpoll), and by a Wait or WaitContext that was blocked when
// Close ran. Calls on a zero value that was never made by New match it too.
var ErrClosed = errs.ErrClosed

// ErrNotCreated is the cause of every error returned by a call on the zero
// value of a type that must be made by its constructor (an Instance{} not
// made by New). It also matches ErrClosed.
var ErrNotCreated = errs.ErrNotCreated

// ErrNotPollable is returned by Add when the kernel refuses the file with
// EPERM because it has no poll support: regular files and directories, for
// which read and write never block. The error also satisfies
// errors.Is(err, unix.EPERM).
var ErrNotPollable = errs.ErrNotPollable

// ErrUnsupported classifies calls whose kernel facility is missing (an
// older kernel answering ENOSYS or ENOTTY, io_uring disabled). It matches
// errors.ErrUnsupported; the error also satisfies errors.Is with the errno
// the kernel gave.
var ErrUnsupported = errs.ErrUnsupported

// Error describes a failed call of any eventpoll package: which package
// (Pkg: "epoll", "ring", "source", "loop", "server"), which call (Call, e.g.
// "epoll_ctl(ADD)"), on which file descriptor (Fd, -1 when the call has
// none) and why (Err: a unix.Errno for kernel errors, so
// errors.Is(err, unix.EEXIST) works; ErrClosed; or an argument error that
// matches unix.EINVAL). Kind, when set, is a sentinel such as ErrNotPollable
// or ErrUnsupported that errors.Is also matches.
//
// Error() prints "<Pkg>: <Call> fd <Fd>: <Kind>: <Err>", leaving out the fd
// when it is negative and the kind when it is nil.
type Error = errs.Error

var errEmptyEvents = errors.New("empty event set")

type unknownEventError struct{ word string }

func (e *unknownEventError) Error() string { return "unknown event name " + strconv.Quote(e.word) }

const pkg = "epoll"

func callError(call string, fd int, err error) error { return errs.Call(pkg, call, fd, err) }

func closedError(call string) error { return errs.Closed(pkg, call) }

func invalid(call string, fd int, why string) error { return errs.Invalid(pkg, call, fd, why) }
