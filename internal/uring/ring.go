package uring

import (
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Limits the kernel enforces on ring sizes (IORING_MAX_ENTRIES and
// IORING_MAX_CQ_ENTRIES). New checks them itself so that bad sizes give a
// message that names the argument instead of a bare EINVAL.
const (
	MaxEntries   = 32768
	MaxCQEntries = 2 * MaxEntries
	// MaxEpollEvents bounds Options.EpollEvents.
	MaxEpollEvents = 1 << 16
)

// ErrClosed is returned by every call on a Ring after Close.
var ErrClosed = errors.New("uring: ring closed")

// Options tunes New. The zero value is a ring any goroutine may drive, with
// the kernel's default CQ size (twice the SQ) and as many epoll_event scratch
// slots as the SQ has entries.
type Options struct {
	// CQEntries sizes the completion queue (IORING_SETUP_CQSIZE). The kernel
	// rounds it up to a power of two; it must be at least the SQ size after
	// rounding and at most MaxCQEntries. 0 keeps the kernel's default.
	CQEntries int

	// EpollEvents is the number of epoll_event slots in the ring's scratch
	// area (EpollEvents method). 0 means one per SQ entry.
	EpollEvents int

	// SingleIssuer asks for IORING_SETUP_SINGLE_ISSUER (6.0): the kernel
	// skips locking because only one task submits. That task is the thread
	// that called New, and every later io_uring_enter from another thread
	// fails with EEXIST. Goroutines migrate between threads, so set this
	// only when the goroutine that calls New and drives the ring has called
	// runtime.LockOSThread and keeps it locked until Close.
	SingleIssuer bool

	// DeferTaskrun asks for IORING_SETUP_DEFER_TASKRUN (6.1; needs
	// SingleIssuer): completion work runs only when the issuing thread calls
	// io_uring_enter with GETEVENTS, so CQEs appear only inside Reap,
	// SubmitAndWait, SubmitAndWaitTimeout and WaitCQE on that thread, never
	// asynchronously. Same thread rule as SingleIssuer.
	DeferTaskrun bool

	// CoopTaskrun asks for IORING_SETUP_COOP_TASKRUN (5.19): completion work
	// is queued to the submitting thread without an interrupt and runs when
	// that thread next enters the kernel. A Go thread parked in futex(2)
	// is not woken by it, so a CQE can wait indefinitely while another
	// thread sleeps in io_uring_enter for it. Set this only under the same
	// thread rule as SingleIssuer.
	CoopTaskrun bool
}

// Ring is one io_uring instance: a submission queue (SQ) and a completion
// queue (CQ) shared with the kernel, and a scratch area outside the Go heap
// for the structures the kernel reads through pointers.
//
// A Ring is not safe for concurrent use: one goroutine at a time may call
// its methods, Close included. Callers that share a ring serialise with
// their own lock. With SingleIssuer or DeferTaskrun that goroutine must also
// be locked to its thread (see Options).
type Ring struct {
	fd       int
	flags    SetupFlags
	features Features

	sqRing  []byte // SQ ring mapping; also the CQ ring with FeatSingleMmap
	cqRing  []byte // CQ ring mapping when separate, else nil
	sqeMem  []byte
	scratch []byte

	sqHead    *uint32 // advanced by the kernel as it consumes SQEs
	sqTail    *uint32 // published by us, read by the kernel with acquire
	sqFlags   *uint32
	sqDropped *uint32
	sqMask    uint32
	sqEntries uint32
	sqes      []SQE
	sqeTail   uint32 // next SQE to hand out; published to *sqTail by Submit

	cqHead     *uint32 // advanced by us as we consume CQEs
	cqTail     *uint32 // advanced by the kernel with release
	cqOverflow *uint32
	cqMask     uint32
	cqEntries  uint32
	cqes       []CQE

	waitArg   *getEventsArg
	waitTS    *unix.Timespec
	timespecs []unix.Timespec
	epollEvs  []unix.EpollEvent

	ops [probeOps / 64]uint64 // IORING_REGISTER_PROBE answer, one bit per opcode
}

// checkOptions validates New's arguments before any system call.
func checkOptions(entries int, o *Options) error {
	if entries < 1 || entries > MaxEntries {
		return fmt.Errorf("uring: New: entries %d outside [1, %d]: %w", entries, MaxEntries, unix.EINVAL)
	}
	if o.CQEntries != 0 {
		sq := roundPow2(entries)
		if o.CQEntries < sq || o.CQEntries > MaxCQEntries {
			return fmt.Errorf("uring: New: CQEntries %d outside [%d, %d]: %w", o.CQEntries, sq, MaxCQEntries, unix.EINVAL)
		}
	}
	if o.EpollEvents < 0 || o.EpollEvents > MaxEpollEvents {
		return fmt.Errorf("uring: New: EpollEvents %d outside [0, %d]: %w", o.EpollEvents, MaxEpollEvents, unix.EINVAL)
	}
	if o.DeferTaskrun && !o.SingleIssuer {
		return fmt.Errorf("uring: New: DeferTaskrun requires SingleIssuer: %w", unix.EINVAL)
	}
	return nil
}

func roundPow2(n int) int {
	if n <= 1 {
		return 1
	}
	return 1 << bits.Len(uint(n-1))
}

// New creates a ring with room for entries SQEs (rounded up to a power of
// two, at most MaxEntries) by io_uring_setup(2), maps its queues with
// mmap(2), and asks the kernel which opcodes it supports
// (IORING_REGISTER_PROBE). The ring fd is close-on-exec.
//
// IORING_SETUP_SUBMIT_ALL is always requested; the flags Options asks for are
// added. A kernel that does not know a flag answers EINVAL; New then drops
// the newest flag and tries again, so a ring is created on every kernel since
// 5.11. Flags tells which flags took effect.
//
// New fails with an error wrapping unix.EINVAL when an argument is out of
// range (the message names it); with an error wrapping ErrUnsupported and
// the errno when the kernel refuses io_uring (ENOSYS, EPERM: see Supported)
// or lacks FeatNoDrop or FeatExtArg; with "uring: io_uring_setup: <errno>" or
// "uring: mmap: <errno>" for ENOMEM, EMFILE and the like. New does not
// consult ForceUnsupported or EVENTPOLL_NO_URING: choosing a path is the
// caller's business, done with Supported.
func New(entries int, opts Options) (*Ring, error) {
	if err := checkOptions(entries, &opts); err != nil {
		return nil, err
	}
	// SINGLE_ISSUER binds the ring to the thread that creates it; keep setup,
	// mmap and probe on one thread. If the caller holds the lock already (as
	// SingleIssuer requires) this only nests.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	want := SetupSubmitAll
	if opts.CQEntries != 0 {
		want |= SetupCQSize
	}
	if opts.SingleIssuer {
		want |= SetupSingleIssuer
	}
	if opts.DeferTaskrun {
		want |= SetupDeferTaskrun
	}
	if opts.CoopTaskrun {
		want |= SetupCoopTaskrun
	}
	// Dropped in this order on EINVAL: newest kernel feature first.
	// SetupCQSize (5.5) is older than anything else we need and stays.
	fallback := [...]SetupFlags{SetupDeferTaskrun, SetupSingleIssuer, SetupCoopTaskrun, SetupSubmitAll}

	p := new(params)
	var fd int
	next := 0 // the next fallback entry to consider dropping
	for {
		flags := want
		// TASKRUN_FLAG lets Reap see queued completion work without a system
		// call; the kernel accepts it only beside COOP or DEFER_TASKRUN.
		if flags&(SetupCoopTaskrun|SetupDeferTaskrun) != 0 {
			flags |= SetupTaskrunFlag
		}
		*p = params{flags: uint32(flags), cqEntries: uint32(opts.CQEntries)}
		var errno unix.Errno
		fd, errno = setup(uint32(entries), p)
		if errno == 0 {
			break
		}
		if errno == unix.EINTR {
			continue
		}
		if errno != unix.EINVAL {
			return nil, setupError(errno)
		}
		// Arguments were checked above, so EINVAL means a flag this kernel
		// does not know.
		for next < len(fallback) && want&fallback[next] == 0 {
			next++
		}
		if next == len(fallback) {
			return nil, setupError(errno)
		}
		want &^= fallback[next]
		next++
	}

	r := &Ring{fd: fd, flags: SetupFlags(p.flags), features: Features(p.features)}
	if err := r.init(p, &opts); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Ring) init(p *params, opts *Options) error {
	const need = FeatNoDrop | FeatExtArg
	if r.features&need != need {
		return &unsupportedError{reason: "kernel lacks IORING_FEAT_NODROP or IORING_FEAT_EXT_ARG (Linux 5.11)"}
	}
	sqSize := int(p.sqOff.array) + int(p.sqEntries)*4
	cqSize := int(p.cqOff.cqes) + int(p.cqEntries)*int(unsafe.Sizeof(CQE{}))
	if r.features&FeatSingleMmap != 0 {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	if r.sqRing, err = mmapRing(r.fd, offSQRing, sqSize); err != nil {
		return err
	}
	cq := r.sqRing
	if r.features&FeatSingleMmap == 0 {
		if r.cqRing, err = mmapRing(r.fd, offCQRing, cqSize); err != nil {
			return err
		}
		cq = r.cqRing
	}
	sqeSize := int(p.sqEntries) * int(unsafe.Sizeof(SQE{}))
	if r.sqeMem, err = mmapRing(r.fd, offSQEs, sqeSize); err != nil {
		return err
	}
	if len(r.sqRing) < sqSize || len(cq) < cqSize || len(r.sqeMem) < sqeSize {
		return fmt.Errorf("uring: mmap: ring shorter than the kernel's offsets: %w", unix.EINVAL)
	}

	r.sqHead = u32At(r.sqRing, p.sqOff.head)
	r.sqTail = u32At(r.sqRing, p.sqOff.tail)
	r.sqFlags = u32At(r.sqRing, p.sqOff.flags)
	r.sqDropped = u32At(r.sqRing, p.sqOff.dropped)
	r.sqMask = *u32At(r.sqRing, p.sqOff.ringMask)
	r.sqEntries = *u32At(r.sqRing, p.sqOff.ringEntries)
	r.sqes = unsafe.Slice((*SQE)(unsafe.Pointer(&r.sqeMem[0])), r.sqEntries)
	// The kernel finds each SQE through the index array; an identity map set
	// once lets sqes[tail&mask] be the entry the kernel reads at tail.
	array := unsafe.Slice(u32At(r.sqRing, p.sqOff.array), r.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	r.sqeTail = *r.sqTail

	r.cqHead = u32At(cq, p.cqOff.head)
	r.cqTail = u32At(cq, p.cqOff.tail)
	r.cqOverflow = u32At(cq, p.cqOff.overflow)
	r.cqMask = *u32At(cq, p.cqOff.ringMask)
	r.cqEntries = *u32At(cq, p.cqOff.ringEntries)
	r.cqes = unsafe.Slice((*CQE)(unsafe.Pointer(&cq[p.cqOff.cqes])), r.cqEntries)

	if err := r.initScratch(opts); err != nil {
		return err
	}
	return r.probe()
}

func mmapRing(fd int, off int64, size int) ([]byte, error) {
	b, err := unix.Mmap(fd, off, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("uring: mmap: %w", err)
	}
	return b, nil
}

// u32At points into a kernel-shared mapping at a kernel-given offset. The
// index expression bounds-checks the offset against the mapping.
func u32At(b []byte, off uint32) *uint32 {
	_ = b[off+3]
	return (*uint32)(unsafe.Pointer(&b[off]))
}

// probe records which opcodes the kernel implements.
func (r *Ring) probe() error {
	pr := new(probe)
	if errno := register(r.fd, registerProbe, unsafe.Pointer(pr), probeOps); errno != 0 {
		return fmt.Errorf("uring: io_uring_register(IORING_REGISTER_PROBE): %w", errno)
	}
	for i := 0; i < int(pr.opsLen) && i < probeOps; i++ {
		if o := pr.ops[i]; o.flags&opSupported != 0 {
			r.ops[o.op/64] |= 1 << (o.op % 64)
		}
	}
	return nil
}

// Close unmaps the queues and the scratch area and closes the ring fd. The
// kernel cancels requests still in flight (multishot polls included) as the
// ring is torn down. Close is idempotent: later calls return nil. Every other
// method returns ErrClosed (GetSQE returns nil) after it.
func (r *Ring) Close() error {
	if r.fd < 0 {
		return nil
	}
	var first error
	for _, m := range []*[]byte{&r.scratch, &r.sqeMem, &r.cqRing, &r.sqRing} {
		if *m != nil {
			if err := unix.Munmap(*m); err != nil && first == nil {
				first = fmt.Errorf("uring: munmap: %w", err)
			}
			*m = nil
		}
	}
	if err := unix.Close(r.fd); err != nil && first == nil {
		first = fmt.Errorf("uring: close: %w", err)
	}
	// Drop every pointer into the unmapped memory so no path can touch it.
	*r = Ring{fd: -1}
	return first
}

// Fd returns the ring's file descriptor, or -1 after Close.
func (r *Ring) Fd() int { return r.fd }

// Flags returns the setup flags the kernel accepted.
func (r *Ring) Flags() SetupFlags { return r.flags }

// Features returns the IORING_FEAT_* bits the kernel reported.
func (r *Ring) Features() Features { return r.features }

// SQEntries returns the submission queue's size (a power of two).
func (r *Ring) SQEntries() int { return int(r.sqEntries) }

// CQEntries returns the completion queue's size (a power of two).
func (r *Ring) CQEntries() int { return int(r.cqEntries) }

// OpSupported reports whether the kernel that created r implements op, as
// IORING_REGISTER_PROBE answered. It is false after Close.
func (r *Ring) OpSupported(op Op) bool { return r.ops[op/64]&(1<<(op%64)) != 0 }
