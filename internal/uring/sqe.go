package uring

import (
	"math/bits"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Op is an io_uring opcode (IORING_OP_*).
type Op uint8

// The opcodes eventpoll uses. The numbers are the kernel's ABI.
const (
	OpNop         Op = 0  // IORING_OP_NOP: completes at once with res 0
	OpPollAdd     Op = 6  // IORING_OP_POLL_ADD: one-shot or multishot poll on an fd (multishot since 5.13)
	OpPollRemove  Op = 7  // IORING_OP_POLL_REMOVE: cancel or update a poll request
	OpTimeout     Op = 11 // IORING_OP_TIMEOUT: completes after a time or after N other completions
	OpAsyncCancel Op = 14 // IORING_OP_ASYNC_CANCEL: cancel a request by user_data (or fd)
	OpEpollCtl    Op = 29 // IORING_OP_EPOLL_CTL: epoll_ctl(2) as a request (5.6)
	OpEpollWait   Op = 59 // IORING_OP_EPOLL_WAIT: epoll_wait(2) as a request (6.15)
)

// SQE flags (IOSQE_*), set in SQE.Flags.
const (
	// FlagLink links this SQE to the next: the next starts only after this
	// one completes successfully. When a linked request fails, every request
	// after it in the chain completes with -ECANCELED. The chain ends at the
	// first SQE without FlagLink.
	FlagLink uint8 = 1 << 2
	// FlagHardLink links like FlagLink, but a failure does not cancel the
	// rest of the chain.
	FlagHardLink uint8 = 1 << 3
	// FlagCQESkipSuccess posts no CQE when the request succeeds; a failure
	// still posts one (5.17, FeatCQESkip).
	FlagCQESkipSuccess uint8 = 1 << 6
)

// CQE flags (IORING_CQE_F_*).
const (
	// CQEFMore says the request stays armed and will post more CQEs
	// (multishot). A multishot CQE without it is the request's last.
	CQEFMore uint32 = 1 << 1
)

// POLL_ADD and poll-update flags, carried in the SQE's len field.
const (
	PollAddMulti       uint32 = 1 << 0 // IORING_POLL_ADD_MULTI: stay armed, post a CQE per wake-up
	PollUpdateEvents   uint32 = 1 << 1 // IORING_POLL_UPDATE_EVENTS: replace the event mask
	PollUpdateUserData uint32 = 1 << 2 // IORING_POLL_UPDATE_USER_DATA: replace the user_data
)

// TIMEOUT flags.
const (
	TimeoutAbs          uint32 = 1 << 0 // the timespec is an absolute time
	TimeoutBoottime     uint32 = 1 << 2 // measure on CLOCK_BOOTTIME
	TimeoutRealtime     uint32 = 1 << 3 // measure on CLOCK_REALTIME
	TimeoutETimeSuccess uint32 = 1 << 5 // an expiry counts as success for links
)

// ASYNC_CANCEL flags.
const (
	CancelAll uint32 = 1 << 0 // cancel every match, not only the first
	CancelFd  uint32 = 1 << 1 // match on the SQE's fd instead of user_data
	CancelAny uint32 = 1 << 2 // match every request
)

// SQE is struct io_uring_sqe: one 64-byte submission queue entry, laid out
// as the kernel reads it. Unions are named for the field this package uses;
// OpFlags is the 32-bit union of rw_flags, poll32_events, timeout_flags,
// cancel_flags and their kin.
//
// A *SQE from GetSQE points into memory shared with the kernel. It is the
// caller's to fill until the next Submit; the Prep methods overwrite every
// field they give meaning to, and GetSQE hands out zeroed entries, so a
// Prep call followed by optional Flags and UserData assignments is a complete
// request.
type SQE struct {
	Opcode      uint8
	Flags       uint8
	IOPrio      uint16
	Fd          int32
	Off         uint64
	Addr        uint64
	Len         uint32
	OpFlags     uint32
	UserData    uint64
	BufIndex    uint16
	Personality uint16
	SpliceFdIn  int32
	Addr3       uint64
	_           uint64
}

// CQE is struct io_uring_cqe: one 16-byte completion queue entry.
type CQE struct {
	UserData uint64 // the SQE's UserData
	Res      int32  // the result: >= 0 on success, -errno on failure
	Flags    uint32 // IORING_CQE_F_* bits
}

// Err returns nil when the request succeeded and the kernel's errno when it
// failed (Res < 0), so errors.Is(c.Err(), unix.EEXIST) works.
func (c CQE) Err() error {
	if c.Res >= 0 {
		return nil
	}
	return unix.Errno(-c.Res)
}

// More reports whether the multishot request behind c will post more CQEs.
func (c CQE) More() bool { return c.Flags&CQEFMore != 0 }

// PrepNop makes s a no-op that completes with res 0.
func (s *SQE) PrepNop() {
	s.Opcode = uint8(OpNop)
	s.Fd = -1
}

// PrepEpollCtl makes s an epoll_ctl(epfd, op, fd, ev) (IORING_OP_EPOLL_CTL,
// Linux 5.6). The result is epoll_ctl's: 0, or -EEXIST, -ENOENT, -EBADF,
// -EPERM, -EINVAL, -ELOOP, -ENOSPC. ev may be nil for EPOLL_CTL_DEL.
//
// The kernel copies *ev while it prepares the request, inside the
// io_uring_enter that submits s; ev must stay valid until that call returns.
// Point it into Ring.EpollEvents (memory outside the Go heap) or at a pinned
// Go value: the address is stored as an integer the garbage collector does
// not see.
func (s *SQE) PrepEpollCtl(epfd, op, fd int, ev *unix.EpollEvent) {
	s.Opcode = uint8(OpEpollCtl)
	s.Fd = int32(epfd)
	s.Len = uint32(op)
	// The kernel reads the target fd from the 64-bit off field as an int.
	s.Off = uint64(uint32(int32(fd)))
	s.Addr = uint64(uintptr(unsafe.Pointer(ev)))
}

// PrepPollAdd makes s a one-shot poll on fd for the poll(2) events mask
// (POLLIN, POLLOUT, ... in the low 32 bits). It completes once, with res set
// to the ready events, when fd becomes ready (at once if it already is).
func (s *SQE) PrepPollAdd(fd int, events uint32) {
	s.Opcode = uint8(OpPollAdd)
	s.Fd = int32(fd)
	s.OpFlags = poll32Events(events)
}

// poll32Events lays out a mask for the kernel's poll32_events, which is
// "word-reversed for BE": its two 16-bit halves swap on big-endian machines.
func poll32Events(events uint32) uint32 {
	if bigEndian {
		return bits.RotateLeft32(events, 16)
	}
	return events
}

var bigEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 0
}()

// PrepPollMultishot makes s a multishot poll on fd (Linux 5.13): it stays
// armed and posts a CQE with CQEFMore for every wake-up of fd's wait queue
// that matches events. It ends with a CQE without CQEFMore: -ECANCELED after
// a PrepPollRemove or PrepAsyncCancel, or a normal result when the kernel
// could not post (a full CQ terminates multishot requests); the caller
// re-arms it then.
func (s *SQE) PrepPollMultishot(fd int, events uint32) {
	s.PrepPollAdd(fd, events)
	s.Len = PollAddMulti
}

// PrepPollRemove makes s cancel the poll request whose UserData is target.
// s completes with 0, or -ENOENT when no such request is armed (-EALREADY if
// it is completing); the cancelled poll posts its own final CQE, -ECANCELED.
func (s *SQE) PrepPollRemove(target uint64) {
	s.Opcode = uint8(OpPollRemove)
	s.Fd = -1
	s.Addr = target
}

// PrepEpollWait makes s an epoll_wait(epfd, evs, len(evs)) (IORING_OP_EPOLL_WAIT,
// Linux 6.15). If events are ready it completes at once with their count;
// otherwise the kernel arms an internal poll on the epoll fd and completes
// when some are. Unlike EPOLL_CTL the kernel writes evs at completion time,
// long after Submit: evs must lie outside the Go heap (Ring.EpollEvents) or
// be pinned until the CQE is reaped.
func (s *SQE) PrepEpollWait(epfd int, evs []unix.EpollEvent) {
	s.Opcode = uint8(OpEpollWait)
	s.Fd = int32(epfd)
	if len(evs) > 0 {
		s.Addr = uint64(uintptr(unsafe.Pointer(&evs[0])))
	}
	s.Len = uint32(len(evs))
}

// PrepAsyncCancel makes s cancel the request whose UserData is target (or,
// with CancelFd, every request on the fd in s.Fd, which the caller sets).
// s completes with 0 (or the number cancelled with CancelAll), -ENOENT when
// nothing matched, or -EALREADY when the target was already running.
func (s *SQE) PrepAsyncCancel(target uint64, flags uint32) {
	s.Opcode = uint8(OpAsyncCancel)
	s.Fd = -1
	s.Addr = target
	s.OpFlags = flags
}
