package epoll

import (
	"unsafe"

	"github.com/eventpoll/eventpoll/internal/errs"

	"golang.org/x/sys/unix"
)

// Add registers fd in the interest set with epoll_ctl(EPOLL_CTL_ADD),
// asking for the events in ev, and attaches data, which every event for
// this registration carries back unchanged (Event.Data).
//
// If fd is already ready when it is added, the next Wait reports it: the
// kernel polls the file during the add, closing the race of the 2002
// patch in which readiness that happened before the add was lost.
//
// A registration belongs to the open file description, not to the number
// fd: a dup of fd keeps it alive after fd is closed, and events keep coming
// for a number that may now name another file. Delete before closing.
//
// Errors (each an *Error naming the call, wrapping the errno):
//   - EEXIST: fd is already registered; use Modify.
//   - EBADF: fd is not open, or is a number no descriptor can have
//     (negative, or above the int32 range), refused before the system call.
//   - ErrNotPollable (and EPERM): fd is a regular file or directory.
//   - EINVAL: ev has unknown bits; Exclusive combined with OneShot; fd is this
//     instance itself.
//   - ELOOP: fd is an epoll instance and adding it would make a cycle, or a
//     chain of more than five instances (four levels of nesting) under any
//     instance at the top. An instance that WaitContext has used counts as
//     nested in the runtime's own instance (see WaitContext).
//   - ENOMEM, ENOSPC: the kernel or /proc/sys/fs/epoll/max_user_watches is
//     out of room.
//   - ErrClosed: the instance was closed; ErrNotCreated (which matches
//     ErrClosed) on the zero Instance.
func (ep *Instance) Add(fd int, ev Events, data uint64) error {
	return ep.ctl(unix.EPOLL_CTL_ADD, fd, ev, data)
}

// Modify changes the events and data of fd's registration with
// epoll_ctl(EPOLL_CTL_MOD). It re-arms a OneShot registration that has
// fired. If the file is ready for the new events, the next Wait reports it.
//
// Errors: ENOENT when fd is not registered; EINVAL when ev contains
// Exclusive or fd's registration was made with Exclusive (the kernel
// forbids modifying those); EBADF, ErrClosed and unknown bits as for Add.
func (ep *Instance) Modify(fd int, ev Events, data uint64) error {
	return ep.ctl(unix.EPOLL_CTL_MOD, fd, ev, data)
}

// Delete removes fd's registration with epoll_ctl(EPOLL_CTL_DEL). Events
// already queued for it are discarded by the kernel: no later Wait reports
// them.
//
// Errors: ENOENT when fd is not registered; EBADF when fd is not open
// (a registration whose fd was closed is already gone unless a dup keeps the
// file open) or out of range, as for Add; ErrClosed when the instance was
// closed.
func (ep *Instance) Delete(fd int) error {
	return ep.ctl(unix.EPOLL_CTL_DEL, fd, 0, 0)
}

var ctlCalls = [...]string{
	unix.EPOLL_CTL_ADD: "epoll_ctl(ADD)",
	unix.EPOLL_CTL_DEL: "epoll_ctl(DEL)",
	unix.EPOLL_CTL_MOD: "epoll_ctl(MOD)",
}

func (ep *Instance) ctl(op, fd int, ev Events, data uint64) error {
	if err := checkCtl(op, fd, ev); err != nil {
		return err
	}
	if !ep.fd.Acquire() {
		return ep.unusable(ctlCalls[op])
	}
	errno := ctlRaw(ep.fd.Sysfd(), op, fd, ev, data)
	ep.fd.Release()
	if errno != 0 {
		return ctlError(op, fd, errno)
	}
	return nil
}

// checkCtl validates arguments before the system call, so the error names
// the cause instead of a bare EINVAL. A number outside the int32 range would
// reach the kernel cut to its low 32 bits, naming another descriptor: it is
// refused here with the EBADF the kernel gives for a negative one.
func checkCtl(op, fd int, ev Events) error {
	if !errs.ValidFd(fd) {
		return errs.BadFd(pkg, ctlCalls[op], fd)
	}
	if op == unix.EPOLL_CTL_DEL {
		return nil
	}
	if ev&^interestMask != 0 {
		return invalid(ctlCalls[op], fd, "unknown event bits "+(ev&^interestMask).String())
	}
	if ev&Exclusive != 0 && ev&OneShot != 0 {
		return invalid(ctlCalls[op], fd, "Exclusive cannot be combined with OneShot")
	}
	if op == unix.EPOLL_CTL_MOD && ev&Exclusive != 0 {
		return invalid(ctlCalls[op], fd, "Exclusive is allowed only in Add")
	}
	return nil
}

func ctlError(op, fd int, errno unix.Errno) error {
	e := errs.Call(pkg, ctlCalls[op], fd, errno)
	if errno == unix.EPERM && op == unix.EPOLL_CTL_ADD {
		e.Kind = ErrNotPollable
	}
	return e
}

// ctlRaw issues epoll_ctl without entering the scheduler: it never blocks
// for long (a mutex on the instance), so the cost of entersyscall is saved.
// The event lives on the stack; the kernel copies it before returning.
func ctlRaw(epfd, op, fd int, ev Events, data uint64) unix.Errno {
	var e Event
	e.Events = ev
	e.SetData(data)
	_, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd),
		uintptr(unsafe.Pointer(&e)), 0, 0)
	return errno
}
