package epoll

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/eventpoll/eventpoll/internal/errs"
	"golang.org/x/sys/unix"
)

// WaitContext waits until events are ready or ctx is done, without holding
// an OS thread: the goroutine is parked in the Go runtime's own poller, as a
// goroutine blocked in net.Conn.Read is.
//
// An epoll instance is itself pollable (readable while its ready list is not
// empty), so on first use the instance's descriptor is registered with the
// runtime poller, nesting the instance in the runtime's epoll instance.
// WaitContext then collects events with a zero-timeout epoll_pwait, and
// parks the goroutine only when that finds none. Thousands of goroutines
// waiting on as many instances use no more threads than the runtime's usual
// few.
//
// The nesting counts against the kernel's limit of four levels: an instance
// at the top of a chain of five (four levels below it) cannot be watched
// by the runtime, and WaitContext refuses it with ELOOP, registering
// nothing, so a later call works once the chain is shorter (it registers a
// duplicate of the descriptor then, a third one, kept until Close). Once
// registered, the instance is one level deep in the runtime's instance for
// good, and an Add that would hang four levels below it fails with ELOOP
// instead.
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
// the wait, ErrNotCreated (matching ErrClosed) on the zero Instance; EINVAL
// (an argument error) when evs is empty; ELOOP when the instance is nested
// too deep to be watched by the runtime (see above), or ENOSPC when
// /proc/sys/fs/epoll/max_user_watches is used up; after such a refusal,
// EMFILE or ENFILE when no descriptor is left for the duplicate.
func (ep *Instance) WaitContext(ctx context.Context, evs []Event) (int, error) {
	const call = "WaitContext"
	if len(evs) == 0 {
		return 0, invalid(call, -1, "empty event slice")
	}
	if !ep.fd.Opened() {
		return 0, ep.unusable(call)
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

// prepareParking registers the instance with the runtime poller on first
// use, and the cancellation callback for a new context.
func (ep *Instance) prepareParking(ctx context.Context, done <-chan struct{}) error {
	const call = "WaitContext"
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.isClosed() {
		// Checked under mu: Close collects w.stop under mu after it began.
		return closedError(call)
	}
	w := &ep.wc
	if ep.file == nil {
		if err := ep.registerParking(call); err != nil {
			return err
		}
		w.fn = ep.pollOnce
		w.cancel = ep.cancelPark
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

// registerParking hands the descriptor to the runtime poller. The runtime
// can refuse it (its epoll_ctl fails with ELOOP when the instance heads a
// four-level chain), and an os.File it refused still owns its number and
// can never be registered again. That file is kept as the owner of the
// number (Close closes through it), and later tries use a duplicate, which
// a refusal closes again: a refusal leaves the instance as it was, ready
// for a later try.
func (ep *Instance) registerParking(call string) error {
	if err := ep.acquire(call); err != nil {
		return err
	}
	defer ep.fd.Release()
	fd := ep.fd.Sysfd()
	// The runtime poller takes only non-blocking descriptors. O_NONBLOCK
	// is a file status flag shared by the whole open file description;
	// epoll_wait ignores it, so Wait is unaffected.
	if err := unix.SetNonblock(fd, true); err != nil {
		return callError("fcntl(O_NONBLOCK)", fd, err)
	}
	num := fd
	if ep.owner != nil {
		dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return callError("fcntl(F_DUPFD_CLOEXEC)", fd, err)
		}
		num = dup
	}
	f := os.NewFile(uintptr(num), "epoll")
	if f.SetReadDeadline(time.Time{}) != nil {
		// Deadlines exist only for files the runtime poller took.
		if num == fd {
			ep.owner = f
		} else {
			f.Close()
		}
		return refusedError(call, fd)
	}
	raw, _ := f.SyscallConn() // fails only for a nil *os.File
	ep.file, ep.fileDup, ep.raw = f, num != fd, raw
	return nil
}

// refusedError says why the runtime poller refused the instance. The
// runtime does not tell; a private instance asked the same question does:
// ELOOP when the instance heads four levels of nesting, ENOSPC when
// fs.epoll.max_user_watches is used up.
func refusedError(call string, fd int) error {
	errno := unix.ELOOP
	if probe, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC); err == nil {
		if e := ctlRaw(probe, unix.EPOLL_CTL_ADD, fd, In, 0); e != 0 {
			errno = e
		}
		unix.Close(probe)
	}
	e := errs.Call(pkg, call, fd, errno)
	e.Kind = errNotParkable
	return e
}

// errNotParkable classifies WaitContext's refusal.
var errNotParkable = errors.New("the Go runtime poller cannot watch this instance")

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
