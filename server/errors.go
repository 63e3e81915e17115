package server

import (
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/eventpoll/eventpoll/internal/errs"
	"github.com/eventpoll/eventpoll/loop"
)

const pkg = "server"

// The causes a connection is closed with, given to OnClose; match them with
// errors.Is.
var (
	// ErrIdleTimeout: no byte was read or written for the idle timeout.
	ErrIdleTimeout = errors.New("server: idle timeout")
	// ErrReadTimeout: bytes waited unread (an incomplete message) for the
	// read timeout.
	ErrReadTimeout = errors.New("server: read timeout")
	// ErrWriteTimeout: queued output made no progress for the write timeout.
	ErrWriteTimeout = errors.New("server: write timeout")
	// ErrReadLimit: the handler left more bytes unread than the read limit.
	ErrReadLimit = errors.New("server: read limit exceeded")
	// ErrServerClosed: the server was shut down or closed.
	ErrServerClosed = errors.New("server: closed")
)

// ErrClosed is the cause of the error a call on a closed connection or
// server returns; it is epoll.ErrClosed.
var ErrClosed = errs.ErrClosed

// closedErr returns the error of call on a closed object.
func closedErr(call string) error { return errs.Closed(pkg, call) }

// sysErr returns the error of a failed system call on fd, keeping its errno
// (errors.Is(err, unix.ECONNRESET)).
func sysErr(call string, fd int, err error) error { return errs.Call(pkg, call, fd, err) }

// invalid returns an argument error of call, matching EINVAL.
func invalid(call, why string) error { return errs.Invalid(pkg, call, -1, why) }

// isClosed reports whether err says its object was closed.
func isClosed(err error) bool { return errors.Is(err, errs.ErrClosed) }

func readLimitError(held, limit int) error {
	return fmt.Errorf("%w: %d bytes left unread, limit %d (WithReadLimit)", ErrReadLimit, held, limit)
}

// newPanicError describes a handler's panic, in the loop's type.
func newPanicError(v any) *loop.PanicError {
	return &loop.PanicError{Value: v, Stack: debug.Stack()}
}
