package ring

import (
	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/errs"
	"github.com/eventpoll/eventpoll/internal/token"
	"golang.org/x/sys/unix"
)

// pollBits are the readiness bits poll(2) and epoll share (POLLIN ==
// EPOLLIN and so on, in the low 16 bits); the flag bits above them are
// epoll's alone.
const pollBits = epoll.In | epoll.Pri | epoll.Out | epoll.Err | epoll.Hup |
	epoll.RDNorm | epoll.RDBand | epoll.WRNorm | epoll.WRBand | epoll.Msg | epoll.RDHup

// addable are the bits Add and Modify accept.
const addable = pollBits | epoll.Exclusive | epoll.Wakeup | epoll.OneShot | epoll.Edge

// Add registers fd for the readiness in events, to be reported with data.
// If fd is ready already, the first event reports it.
//
// The registration belongs to the open file fd names now. With
// EngineEpollWait it is epoll_ctl(EPOLL_CTL_ADD) on the epoll instance
// behind the ring, with events as given, so omitting Edge means level
// triggering there. With EngineMultishot it is an IORING_OP_POLL_ADD:
// multishot (it stays armed) unless events has OneShot; for an anonymous
// file (an eventfd, timerfd, signalfd, pidfd...) the ring first makes a
// duplicate of fd (fcntl F_DUPFD_CLOEXEC), which it polls and keeps until
// Delete (see the package documentation: Closing a registered descriptor). Registrations there are
// edge-triggered whether events has Edge or not; Exclusive is refused with
// EINVAL (it needs EngineEpollWait); Wakeup is ignored.
//
// Errors (each an *epoll.Error naming "ring", Add and fd): ErrClosed;
// EBADF for an fd outside [0, 2^31-1] (before any system call), an fd that
// is not open, or an O_PATH descriptor; EINVAL for unknown event bits, or
// Exclusive with OneShot; EEXIST when the file fd names is registered
// already; ENOSPC when the ring holds maxItems registrations; EPERM with
// epoll.ErrNotPollable for a regular file, a directory or a device without
// poll support (/dev/null), which are always ready and cannot be watched;
// with EngineEpollWait ELOOP, ENOMEM and ENOSPC from epoll_ctl as
// epoll.Instance.Add says; with EngineMultishot EMFILE when the process has
// no descriptor left for an anonymous file's duplicate, and EBUSY or another io_uring_enter
// errno when the kernel would take no request.
//
// If fd's number is registered but names another file now (it was closed
// and reused without Delete), Add registers the new file and drops the old
// registration, as Modify and Delete do.
func (r *Ring) Add(fd int, events epoll.Events, data uint64) error {
	return r.ctl(epoll.Cmd{Op: epoll.OpAdd, Fd: fd, Events: events, Data: data})
}

// Modify changes the readiness fd is registered for and the data its events
// carry, and re-arms a OneShot registration that has fired. Events
// already in the ring for fd are dropped; the new registration reports fd's
// current readiness at once, so none is lost (this is what
// epoll_ctl(EPOLL_CTL_MOD) does too). With EngineEpollWait it is
// epoll_ctl(EPOLL_CTL_MOD); with EngineMultishot a check of which file the
// number names (one fcntl or fstat), then a POLL_REMOVE of the old request
// and a POLL_ADD of the new one in one io_uring_enter.
//
// Errors: as for Add, without EEXIST and ENOSPC, and with ENOENT when fd is
// not registered. When fd's number is registered but was closed (EBADF) or
// names another file now (ENOENT), both engines answer so and drop the
// registration: no event for it is delivered after Modify returns.
// Exclusive is refused with EINVAL by either engine (the kernel refuses it
// in EPOLL_CTL_MOD), and so is any Modify of a registration made with
// Exclusive.
func (r *Ring) Modify(fd int, events epoll.Events, data uint64) error {
	return r.ctl(epoll.Cmd{Op: epoll.OpModify, Fd: fd, Events: events, Data: data})
}

// Delete removes fd's registration. When it returns, no event for it will
// be delivered, including events the kernel had already placed in the
// ring. With EngineEpollWait it is epoll_ctl(EPOLL_CTL_DEL); with
// EngineMultishot a check of which file the number names, a POLL_REMOVE
// (the kernel then drops its reference on the file) and the close of the
// ring's duplicate. Call it before closing fd.
//
// Errors: ErrClosed; EBADF for an fd outside [0, 2^31-1]; ENOENT when fd
// is not registered. When fd was closed before Delete (EBADF) or its number
// names another file now (ENOENT), both engines answer so and remove the
// registration all the same. EBUSY or another io_uring_enter errno when
// the kernel would take no removal now: the registration is gone from the
// ring all the same, no event for it is delivered, and the removal is
// retried by the next Poll or Wait.
func (r *Ring) Delete(fd int) error {
	return r.ctl(epoll.Cmd{Op: epoll.OpDelete, Fd: fd})
}

// ctl runs one interest command.
func (r *Ring) ctl(c epoll.Cmd) error {
	call := ctlCalls[c.Op]
	if err := r.checkCmd(call, &c); err != nil {
		return err
	}
	if !r.fd.Acquire() {
		return r.closedError(call)
	}
	r.mu.Lock()
	err := r.apply(&c)
	if r.engine == EngineMultishot {
		r.submitQueued()
	}
	r.mu.Unlock()
	r.fd.Release()
	return err
}

// checkCmd refuses, before any system call, what the kernel would refuse
// or cannot be given: numbers no descriptor can have, unknown bits, and
// Exclusive where epoll forbids it or the engine cannot honour it.
func (r *Ring) checkCmd(call string, c *epoll.Cmd) error {
	if !errs.ValidFd(c.Fd) {
		return errs.BadFd(pkg, call, c.Fd)
	}
	if c.Op == epoll.OpDelete {
		return nil
	}
	ev := c.Events
	switch {
	case ev&^addable != 0:
		return errs.Invalid(pkg, call, c.Fd, "unknown event bits "+(ev&^addable).String())
	case ev&epoll.Exclusive == 0:
		return nil
	case r.engine == EngineMultishot:
		return errs.Invalid(pkg, call, c.Fd, "Exclusive needs EngineEpollWait")
	case c.Op == epoll.OpModify:
		return errs.Invalid(pkg, call, c.Fd, "Exclusive is valid in Add only")
	case ev&epoll.OneShot != 0:
		return errs.Invalid(pkg, call, c.Fd, "Exclusive cannot be combined with OneShot")
	}
	return nil
}

// A change is one interest command on its way through the ring: what the
// ring answers without asking the kernel, or which registration the
// command acts on and the tag the kernel's registration will carry.
//
// Which file a number names decides the answer. With EngineEpollWait the
// epoll instance behind the ring judges: the kernel keys its registrations
// by open file and number together, so ADD gives EEXIST only if that very
// file is registered under that number, MOD and DEL give ENOENT when the
// number now names another file and EBADF when it names none. With
// EngineMultishot the ring asks the same question itself (file.go) and
// gives the same answers. The ring keeps its table (byFd) in step.
type change struct {
	tok  token.Token // the registration acted on (Modify, Delete), or the new slot (Add)
	old  bool        // Add: tok is the registration the number already had
	tag  token.Token // the data the kernel's registration is given
	sent bool        // the command goes to the kernel
	err  error       // the ring's own answer, when not sent
	file fileID      // EngineMultishot Add: the file the number names
}

// prepare decides what a command needs. r.mu is held.
func (r *Ring) prepare(c *epoll.Cmd) change {
	tok, ok := r.byFd[int32(c.Fd)]
	switch c.Op {
	case epoll.OpAdd:
		if ok {
			// Registered already: EEXIST if the kernel finds the same file,
			// else the number was reused and the slot will take the new file.
			return change{tok: tok, old: true, tag: token.Renewed(tok), sent: true}
		}
		tok, _, ok = r.regs.Alloc()
		if !ok {
			return change{err: ctlError("Add", c.Fd, unix.ENOSPC)}
		}
		return change{tok: tok, tag: tok, sent: true}
	case epoll.OpModify:
		if !ok {
			return change{err: ctlError("Modify", c.Fd, unix.ENOENT)}
		}
		return change{tok: tok, tag: token.Renewed(tok), sent: true}
	default:
		if !ok {
			return change{err: ctlError("Delete", c.Fd, unix.ENOENT)}
		}
		return change{tok: tok, tag: tok, sent: true}
	}
}

// kernelCmd is the epoll_ctl a change makes with EngineEpollWait.
func (r *Ring) kernelCmd(c *epoll.Cmd, ch *change) epoll.Cmd {
	return epoll.Cmd{Op: c.Op, Fd: c.Fd, Events: c.Events, Data: uint64(ch.tag)}
}

// kernelCtl makes that epoll_ctl.
func (r *Ring) kernelCtl(k *epoll.Cmd) error {
	switch k.Op {
	case epoll.OpAdd:
		return r.ep.Add(k.Fd, k.Events, k.Data)
	case epoll.OpModify:
		return r.ep.Modify(k.Fd, k.Events, k.Data)
	}
	return r.ep.Delete(k.Fd)
}

// fileCheck is EngineMultishot's answer in place of the epoll_ctl: what
// the kernel would say of the file the number names (file.go).
func (r *Ring) fileCheck(c *epoll.Cmd, ch *change) error {
	if c.Op != epoll.OpAdd || ch.old {
		err := sameFile(c.Fd, &r.regs.Get(ch.tok).file)
		if c.Op != epoll.OpAdd || err != unix.ENOENT {
			if c.Op == epoll.OpAdd && err == nil {
				return unix.EEXIST
			}
			return err
		}
		// Add of a number closed and reused without Delete: the new file
		// is registered in the old one's place.
	}
	var err error
	ch.file, err = inspect(c.Fd)
	return err
}

// apply runs one command: prepare, the kernel's answer, finish. r.mu is
// held.
func (r *Ring) apply(c *epoll.Cmd) error {
	ch := r.prepare(c)
	if !ch.sent {
		return ch.err
	}
	if r.engine == EngineMultishot {
		return r.finish(c, &ch, r.fileCheck(c, &ch))
	}
	k := r.kernelCmd(c, &ch)
	return r.finish(c, &ch, r.kernelCtl(&k))
}

// finish makes the ring's table agree with the kernel's answer kerr and,
// with EngineMultishot, queues the poll requests. It returns the command's
// result. r.mu is held.
func (r *Ring) finish(c *epoll.Cmd, ch *change, kerr error) error {
	call := ctlCalls[c.Op]
	errno := errnoOf(kerr)
	switch c.Op {
	case epoll.OpAdd:
		return r.finishAdd(c, ch, kerr, errno)
	case epoll.OpModify:
		switch {
		case kerr == nil:
			return r.commitModify(c, ch)
		case errno == unix.ENOENT || errno == unix.EBADF:
			// The number was closed, or names another file: the
			// registration can no longer be reached by it.
			r.drop(ch.tok)
		}
		return ctlError(call, c.Fd, kerr)
	}
	err := r.drop(ch.tok)
	if kerr != nil {
		return ctlError(call, c.Fd, kerr)
	}
	if err != nil {
		return ctlError(call, c.Fd, err)
	}
	return nil
}

func (r *Ring) finishAdd(c *epoll.Cmd, ch *change, kerr error, errno unix.Errno) error {
	if errno == unix.EEXIST && !ch.old {
		// The kernel holds a registration of this very file under this
		// number that the ring had let go of: one whose Delete or Modify
		// found the number closed while a duplicate kept the file open, and
		// the file is back under its old number. Take it over.
		r.ep.Delete(c.Fd)
		k := r.kernelCmd(c, ch)
		kerr = r.kernelCtl(&k)
	}
	if kerr != nil {
		if !ch.old {
			r.regs.Free(ch.tok)
		}
		return ctlError("Add", c.Fd, kerr)
	}
	tok := ch.tok
	if ch.old {
		// The number was closed and reused without Delete: the old
		// registration is dropped and its slot takes the new file.
		r.retire(tok)
		r.regs.Get(tok).file.release()
		tok = r.regs.Renew(tok)
	}
	r.byFd[int32(c.Fd)] = tok
	s := r.regs.Get(tok)
	*s = slot{fd: int32(c.Fd), events: c.Events, data: c.Data, file: ch.file}
	r.ew.changed(tok)
	if r.engine == EngineMultishot {
		if err := r.queueArm(tok, s); err != nil {
			r.drop(tok)
			return ctlError("Add", c.Fd, err)
		}
	}
	return nil
}

func (r *Ring) commitModify(c *epoll.Cmd, ch *change) error {
	r.retire(ch.tok)
	tok := r.regs.Renew(ch.tok)
	r.byFd[int32(c.Fd)] = tok
	s := r.regs.Get(tok)
	s.events, s.data, s.dead, s.fired = c.Events, c.Data, false, false
	r.ew.changed(tok)
	if r.engine == EngineMultishot {
		if err := r.queueArm(tok, s); err != nil {
			// The change stands; the next Poll or Wait arms it.
			r.rearm = append(r.rearm, tok)
			return ctlError("Modify", c.Fd, err)
		}
	}
	return nil
}

// retire ends what the kernel does for a registration whose token is about
// to move on or be freed: its multishot request is removed, and with
// EngineEpollWait the change is recorded (see epollWait.changed).
func (r *Ring) retire(tok token.Token) error {
	r.ew.changed(tok)
	if r.engine == EngineMultishot {
		return r.disarm(tok)
	}
	return nil
}

// drop removes a registration from the ring. r.mu is held.
func (r *Ring) drop(tok token.Token) error {
	s := r.regs.Get(tok)
	if s == nil {
		return nil
	}
	err := r.retire(tok)
	// The request, if still armed, holds the file itself until its
	// removal lands: the duplicate can go now.
	s.file.release()
	if r.byFd[s.fd] == tok {
		delete(r.byFd, s.fd)
	}
	r.regs.Free(tok)
	return err
}

// queueArm prepares the slot's poll request under tok without submitting
// it.
func (r *Ring) queueArm(tok token.Token, s *slot) error {
	sqe, err := r.getSQE()
	if err != nil {
		return err
	}
	mask := uint32(s.events & pollBits)
	if fd := int(s.file.pollFd(s.fd)); s.events&epoll.OneShot != 0 {
		sqe.PrepPollAdd(fd, mask)
	} else {
		sqe.PrepPollMultishot(fd, mask)
	}
	sqe.UserData = uint64(tok)
	s.armed = true
	return nil
}

// disarm queues a POLL_REMOVE for the slot's request if one may be armed.
// The removal's own result and the request's final -ECANCELED completion
// are both dropped when they arrive: the first by its internal tag, the
// second because the caller moves the generation on.
func (r *Ring) disarm(tok token.Token) error {
	s := r.regs.Get(tok)
	if s == nil || !s.armed {
		return nil
	}
	s.armed = false
	sqe, err := r.getSQE()
	if err != nil {
		// The kernel refuses submissions for now; the next Poll or Wait
		// retries, so the file is not held forever.
		r.removes = append(r.removes, uint64(tok))
		return err
	}
	sqe.PrepPollRemove(uint64(tok))
	sqe.UserData = tagRemove
	return nil
}
