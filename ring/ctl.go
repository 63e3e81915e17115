package ring

import (
	"fmt"

	"github.com/eventpoll/eventpoll/epoll"
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
// With EngineMultishot the ring submits an IORING_OP_POLL_ADD: multishot
// (it stays armed) unless events has OneShot. Registrations are
// edge-triggered whether events has Edge or not; Exclusive is refused with
// EINVAL (it needs EngineEpollWait); Wakeup is ignored. With
// EngineEpollWait it is epoll_ctl(EPOLL_CTL_ADD) with events as given, so
// omitting Edge means level triggering there.
//
// Errors (wrapped, naming the call and fd): ErrClosed; EINVAL for a
// negative fd or unknown event bits; EEXIST when fd is registered
// already; ENOSPC when the ring holds maxItems registrations; EBADF when fd
// is not open; EPERM with epoll.ErrNotPollable for a regular file, a
// directory or a device without poll support (/dev/null), which are always
// ready and cannot be watched; an
// io_uring_enter errno when the kernel would not take the request.
func (r *Ring) Add(fd int, events epoll.Events, data uint64) error {
	if err := r.checkArgs("Add", fd, events); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return ctlError("Add", fd, ErrClosed)
	}
	if _, ok := r.byFd[int32(fd)]; ok {
		return ctlError("Add", fd, unix.EEXIST)
	}
	if r.count == r.max {
		return ctlError("Add", fd, unix.ENOSPC)
	}
	idx := r.free[len(r.free)-1]
	s := &r.slots[idx]
	switch r.engine {
	case EngineMultishot:
		if err := checkPollable(fd); err != nil {
			return ctlError("Add", fd, err)
		}
		s.gen = (s.gen + 1) & genMask
		*s = slot{fd: int32(fd), gen: s.gen, events: events, data: data, live: true}
		if err := r.arm(idx); err != nil {
			// The request may still reach the kernel with a later
			// submission; queue its removal and make its tag stale.
			r.disarm(idx)
			s.live = false
			s.gen = (s.gen + 1) & genMask
			return ctlError("Add", fd, err)
		}
	case EngineEpollWait:
		gen := (s.gen + 1) & genMask
		if err := r.ep.Add(fd, events, makeTag(idx, gen)); err != nil {
			return fmt.Errorf("ring: Add: %w", err)
		}
		*s = slot{fd: int32(fd), gen: gen, events: events, data: data, live: true}
	}
	r.free = r.free[:len(r.free)-1]
	r.byFd[int32(fd)] = idx
	r.count++
	return nil
}

// Modify changes the readiness fd is registered for and the data its events
// carry, and re-arms a OneShot registration that has fired. Events
// already in the ring for fd are dropped; with EngineMultishot the new
// request reports fd's current readiness at once, so none is lost (this is
// what epoll_ctl(EPOLL_CTL_MOD) does too). With EngineMultishot it submits
// a POLL_REMOVE of the old request and a POLL_ADD of the new one in one
// io_uring_enter; with EngineEpollWait it is epoll_ctl(EPOLL_CTL_MOD).
//
// Errors: as for Add, with ENOENT when fd is not registered (and without
// EEXIST and ENOSPC). Exclusive is refused with EINVAL by either engine (the
// kernel refuses it in EPOLL_CTL_MOD).
func (r *Ring) Modify(fd int, events epoll.Events, data uint64) error {
	if err := r.checkArgs("Modify", fd, events); err != nil {
		return err
	}
	if events&epoll.Exclusive != 0 {
		return ctlError("Modify", fd, errArg("Exclusive is valid in Add only"))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return ctlError("Modify", fd, ErrClosed)
	}
	idx, ok := r.byFd[int32(fd)]
	if !ok {
		return ctlError("Modify", fd, unix.ENOENT)
	}
	s := &r.slots[idx]
	switch r.engine {
	case EngineMultishot:
		r.disarm(idx)
		s.gen = (s.gen + 1) & genMask
		s.events, s.data = events, data
		if err := r.arm(idx); err != nil {
			return ctlError("Modify", fd, err)
		}
	case EngineEpollWait:
		gen := (s.gen + 1) & genMask
		if err := r.ep.Modify(fd, events, makeTag(idx, gen)); err != nil {
			return fmt.Errorf("ring: Modify: %w", err)
		}
		s.gen, s.events, s.data = gen, events, data
	}
	return nil
}

// Delete removes fd's registration. When it returns, no event for it will
// be delivered, including events the kernel had already placed in the
// ring. With EngineMultishot it submits a POLL_REMOVE (the kernel then
// drops its reference on the file); with EngineEpollWait it is
// epoll_ctl(EPOLL_CTL_DEL). Call it before closing fd.
//
// Errors: ErrClosed; EINVAL for a negative fd; ENOENT when fd is not
// registered; an io_uring_enter errno when the kernel would not take the
// removal now (the registration is gone from the ring all the same, no
// event for it is delivered, and the removal is retried by the next Poll or
// Wait).
func (r *Ring) Delete(fd int) error {
	if fd < 0 {
		return ctlError("Delete", fd, errArg("negative file descriptor"))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return ctlError("Delete", fd, ErrClosed)
	}
	idx, ok := r.byFd[int32(fd)]
	if !ok {
		return ctlError("Delete", fd, unix.ENOENT)
	}
	var err error
	switch r.engine {
	case EngineMultishot:
		err = r.disarm(idx)
		if err == nil && r.u.SQSpace() < r.u.SQEntries() {
			_, err = r.submit()
		}
	case EngineEpollWait:
		// The epoll instance is ours and fd is in it, so DEL fails only if
		// fd was closed (EBADF); the registration is gone either way.
		if e := r.ep.Delete(fd); e != nil {
			err = e
		}
	}
	s := &r.slots[idx]
	s.live = false
	s.gen = (s.gen + 1) & genMask
	delete(r.byFd, int32(fd))
	r.free = append(r.free, idx)
	r.count--
	if err != nil {
		return ctlError("Delete", fd, err)
	}
	return nil
}

// arm queues and submits the slot's poll request under its current tag.
func (r *Ring) arm(idx uint32) error {
	if err := r.queueArm(idx); err != nil {
		return err
	}
	_, err := r.submit()
	return err
}

// queueArm prepares the slot's poll request without submitting it.
func (r *Ring) queueArm(idx uint32) error {
	s := &r.slots[idx]
	sqe := r.getSQE()
	if sqe == nil {
		return errSQFull
	}
	mask := uint32(s.events & pollBits)
	if s.events&epoll.OneShot != 0 {
		sqe.PrepPollAdd(int(s.fd), mask)
	} else {
		sqe.PrepPollMultishot(int(s.fd), mask)
	}
	sqe.UserData = makeTag(idx, s.gen)
	s.armed = true
	return nil
}

// disarm queues a POLL_REMOVE for the slot's request if one may be armed.
// The removal's own result and the request's final -ECANCELED completion
// are both dropped when they arrive: the first by its internal tag, the
// second because the caller moves the generation on.
func (r *Ring) disarm(idx uint32) error {
	s := &r.slots[idx]
	if !s.armed {
		return nil
	}
	s.armed = false
	sqe := r.getSQE()
	if sqe == nil {
		// The kernel refuses submissions for now; the next Poll or Wait
		// retries, so the file is not held forever.
		r.removes = append(r.removes, makeTag(idx, s.gen))
		return errSQFull
	}
	sqe.PrepPollRemove(makeTag(idx, s.gen))
	sqe.UserData = tagRemove
	return nil
}

func (r *Ring) checkArgs(call string, fd int, events epoll.Events) error {
	if fd < 0 || int64(fd) > int64(^uint32(0)>>1) {
		return ctlError(call, fd, errArg("file descriptor out of range"))
	}
	if events&^addable != 0 {
		return ctlError(call, fd, errArg(fmt.Sprintf("unknown event bits %#x", uint32(events&^addable))))
	}
	if r.engine == EngineMultishot && events&epoll.Exclusive != 0 {
		return ctlError(call, fd, errArg("Exclusive needs EngineEpollWait"))
	}
	return nil
}

// checkPollable refuses what epoll refuses with EPERM. A poll request on a
// regular file or directory completes at once, every time, so a multishot
// registration would end and be re-armed forever.
func checkPollable(fd int) error {
	var st unix.Stat_t
	for {
		err := unix.Fstat(fd, &st)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG, unix.S_IFDIR:
		return notPollable{}
	case unix.S_IFCHR:
		// Some character devices (/dev/null, /dev/zero) have no poll
		// support either, and only the kernel knows which: ask epoll, whose
		// EPERM is exactly "this file cannot be polled". Three system calls,
		// for character devices only.
		return probePollable(fd)
	}
	return nil
}

func probePollable(fd int) error {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(ep)
	err = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN})
	if err == unix.EPERM {
		return notPollable{}
	}
	return err
}

// notPollable matches both unix.EPERM and epoll.ErrNotPollable, as epoll's
// Add does for the same files.
type notPollable struct{}

func (notPollable) Error() string { return epoll.ErrNotPollable.Error() + " (EPERM)" }
func (notPollable) Is(target error) bool {
	return target == unix.EPERM || target == epoll.ErrNotPollable
}

// argError is an argument error found before any system call; it matches
// unix.EINVAL.
type argError string

func errArg(why string) error           { return argError(why) }
func (e argError) Error() string        { return string(e) + " (EINVAL)" }
func (e argError) Is(target error) bool { return target == unix.EINVAL }
func ctlError(call string, fd int, err error) error {
	return fmt.Errorf("ring: %s fd %d: %w", call, fd, err)
}

var errSQFull = fmt.Errorf("submission queue full and the kernel refused a submission: %w", unix.EBUSY)
