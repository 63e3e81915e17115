package uring

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The three io_uring system calls. They carry the same numbers (425, 426,
// 427) on amd64 and arm64; golang.org/x/sys names them for both.
const (
	sysSetup    = unix.SYS_IO_URING_SETUP
	sysEnter    = unix.SYS_IO_URING_ENTER
	sysRegister = unix.SYS_IO_URING_REGISTER
)

// Offsets passed to mmap(2) on the ring fd to select which region to map.
const (
	offSQRing = 0
	offCQRing = 0x8000000
	offSQEs   = 0x10000000
)

// SetupFlags are the IORING_SETUP_* flags a ring was created with.
type SetupFlags uint32

// Setup flags this package knows how to use. Flags reports which of them the
// running kernel accepted.
const (
	SetupCQSize       SetupFlags = 1 << 3  // IORING_SETUP_CQSIZE: Options.CQEntries sized the CQ (5.5)
	SetupSubmitAll    SetupFlags = 1 << 7  // IORING_SETUP_SUBMIT_ALL: a failing SQE does not stop submission (5.18)
	SetupCoopTaskrun  SetupFlags = 1 << 8  // IORING_SETUP_COOP_TASKRUN: no IPI to run completion work (5.19)
	SetupTaskrunFlag  SetupFlags = 1 << 9  // IORING_SETUP_TASKRUN_FLAG: IORING_SQ_TASKRUN says work is queued (5.19)
	SetupSingleIssuer SetupFlags = 1 << 12 // IORING_SETUP_SINGLE_ISSUER: one thread submits (6.0)
	SetupDeferTaskrun SetupFlags = 1 << 13 // IORING_SETUP_DEFER_TASKRUN: completions posted only in io_uring_enter (6.1)
)

// Features are the IORING_FEAT_* bits the kernel returned from io_uring_setup.
type Features uint32

// Feature bits this package reads.
const (
	FeatSingleMmap Features = 1 << 0  // SQ and CQ rings share one mapping (5.4)
	FeatNoDrop     Features = 1 << 1  // a full CQ queues completions instead of dropping them (5.5)
	FeatFastPoll   Features = 1 << 5  // internal poll for not-ready files (5.7)
	FeatPoll32Bits Features = 1 << 6  // poll32_events carries the full 32-bit mask (5.9)
	FeatExtArg     Features = 1 << 8  // io_uring_enter takes struct io_uring_getevents_arg (5.11)
	FeatCQESkip    Features = 1 << 11 // IOSQE_CQE_SKIP_SUCCESS (5.17)
)

// io_uring_enter(2) flags.
const (
	enterGetEvents = 1 << 0
	enterExtArg    = 1 << 3
)

// sq_ring->flags bits.
const (
	sqCQOverflow = 1 << 1 // completions wait in the kernel's overflow list
	sqTaskrun    = 1 << 2 // completion work is queued and needs an io_uring_enter
)

const (
	registerProbe = 8   // IORING_REGISTER_PROBE
	probeOps      = 256 // opcodes asked about: every value an SQE's opcode byte can hold
	opSupported   = 1   // IO_URING_OP_SUPPORTED
)

// sqringOffsets is struct io_sqring_offsets.
type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

// cqringOffsets is struct io_cqring_offsets.
type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

// params is struct io_uring_params (120 bytes).
type params struct {
	sqEntries    uint32
	cqEntries    uint32
	flags        uint32
	sqThreadCPU  uint32
	sqThreadIdle uint32
	features     uint32
	wqFd         uint32
	resv         [3]uint32
	sqOff        sqringOffsets
	cqOff        cqringOffsets
}

// getEventsArg is struct io_uring_getevents_arg (24 bytes), passed with
// IORING_ENTER_EXT_ARG. ts holds the address of a __kernel_timespec.
type getEventsArg struct {
	sigmask     uint64
	sigmaskSz   uint32
	minWaitUsec uint32
	ts          uint64
}

// probeOp is struct io_uring_probe_op.
type probeOp struct {
	op    uint8
	resv  uint8
	flags uint16
	resv2 uint32
}

// probe is struct io_uring_probe followed by room for every opcode.
type probe struct {
	lastOp uint8
	opsLen uint8
	resv   uint16
	resv2  [3]uint32
	ops    [probeOps]probeOp
}

func setup(entries uint32, p *params) (int, unix.Errno) {
	fd, _, errno := unix.Syscall(sysSetup, uintptr(entries), uintptr(unsafe.Pointer(p)), 0)
	return int(fd), errno
}

func enter(fd int, toSubmit, minComplete, flags uint32, arg unsafe.Pointer, argSz uintptr) (int, unix.Errno) {
	n, _, errno := unix.Syscall6(sysEnter, uintptr(fd), uintptr(toSubmit), uintptr(minComplete),
		uintptr(flags), uintptr(arg), argSz)
	return int(n), errno
}

func register(fd int, op uint32, arg unsafe.Pointer, nrArgs uint32) unix.Errno {
	_, _, errno := unix.Syscall6(sysRegister, uintptr(fd), uintptr(op), uintptr(arg), uintptr(nrArgs), 0, 0)
	return errno
}
