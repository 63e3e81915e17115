package epoll

import (
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/eventpoll/eventpoll/internal/errs"
	"golang.org/x/sys/unix"
)

// Op is the operation of one batched command: the op argument of
// epoll_ctl(2). The values are the kernel's EPOLL_CTL_* numbers, so the zero
// Op is invalid and a Cmd left at its zero value is refused.
type Op uint8

// The three interest operations.
const (
	OpAdd    Op = unix.EPOLL_CTL_ADD // register Fd (Add)
	OpDelete Op = unix.EPOLL_CTL_DEL // remove Fd's registration (Delete)
	OpModify Op = unix.EPOLL_CTL_MOD // change Fd's events and data (Modify)
)

// String returns "ADD", "MOD", "DEL", or "Op(n)" for an unknown value.
func (o Op) String() string {
	switch o {
	case OpAdd:
		return "ADD"
	case OpModify:
		return "MOD"
	case OpDelete:
		return "DEL"
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

func (o Op) valid() bool { return o == OpAdd || o == OpModify || o == OpDelete }

// Check returns the error the command's arguments alone would get from Add,
// Modify or Delete (as Op says), without a system call: EBADF for an Fd no
// descriptor can have (negative, or beyond the int32 range); EINVAL for an
// unknown Op, unknown event bits, Exclusive with OneShot, or Exclusive in a
// Modify. It returns nil when the kernel is the one left to judge. A
// program that queues commands for a later Batch (an event loop deferring
// its changes to the end of an iteration) calls it to refuse a bad call at
// once instead of learning of it from a Result.
func (c *Cmd) Check() error {
	if !c.Op.valid() {
		return invalid(batchCall, c.Fd, "unknown op "+c.Op.String())
	}
	return checkCtl(int(c.Op), c.Fd, c.Events)
}

// Cmd is one command of a batch: the struct epoll_ctl_cmd of the 2015
// epoll_ctl_batch proposal. Op, Fd, Events and Data are the arguments of
// the epoll_ctl(2) it stands for (Events and Data are ignored for
// OpDelete). Result is written by Batch and BatchAll: nil when the command
// succeeded, the command's error (an *Error wrapping the kernel's errno, as
// Add, Modify or Delete would return it) when it failed, ErrNotProcessed
// when Batch stopped before reaching it.
type Cmd struct {
	Op     Op
	Fd     int
	Events Events
	Data   uint64
	Result error
}

// MaxBatch is the largest number of commands Batch and BatchAll accept in
// one call: the proposal's bound on ncmds, INT_MAX / sizeof(struct
// epoll_ctl_cmd) (32 bytes), which is 67,108,863. Any length up to it is
// accepted; the commands reach the kernel in chunks (one io_uring_enter per
// 256 on the io_uring backend) and every rule of Batch and BatchAll holds
// across chunk borders as within a chunk.
const MaxBatch = math.MaxInt32 / 32

// ErrNotProcessed is the Result of every command after the one at which
// Batch stopped: the command was never handed to the kernel.
var ErrNotProcessed = errors.New("command not processed: an earlier command of the batch failed")

// BatchError is the error Batch and BatchAll return when a command reached
// the kernel and failed. It is returned only in that case: an argument error
// (nothing processed) is an *Error whose Call is "epoll_ctl_batch", never a
// *BatchError, so
//
//	var be *epoll.BatchError
//	if errors.As(err, &be) { /* cmds[be.Index] failed; cmds[:be.Index] ran */ }
//
// tells the two apart. Err is the failing command's Result, so
// errors.Is(err, unix.EEXIST) sees the kernel's errno through it.
type BatchError struct {
	Index int   // index in the cmds slice of the (first) failing command
	Err   error // that command's Result
}

// Error returns "<pkg>: epoll_ctl_batch: command <Index>: " and the
// failing command's error without its own package prefix; pkg is that
// error's package ("epoll", or "ring" for a ring.Ring's batch).
func (e *BatchError) Error() string {
	p, rest := "epoll", e.Err.Error()
	var ee *Error
	if errors.As(e.Err, &ee) && ee.Pkg != "" {
		p = ee.Pkg
		rest = strings.TrimPrefix(rest, ee.Pkg+": ")
	}
	return p + ": epoll_ctl_batch: command " + strconv.Itoa(e.Index) + ": " + rest
}

// Unwrap returns the failing command's error.
func (e *BatchError) Unwrap() error { return e.Err }

const batchCall = "epoll_ctl_batch"

// Batch applies cmds to the interest set in order, as epoll_ctl_batch was
// proposed to (Linux never merged it): each command has exactly the
// semantics of one epoll_ctl(2) call, the batch is not atomic (commands
// before a failure stay applied, and other goroutines may see the set
// half-updated), and processing stops at the first command that fails.
//
// It returns the number of commands that succeeded, which on failure is the
// index of the failing command. On success that is len(cmds), every Result
// is nil and the error is nil. When cmds[n] fails, cmds[:n] have nil
// Results, cmds[n].Result holds its error (an *Error naming the epoll_ctl
// and the fd, wrapping the errno: EEXIST, ENOENT, EBADF, EPERM with
// ErrNotPollable, EINVAL, ELOOP, ENOMEM, ENOSPC as for Add, Modify and
// Delete), every later Result is ErrNotProcessed, and the returned error is
// a *BatchError with Index n wrapping cmds[n].Result, so that
// errors.Is(err, unix.EEXIST) works. As in the proposal, n == 0 with a
// non-nil error means the first command failed, not that the call did.
//
// Bad arguments process nothing: n is 0, no Result is touched, and the error
// is an *Error with Call "epoll_ctl_batch" (never a *BatchError) satisfying
// errors.Is(err, unix.EINVAL) when cmds is empty or longer than MaxBatch, or
// a command has an unknown Op, unknown event bits, Exclusive with OneShot, or
// Exclusive in a Modify; errors.Is(err, unix.EBADF) when a command's fd is a
// number no descriptor can have (negative, or above the int32 range);
// errors.Is(err, ErrClosed) when the instance was closed (ErrNotCreated on
// the zero Instance). Every command is checked before the first reaches the
// kernel, so a mistake in the last command cannot leave the first ones
// applied.
//
// Underneath, the commands reach the kernel as one epoll_ctl(2) each or,
// on the io_uring backend, as one submission of IORING_OP_EPOLL_CTL
// requests linked so that a failing request cancels the rest of the chain
// (exactly the stop-at-first-failure rule), one io_uring_enter(2) per 256
// commands. BatchAuto uses epoll_ctl for Batch, because the links cost more
// than the system calls they save (see BatchAuto); WithBatchBackend forces
// either. The backends give identical results command by command.
// Batch allocates nothing unless a command fails. It is safe for concurrent
// use; batches on the io_uring backend of one instance are serialised. A
// batch is not interrupted: Close waits for one in flight to finish.
func (ep *Instance) Batch(cmds []Cmd) (int, error) { return ep.runBatch(cmds, true) }

// BatchAll applies every command of cmds in order, like Batch, but does not
// stop at a failure: each command runs whatever became of the ones before
// it, as an event loop wants when it applies the interest changes of one
// iteration (a peer that closed its socket must not keep the next
// connection from being registered). Every Result is set, nil or the
// command's error; no Result is ErrNotProcessed.
//
// It returns the number of commands that succeeded and, when any failed, a
// *BatchError for the first failure (its Index and error); the others are
// in their Results only, so that a loop with many failures pays for no more
// than their own errors. Argument errors and ErrClosed are as for Batch:
// nothing processed, n == 0, not a *BatchError.
//
// On the io_uring backend the requests are hard-linked (IOSQE_IO_HARDLINK):
// a failure does not cancel the rest, but the kernel still starts each
// request only after the previous one completed, so commands on the same fd
// apply in order even when one is deferred to a kernel worker thread.
func (ep *Instance) BatchAll(cmds []Cmd) (int, error) { return ep.runBatch(cmds, false) }

func (ep *Instance) runBatch(cmds []Cmd, strict bool) (int, error) {
	if err := checkBatch(cmds); err != nil {
		return 0, err
	}
	if !ep.fd.Acquire() {
		return 0, ep.unusable(batchCall)
	}
	defer ep.fd.Release()
	useRing, err := ep.batchUseRing(len(cmds), strict)
	if err != nil {
		return 0, err
	}
	if useRing && !strict && ep.batch.want == BatchAuto && mayRepeatFd(cmds) {
		// Commands on one fd need hard links on the ring, which lose to
		// epoll_ctl. Decided here, before the ring's lock, so that
		// goroutines batching on one instance do not queue for a ring they
		// will not use.
		useRing = false
	}
	if useRing {
		return ep.batchRing(cmds, strict)
	}
	return batchSyscall(ep.fd.Sysfd(), cmds, strict)
}

// mayRepeatFd reports whether two commands may name the same fd: exactly
// for fds below 1<<15, conservatively (a collision modulo 1<<15 counts as a
// repeat) above. The bit set lives on the stack: no allocation, no lock.
func mayRepeatFd(cmds []Cmd) bool {
	var seen [1 << 15 / 64]uint64
	for i := range cmds {
		fd := uint32(cmds[i].Fd) & (1<<15 - 1)
		w, b := fd/64, uint64(1)<<(fd%64)
		if seen[w]&b != 0 {
			return true
		}
		seen[w] |= b
	}
	return false
}

// checkBatch validates every argument before any command runs: the
// proposal's "no cmds entries have been processed" for bad arguments.
func checkBatch(cmds []Cmd) error {
	if len(cmds) == 0 {
		return invalid(batchCall, -1, "empty command list (ncmds must be greater than 0)")
	}
	if len(cmds) > MaxBatch {
		return invalid(batchCall, -1, strconv.Itoa(len(cmds))+" commands, more than MaxBatch ("+
			strconv.Itoa(MaxBatch)+", INT_MAX / sizeof(struct epoll_ctl_cmd))")
	}
	for i := range cmds {
		c := &cmds[i]
		if !c.Op.valid() {
			return invalid(batchCall, -1, "command "+strconv.Itoa(i)+": unknown op "+c.Op.String())
		}
		if err := checkCtl(int(c.Op), c.Fd, c.Events); err != nil {
			return errs.Call(pkg, batchCall, -1, &cmdArgError{index: i, err: err})
		}
	}
	return nil
}

// cmdArgError names the command whose arguments were refused up front.
type cmdArgError struct {
	index int
	err   error
}

func (e *cmdArgError) Error() string {
	return "command " + strconv.Itoa(e.index) + ": " + strings.TrimPrefix(e.err.Error(), "epoll: ")
}

func (e *cmdArgError) Unwrap() error { return e.err }

// batchSyscall is the plain backend: one epoll_ctl per command, under the
// one reference the caller holds for the whole batch.
func batchSyscall(epfd int, cmds []Cmd, strict bool) (int, error) {
	ok := 0
	var first error
	for i := range cmds {
		c := &cmds[i]
		errno := ctlRaw(epfd, int(c.Op), c.Fd, c.Events, c.Data)
		if errno == 0 {
			c.Result = nil
			ok++
			continue
		}
		c.Result = ctlError(int(c.Op), c.Fd, errno)
		if first == nil {
			first = &BatchError{Index: i, Err: c.Result}
		}
		if strict {
			markNotProcessed(cmds[i+1:])
			return ok, first
		}
	}
	return ok, first
}

func markNotProcessed(cmds []Cmd) {
	for i := range cmds {
		cmds[i].Result = ErrNotProcessed
	}
}

// BatchBackend names the mechanism Batch and BatchAll use to reach the
// kernel.
type BatchBackend uint8

const (
	// BatchAuto, the default, probes at the first batch: the ring is made
	// when the process may use io_uring (not disabled by sysctl, seccomp or
	// EVENTPOLL_NO_URING) and the kernel has IORING_OP_EPOLL_CTL (Linux
	// 5.6); otherwise every batch uses epoll_ctl. With a ring, BatchAuto
	// sends through it only what it does faster: a BatchAll of at least
	// eight commands naming distinct fds. A strict Batch, a shorter one, or
	// one naming an fd twice uses epoll_ctl: each submission costs a fixed
	// amount that only several unlinked requests earn back, and a linked
	// request (stop-at-first-failure, or order on one fd) costs a round of
	// kernel task work more than an epoll_ctl. The measurement behind the
	// rule is in BENCHMARKS.md, "epoll: BatchAuto's crossover". A ring that
	// cannot be made for a passing reason is tried again later (see
	// Instance.BatchBackend).
	BatchAuto BatchBackend = iota
	// BatchUring submits every batch as IORING_OP_EPOLL_CTL requests, one
	// io_uring_enter(2) per 256 commands: linked for Batch, hard-linked for a
	// BatchAll naming an fd twice, independent otherwise. If io_uring is
	// unusable (EVENTPOLL_NO_URING included), Batch fails with an error
	// satisfying errors.Is(err, ErrUnsupported) and processes nothing.
	BatchUring
	// BatchSyscall issues one epoll_ctl(2) per command.
	BatchSyscall
)

// String returns "auto", "uring" or "syscall".
func (b BatchBackend) String() string {
	switch b {
	case BatchAuto:
		return "auto"
	case BatchUring:
		return "uring"
	case BatchSyscall:
		return "syscall"
	}
	return "BatchBackend(" + strconv.Itoa(int(b)) + ")"
}

// WithBatchBackend makes the instance use b for Batch and BatchAll instead
// of probing (BatchAuto). Programs and tests use it to exercise one backend
// on any machine; an unknown value is treated as BatchAuto.
func WithBatchBackend(b BatchBackend) Option {
	return func(ep *Instance) {
		if b > BatchSyscall {
			b = BatchAuto
		}
		ep.batch.want = b
	}
}

// autoRingMinBatch is the shortest BatchAll that BatchAuto sends through
// io_uring when the ring is available; shorter ones, and every strict
// Batch, use epoll_ctl(2). BENCHMARKS.md, "epoll: BatchAuto's crossover",
// has the measurement (BenchmarkBatchCrossover) it comes from.
const autoRingMinBatch = 8
