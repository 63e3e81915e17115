package epoll

import (
	"context"
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// WaitContext waits until events are ready or ctx is done, without holding
// an OS thread: the goroutine is parked in the Go runtime's own poller, as a
// goroutine blocked in net.Conn.Read is.
//
// An epoll instance is itself pollable (readable while its ready list is not
// empty), so on first use the instance's descriptor is registered with the
// runtime poller, nesting it in the runtime's epoll instance. WaitContext
// then collects events with a zero-timeout epoll_pwait, and parks the
// goroutine only when that finds none. Ten thousand goroutines waiting on ten
// thousand instances use no more threads than the runtime's usual few.
//
// When ctx is done WaitContext returns ctx.Err() promptly, events or not.
// Cancellation is wired with context.AfterFunc; the registration is kept
// while the same context (the same Done channel) keeps being passed, so a
// loop that calls WaitContext with one long-lived context allocates nothing
// per call, and a context that is never cancelled (Done is nil) costs
// nothing at all. A kept registration keeps the instance reachable from the
// context until the context is done, the instance is closed, or another
// context is used.
//
// Calls on one instance are served one at a time: the runtime poller parks
// one goroutine per descriptor, and the others queue, each still returning
// promptly when its own ctx is done or the instance is closed.
//
// Errors: ctx.Err(); ErrClosed when the instance is closed before or during
// the wait; EINVAL (an argument error) when evs is empty.
func (ep *Instance) WaitContext(ctx context.Context, evs []Event) (int, error) {
	const call = "WaitContext"
	if len(evs) == 0 {
		return 0, invalid(call, -1, "empty event slice")
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if len(evs) > maxEvents {
		evs = evs[:maxEvents]
	}
	done := ctx.Done()
	select {
	case <-ep.wcTurn:
	case <-done:
		return 0, ctx.Err()
	case <-ep.closing:
		return 0, closedError(call)
	}
	n, err := ep.waitParked(ctx, done, evs)
	ep.wcTurn <- struct{}{}
	return n, err
}

// waitParked runs with the wcTurn token held.
func (ep *Instance) waitParked(ctx context.Context, done <-chan struct{}, evs []Event) (int, error) {
	const call = "WaitContext"
	w := &ep.wc
	if ep.file == nil || (done != nil && done != w.done) {
		if err := ep.prepareParking(ctx, done); err != nil {
			return 0, err
		}
	}
	if w.dirty.Swap(false) {
		ep.file.SetReadDeadline(time.Time{})
	}
	w.ctx, w.evs, w.n, w.err = ctx, evs, 0, nil
	defer func() { w.ctx, w.evs = nil, nil }()
	for {
		err := ep.raw.Read(w.fn)
		if err == nil {
			if w.err == nil && ep.isClosed() {
				// Close's wake registration may be among the events.
				return 0, closedError(call)
			}
			return w.n, w.err
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			// Another context's cancellation, or a kept registration firing
			// after its caller left: not ours, so clear it and park again.
			// Our own cancellation cannot be lost by this reset, because pollOnce
			// checks ctx before every park.
			w.dirty.Store(false)
			ep.file.SetReadDeadline(time.Time{})
			continue
		}
		if ep.isClosed() {
			return 0, closedError(call)
		}
		return 0, callError(call, -1, err)
	}
}

// prepareParking registers the descriptor with the runtime poller on first
// use, and the cancellation callback for a new context.
func (ep *Instance) prepareParking(ctx context.Context, done <-chan struct{}) error {
	const call = "WaitContext"
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.isClosed() {
		return closedError(call)
	}
	w := &ep.wc
	if ep.file == nil {
		// The runtime poller takes only non-blocking descriptors. O_NONBLOCK
		// is a file status flag shared by the whole open file description;
		// epoll_wait ignores it, so Wait is unaffected.
		if err := unix.SetNonblock(ep.fd, true); err != nil {
			return callError("fcntl(O_NONBLOCK)", ep.fd, err)
		}
		f := os.NewFile(uintptr(ep.fd), "epoll")
		raw, err := f.SyscallConn()
		if err != nil {
			return callError(call, ep.fd, err)
		}
		w.fn = ep.pollOnce
		w.cancel = ep.cancelPark
		ep.file, ep.raw = f, raw
	}
	if done != nil && done != w.done {
		if w.stop != nil {
			w.stop()
		}
		w.stop = context.AfterFunc(ctx, w.cancel)
		w.done = done
	}
	return nil
}

// cancelPark runs when a registered context is done: it wakes the parked
// goroutine by moving the descriptor's read deadline to the past.
func (ep *Instance) cancelPark() {
	ep.wc.dirty.Store(true)
	ep.file.SetReadDeadline(aLongTimeAgo)
}

var aLongTimeAgo = time.Unix(1, 0)

// pollOnce is the runtime poller's callback: true stops, false parks the
// goroutine until the descriptor is readable. fd is valid for the call: the
// runtime holds a reference on it.
func (ep *Instance) pollOnce(fd uintptr) bool {
	w := &ep.wc
	if err := w.ctx.Err(); err != nil {
		w.err = err
		return true
	}
	n, errno := pollRaw(int(fd), w.evs)
	for errno == unix.EINTR {
		n, errno = pollRaw(int(fd), w.evs)
	}
	if errno != 0 {
		w.err = callError("epoll_pwait", -1, errno)
		return true
	}
	if n == 0 {
		return false
	}
	w.n = n
	return true
}
