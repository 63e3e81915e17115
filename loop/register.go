package loop

import (
	"errors"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/errs"
	"github.com/eventpoll/eventpoll/internal/token"
	"golang.org/x/sys/unix"
)

// fault is a deferred change the kernel refused, reported after the flush
// that found it.
type fault struct {
	t   Token
	err error
}

// Register watches fd for the events in ev and returns the Token its events
// will carry to h. fd must be non-blocking; it stays the caller's, who must
// Unregister it before closing it (or hand it to UnregisterClose).
//
// Called on the loop's goroutine while Run runs (from a handler, a posted
// function or a timer), the registration is deferred: it is added to the
// kernel's interest set with the iteration's other changes, in one batch,
// before the loop waits again, and readiness the file already has is
// reported then. If the kernel refuses it (EPERM for a regular file, EEXIST
// for a descriptor registered twice, EBADF for one closed in between), h
// receives one event epoll.Err|epoll.Hup, the fault handler is told why, and
// the registration is removed. Called before Run, or after Run returned,
// the registration is made at once and the kernel's refusal is returned.
//
// Errors: EBADF for a descriptor number the kernel cannot have (negative or
// beyond the int32 range); EINVAL for unknown event bits or flags the
// engine does not support (see Caps); ErrClosed after Close; when made at
// once, every error of epoll.Instance.Add.
func (l *Loop) Register(fd int, ev epoll.Events, h Handler) (Token, error) {
	const call = "Register"
	if err := l.checkUsable(call); err != nil {
		return 0, err
	}
	if !errs.ValidFd(fd) {
		return 0, errs.BadFd(pkg, call, fd)
	}
	if h == nil {
		return 0, errs.Invalid(pkg, call, fd, "nil handler")
	}
	if err := l.checkCmd(call, epoll.OpAdd, fd, ev); err != nil {
		return 0, err
	}
	tok, r, _ := l.regs.Alloc()
	*r = reg{fd: int32(fd), ev: ev, h: h}
	t := Token(tok)
	l.queueAdd(t, r)
	if !l.inLoop {
		if err := l.applyNow(call, fd); err != nil {
			l.regs.Free(tok)
			return 0, err
		}
	}
	return t, nil
}

// Modify changes the events t's registration watches for (the data stays
// t). It re-arms a OneShot registration. On the loop's goroutine while Run
// runs the change is deferred to the end of the iteration and merged with
// the iteration's other changes to the same registration (a Register and a
// Modify make one Add of the last events; two Modifies make one; a Modify
// that changes nothing on a level-triggered registration is dropped); a
// refusal by the kernel is reported as for Register. Otherwise it is
// applied at once.
//
// Errors: ENOENT when t is not a live registration of this loop; EINVAL for
// bad events, and for any Modify of a registration made with Exclusive,
// which the kernel would refuse; ErrClosed; when applied at once, every
// error of epoll.Instance.Modify.
func (l *Loop) Modify(t Token, ev epoll.Events) error {
	const call = "Modify"
	if err := l.checkUsable(call); err != nil {
		return err
	}
	r := l.regs.Get(token.Token(t))
	if r == nil {
		return errs.Call(pkg, call, -1, unix.ENOENT)
	}
	if err := l.checkCmd(call, epoll.OpModify, int(r.fd), ev); err != nil {
		return err
	}
	if r.ev&epoll.Exclusive != 0 {
		return errs.Invalid(pkg, call, int(r.fd), "an Exclusive registration cannot be modified")
	}
	l.queueModify(t, r, ev)
	if !l.inLoop {
		return l.applyNow(call, int(r.fd))
	}
	return nil
}

// Unregister removes t's registration. It is immediate, wherever it is
// called: when it returns the kernel no longer watches the descriptor (the
// iteration's pending changes are applied with it, in order), so the caller
// may close the descriptor; and no event for t reaches its handler from now
// on, neither one still in the kernel's ready list nor one later in the
// batch being dispatched. A registration whose Add was still pending costs
// no system call at all.
//
// Errors: ENOENT when t is not a live registration of this loop; ErrClosed
// after Close, when the registration is removed all the same and no change
// queued for it reaches the kernel. The kernel's own refusal of the removal
// (EBADF: the descriptor was closed before Unregister, which removed the
// registration already unless a dup keeps the file open) is returned, but
// the registration is gone from the loop all the same.
func (l *Loop) Unregister(t Token) error {
	const call = "Unregister"
	if err := l.checkUsable(call); err != nil {
		// Closed, but maybe still running the rest of an iteration or a
		// posted function on its way out: the registration goes all the
		// same, so no event reaches h and the caller may close the
		// descriptor (the loop applies no more changes; see flush).
		if l.regs != nil && l.regs.Get(token.Token(t)) != nil {
			l.regs.Free(token.Token(t))
		}
		return err
	}
	r := l.regs.Get(token.Token(t))
	if r == nil {
		return errs.Call(pkg, call, -1, unix.ENOENT)
	}
	fd := int(r.fd)
	l.queueDelete(r)
	l.regs.Free(token.Token(t))
	return l.applyNow(call, fd)
}

// UnregisterClose removes t's registration and closes its descriptor,
// which the loop now owns: the caller must not close it or use the number
// again. No event for t reaches its handler from now on. On the loop's
// goroutine while Run runs, the removal joins the iteration's batch of
// changes (and cancels a pending Register of the same iteration: a
// descriptor registered and released within one iteration costs no
// epoll_ctl at all) and the descriptor is closed right after that batch;
// because it stays open until then, its number cannot be reused by another
// open in between. Otherwise both happen at once.
//
// Errors: ENOENT when t is not a live registration of this loop; ErrClosed
// (the descriptor is still closed).
func (l *Loop) UnregisterClose(t Token) error {
	const call = "UnregisterClose"
	r := l.regs.Get(token.Token(t))
	if r == nil {
		return errs.Call(pkg, call, -1, unix.ENOENT)
	}
	fd := int(r.fd)
	if err := l.checkUsable(call); err != nil {
		l.regs.Free(token.Token(t))
		unix.Close(fd)
		return err
	}
	l.queueDelete(r)
	l.regs.Free(token.Token(t))
	l.closeq = append(l.closeq, fd)
	if !l.inLoop {
		l.flush()
	}
	return nil
}

// Registered reports whether t is a live registration of the loop.
func (l *Loop) Registered(t Token) bool { return l.regs.Get(token.Token(t)) != nil }

// Fd returns the descriptor of t's registration, or -1 when t is not live.
func (l *Loop) Fd(t Token) int {
	if r := l.regs.Get(token.Token(t)); r != nil {
		return int(r.fd)
	}
	return -1
}

func (l *Loop) isClosed() bool {
	l.pmu.Lock()
	defer l.pmu.Unlock()
	return l.closed
}

func (l *Loop) checkUsable(call string) error {
	if l == nil || l.regs == nil {
		return errs.NotCreated(pkg, call)
	}
	l.pmu.Lock()
	closed := l.closed
	l.pmu.Unlock()
	if closed {
		return errs.Closed(pkg, call)
	}
	return nil
}

// checkEvents refuses what the engine cannot honour, before any queueing.
func (l *Loop) checkEvents(call string, fd int, ev epoll.Events) error {
	caps := l.p.Caps()
	switch {
	case ev&epoll.Edge == 0 && caps&epoll.CapLevel == 0:
		return errs.Invalid(pkg, call, fd, "level triggering unsupported by engine "+l.engine.String()+": add epoll.Edge")
	case ev&epoll.Exclusive != 0 && caps&epoll.CapExclusive == 0:
		return errs.Invalid(pkg, call, fd, "Exclusive unsupported by engine "+l.engine.String())
	}
	return nil
}

// applyNow flushes the pending changes at once and returns the kernel's
// answer to the last command for fd.
func (l *Loop) applyNow(call string, fd int) error {
	cmds, err := l.applyChanges()
	var be *epoll.BatchError
	if err != nil && !errors.As(err, &be) {
		l.flushCloses()
		return errs.Call(pkg, call, fd, err)
	}
	l.countBatch(len(cmds))
	var result error
	for i := range cmds {
		c := &cmds[i]
		if c.Fd == fd {
			result = c.Result
			continue
		}
		if c.Result != nil {
			l.noteFailure(c)
		}
	}
	l.flushCloses()
	if !l.inLoop {
		l.reportFaults()
	}
	if result != nil {
		return errs.Call(pkg, call, fd, result)
	}
	return nil
}

// flush applies the iteration's changes in one batch, closes the
// descriptors handed over with UnregisterClose, and reports the changes
// the kernel refused.
func (l *Loop) flush() {
	if len(l.cmds) > 0 && l.stopReq.Load() && l.isClosed() {
		// Closed: the poller is about to go, and with it every
		// registration. A change queued for a descriptor that the caller
		// has unregistered (or handed over) since Close and closed would
		// reach the kernel under a number another file may have now.
		l.flushCloses()
		return
	}
	if len(l.cmds) > 0 {
		cmds, err := l.applyChanges()
		var be *epoll.BatchError
		if err != nil && !errors.As(err, &be) {
			// ErrClosed: the poller is gone, and with it every registration.
			l.flushCloses()
			return
		}
		l.countBatch(len(cmds))
		if err != nil {
			for i := range cmds {
				if cmds[i].Result != nil {
					l.noteFailure(&cmds[i])
				}
			}
		}
	}
	l.flushCloses()
	l.reportFaults()
}

// countBatch counts a batch of n commands applied (none: no batch).
func (l *Loop) countBatch(n int) {
	if n > 0 {
		l.st.changes += uint64(n)
		l.st.batches++
	}
}

// noteFailure records a refused Add or Modify of a live registration; a
// refused Delete needs nothing (the registration is gone either way).
func (l *Loop) noteFailure(c *epoll.Cmd) {
	if c.Op == epoll.OpDelete {
		return
	}
	t := Token(c.Data)
	if l.regs.Get(token.Token(t)) == nil {
		return
	}
	l.faults = append(l.faults, fault{t: t, err: errs.Call(pkg, "apply "+c.Op.String(), c.Fd, c.Result)})
}

// reportFaults tells the handlers and the fault handler about refused
// changes, and removes those registrations.
func (l *Loop) reportFaults() {
	// A handler told of its fault may make changes that fault in turn: they
	// are appended and reported by this same loop.
	for i := 0; i < len(l.faults); i++ {
		f := l.faults[i]
		r := l.regs.Get(token.Token(f.t))
		if r == nil {
			continue
		}
		l.st.faults++
		l.cfg.fault(f.t, f.err)
		l.call(r.h, f.t, epoll.Err|epoll.Hup)
		if r := l.regs.Get(token.Token(f.t)); r != nil {
			// Not registered in the kernel: drop it without a Delete.
			l.regs.Free(token.Token(f.t))
		}
	}
	l.faults = l.faults[:0]
}

func (l *Loop) flushCloses() {
	for _, fd := range l.closeq {
		unix.Close(fd)
	}
	l.closeq = l.closeq[:0]
}

// handlerPanicked removes the registration whose handler panicked and
// reports the panic.
func (l *Loop) handlerPanicked(t Token, v any) {
	l.st.faults++
	l.st.panics++
	err := newPanicError(t, v)
	if r := l.regs.Get(token.Token(t)); r != nil && t != 0 {
		l.Unregister(t)
	}
	l.cfg.fault(t, err)
}
