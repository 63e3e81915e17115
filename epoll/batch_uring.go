package epoll

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/eventpoll/eventpoll/internal/errs"
	"github.com/eventpoll/eventpoll/internal/uring"
	"golang.org/x/sys/unix"
)

// batchRingEntries sizes the per-instance ring: 256 SQEs (16 KiB), a 512-entry
// CQ and 256 epoll_event slots. A batch longer than that takes one
// io_uring_enter per 256 commands.
const batchRingEntries = 256

// batchState is the per-instance state of the io_uring backend.
type batchState struct {
	want     BatchBackend  // WithBatchBackend; BatchAuto by default
	resolved atomic.Uint32 // BatchUring or BatchSyscall once the answer is definitive; 0 before
	retryAt  atomic.Int64  // BatchAuto after a passing failure: no new ring before this (monoNow)

	mu   sync.Mutex  // serialises the ring: a Ring is one goroutine's at a time
	ring *uring.Ring // created at the first batch that needs it; nil after close
	skip bool        // the kernel has IOSQE_CQE_SKIP_SUCCESS (5.17)
	gen  uint32      // batch generation, the high half of every user_data
	cqes [64]uring.CQE

	seen  [2 * batchRingEntries]fdSlot // repeatsFd's table, at most half full
	stamp uint32
}

// ringRetry is how long BatchAuto uses epoll_ctl after the ring could not
// be made for a passing reason, before it tries again.
var ringRetry = time.Second

var monoStart = time.Now()

// monoNow reads the monotonic clock, in nanoseconds since the package began.
func monoNow() int64 { return int64(time.Since(monoStart)) }

// BatchBackend reports the backend Batch and BatchAll use on this instance
// now: BatchUring or BatchSyscall (never BatchAuto). On an instance made
// with BatchAuto it runs the probe if no batch has yet; BatchUring then
// means a BatchAll of at least eight commands naming distinct fds goes
// through the ring (see BatchAuto).
//
// BatchAuto keeps only a definitive answer for the instance's life:
// io_uring unusable by this process, or without IORING_OP_EPOLL_CTL, makes
// it BatchSyscall for good. When the ring cannot be made for a passing
// reason (EMFILE or ENFILE: the descriptor table is full; ENOMEM), the
// batches use epoll_ctl and BatchBackend reports BatchSyscall, but the
// ring is tried again at the first batch a second or more later.
//
// On a closed instance, on the zero Instance, or when a forced BatchUring
// is unusable, it returns what the instance was asked for.
func (ep *Instance) BatchBackend() BatchBackend {
	bs := &ep.batch
	if !ep.fd.Acquire() {
		if b := bs.resolved.Load(); b != 0 {
			return BatchBackend(b)
		}
		return bs.want
	}
	defer ep.fd.Release()
	useRing, err := ep.batchUseRing(MaxBatch, false)
	switch {
	case err != nil:
		return bs.want
	case useRing:
		return BatchUring
	}
	return BatchSyscall
}

// batchUseRing resolves the backend at first use and says whether a batch
// of n commands goes through the ring. The caller holds a reference, so a
// ring is never created for an instance that Close has already torn down.
func (ep *Instance) batchUseRing(n int, strict bool) (bool, error) {
	bs := &ep.batch
	b := BatchBackend(bs.resolved.Load())
	if b == 0 {
		if bs.want == BatchAuto && monoNow() < bs.retryAt.Load() {
			return false, nil
		}
		var err error
		if b, err = bs.resolve(); err != nil {
			return false, err
		}
	}
	if b != BatchUring {
		return false, nil
	}
	if bs.want == BatchUring {
		return true, nil
	}
	// BatchAuto: a strict batch needs linked requests, which lose to
	// epoll_ctl (see autoRingMinBatch); short batches do too.
	return !strict && n >= autoRingMinBatch, nil
}

// resolve answers, under the ring's lock, which backend the instance
// uses; for BatchAuto after a passing failure, BatchSyscall for now.
func (bs *batchState) resolve() (BatchBackend, error) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if b := bs.resolved.Load(); b != 0 {
		return BatchBackend(b), nil
	}
	switch bs.want {
	case BatchUring:
		if err := bs.openRing(); err != nil {
			// Not cached: the cause may be transient (EMFILE, ENOMEM).
			return 0, ringError(err)
		}
		bs.resolved.Store(uint32(BatchUring))
		return BatchUring, nil
	case BatchAuto:
		if bs.tryRing() {
			return BatchUring, nil
		}
		return BatchSyscall, nil
	}
	bs.resolved.Store(uint32(BatchSyscall))
	return BatchSyscall, nil
}

// tryRing makes BatchAuto's ring, with bs.mu held, and keeps the answer
// only when it is definitive: io_uring unusable here means epoll_ctl for
// good, while a full descriptor table or a shortage of memory means
// epoll_ctl until ringRetry has passed. A full table is a loaded server's
// ordinary state; it must not cost the instance its ring forever.
func (bs *batchState) tryRing() bool {
	if monoNow() < bs.retryAt.Load() {
		return false
	}
	err := bs.openRing()
	switch {
	case err == nil:
		bs.resolved.Store(uint32(BatchUring))
		return true
	case errors.Is(err, uring.ErrUnsupported):
		bs.resolved.Store(uint32(BatchSyscall))
	default:
		bs.retryAt.Store(monoNow() + int64(ringRetry))
	}
	return false
}

// openRing creates the ring after asking whether this process may use
// io_uring at all: the check honours EVENTPOLL_NO_URING and
// uring.ForceUnsupported, and the kernel must have IORING_OP_EPOLL_CTL.
func (bs *batchState) openRing() error {
	if err := uring.Supported(); err != nil {
		return err
	}
	if !uring.OpSupported(uring.OpEpollCtl) {
		return errNoEpollCtlOp
	}
	r, err := uring.New(batchRingEntries, uring.Options{})
	if err != nil {
		return err
	}
	bs.ring = r
	bs.skip = r.Features()&uring.FeatCQESkip != 0
	return nil
}

// ringError reports why a forced BatchUring cannot run: ErrUnsupported when
// io_uring is off or lacks EPOLL_CTL, the plain cause (EMFILE, ENOMEM) else.
func ringError(err error) error {
	e := errs.Call(pkg, batchCall, -1, err)
	if errors.Is(err, uring.ErrUnsupported) {
		e.Kind = ErrUnsupported
	}
	return e
}

var errNoEpollCtlOp = &uringOpError{}

type uringOpError struct{}

func (*uringOpError) Error() string {
	return "io_uring has no IORING_OP_EPOLL_CTL (Linux 5.6)"
}
func (*uringOpError) Unwrap() error { return uring.ErrUnsupported }

// closeBatch releases the ring. Close calls it after every call in flight
// has drained, so no batch is using the ring.
func (ep *Instance) closeBatch() {
	bs := &ep.batch
	bs.mu.Lock()
	if bs.ring != nil {
		bs.ring.Close()
		bs.ring = nil
	}
	bs.mu.Unlock()
}

// batchRing runs cmds as IORING_OP_EPOLL_CTL requests, one io_uring_enter
// per chunk of the ring's size.
func (ep *Instance) batchRing(cmds []Cmd, strict bool) (int, error) {
	bs := &ep.batch
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if bs.ring == nil {
		// A failed io_uring_enter closed the last ring (see broken).
		if bs.want == BatchUring {
			if err := bs.openRing(); err != nil {
				return 0, ringError(err)
			}
		} else if !bs.tryRing() {
			return batchSyscall(ep.fd.Sysfd(), cmds, strict)
		}
	}
	ok := 0
	var first error
	for done := 0; done < len(cmds); {
		end := min(len(cmds), done+batchRingEntries)
		chunk := cmds[done:end]
		chain := strict || bs.repeatsFd(chunk)
		var good, failed int
		var err error
		if chain && !strict && bs.want != BatchUring {
			// A hard-linked chain costs a round of task work per request
			// and loses to epoll_ctl; BatchAuto takes the faster path.
			good, err = batchSyscall(ep.fd.Sysfd(), chunk, false)
			failed = -1
			if be, ok := err.(*BatchError); ok {
				failed, err = be.Index, nil
			}
		} else {
			good, failed, err = bs.runChunk(ep.fd.Sysfd(), chunk, strict, chain)
		}
		ok += good
		if err != nil {
			return ok, err
		}
		if failed >= 0 && first == nil {
			first = &BatchError{Index: done + failed, Err: cmds[done+failed].Result}
		}
		if strict && failed >= 0 {
			markNotProcessed(cmds[end:])
			return ok, first
		}
		done = end
	}
	return ok, first
}

// runChunk submits one chunk of EPOLL_CTL requests and collects its
// outcome into the Results. It returns how many succeeded and the index of
// the first failure (-1 if none).
//
// Without chain (BatchAll on a chunk whose commands all name different
// fds) the requests are independent: the kernel issues them one after
// another inside io_uring_enter, and one it must defer to a worker (the
// instance's mutex was busy) may finish after a later one, which no
// observer can tell from in-order execution because no two commands touch
// the same registration. Each posts a CQE; the chunk is finished when all
// have. This is the fast path: a linked request costs a round of task work
// that an unlinked one does not (BENCHMARKS.md, "epoll: BatchAuto's
// crossover").
//
// The chain: every SQE but the last carries FlagLink (strict: a failure
// cancels the rest with -ECANCELED, which is the stop-at-first-failure rule)
// or FlagHardLink (continue: the rest still run, but one at a time, so order
// holds even when the kernel defers a request to a worker because the
// instance's mutex was busy). Every SQE but the last also carries
// FlagCQESkipSuccess when the kernel has it, so a clean batch posts one CQE
// instead of one per command; failures always post theirs. The chunk is
// finished when the last request's CQE arrives, or, in strict mode, at the
// first failure: nothing after it will run. (A failing request that
// carried FlagCQESkipSuccess makes the kernel suppress the -ECANCELED CQEs
// of the rest of its chain; without the flag they are posted, and may be
// reaped by a later chunk.) Such late CQEs carry an older generation in
// user_data and are dropped.
//
// Commands on different fds of one instance commute, which is what lets
// the unlinked path run them in any order. The exceptions are at the
// kernel's limits: when max_user_watches is nearly exhausted, or nested
// instances approach the nesting limits, which of two Adds fails could
// depend on the order.
func (bs *batchState) runChunk(epfd int, chunk []Cmd, strict, chain bool) (good, failed int, err error) {
	r := bs.ring
	bs.dropStale()
	bs.gen++
	gen := uint64(bs.gen) << 32
	if err := bs.prepareChunk(epfd, chunk, gen, strict, chain); err != nil {
		return 0, -1, err
	}
	last := len(chunk) - 1
	failed = -1
	nfail, seen := 0, 0
	for sawLast := false; !sawLast; {
		if _, err := r.SubmitAndWait(1); err != nil {
			return 0, -1, bs.broken(chunk, err)
		}
		n, err := r.Reap(bs.cqes[:])
		if err != nil {
			return 0, -1, bs.broken(chunk, err)
		}
		for _, cqe := range bs.cqes[:n] {
			if cqe.UserData&^0xffffffff != gen {
				continue
			}
			i := int(uint32(cqe.UserData))
			seen++
			if chain && i == last || seen == len(chunk) {
				sawLast = true
			}
			if cqe.Res >= 0 {
				continue
			}
			c := &chunk[i]
			if cqe.Res == -int32(unix.ECANCELED) {
				// epoll_ctl never fails with ECANCELED: the link did it.
				c.Result = ErrNotProcessed
				continue
			}
			c.Result = ctlError(int(c.Op), c.Fd, unix.Errno(-cqe.Res))
			nfail++
			if failed < 0 || i < failed {
				failed = i
			}
		}
		if strict && failed >= 0 {
			markNotProcessed(chunk[failed+1:])
			return failed, failed, nil
		}
	}
	return len(chunk) - nfail, failed, nil
}

// prepareChunk fills one SQE per command of chunk, tagged with gen and the
// command's index, linked as runChunk describes.
func (bs *batchState) prepareChunk(epfd int, chunk []Cmd, gen uint64, strict, chain bool) error {
	r := bs.ring
	evs := r.EpollEvents()
	last := len(chunk) - 1
	link := uring.FlagHardLink
	if strict {
		link = uring.FlagLink
	}
	for i := range chunk {
		c := &chunk[i]
		s := r.GetSQE()
		if s == nil {
			// Impossible while every Submit consumes the whole SQ
			// (IORING_SETUP_SUBMIT_ALL); refuse rather than corrupt. Closing
			// the ring discards the SQEs prepared so far, unsubmitted.
			return bs.broken(chunk, unix.EBUSY)
		}
		var evp *unix.EpollEvent
		if c.Op != OpDelete {
			// The slot lies outside the Go heap; the kernel copies it while
			// it prepares the request, inside the io_uring_enter that
			// submits it.
			evp = &evs[i]
			e := (*Event)(unsafe.Pointer(evp))
			e.Events = c.Events
			e.SetData(c.Data)
		}
		s.PrepEpollCtl(epfd, int(c.Op), c.Fd, evp)
		s.UserData = gen | uint64(i)
		if i < last && chain {
			s.Flags = link
			if bs.skip {
				s.Flags |= uring.FlagCQESkipSuccess
			}
		}
		c.Result = nil
	}
	return nil
}

// dropStale discards CQEs left by an earlier chunk: a strict chunk returns
// at its first failure, and a kernel may still post the cancellations after
// it. Their generation no longer matches; reaping frees their CQ slots.
func (bs *batchState) dropStale() {
	for bs.ring.Ready() > 0 {
		if n, err := bs.ring.Reap(bs.cqes[:]); n == 0 || err != nil {
			return
		}
	}
}

// broken handles the rare failure of io_uring_enter itself (ENOMEM, EBUSY,
// EAGAIN: the kernel was short of resources). The outcome of the chunk's
// commands is then unknown: the ring is closed (the kernel cancels whatever
// had not run) and every Result of the chunk is set to the error, which
// Batch returns; the next batch makes a new ring.
func (bs *batchState) broken(chunk []Cmd, cause error) error {
	err := errs.Call(pkg, "io_uring_enter", -1, cause)
	for i := range chunk {
		chunk[i].Result = err
	}
	bs.ring.Close()
	bs.ring = nil
	return err
}

// repeatsFd reports whether two commands of chunk name the same fd, with a
// small open-addressing table stamped per call (no clearing, no
// allocation). Commands on one fd depend on each other's order; commands on
// different fds of one instance do not.
func (bs *batchState) repeatsFd(chunk []Cmd) bool {
	bs.stamp++
	if bs.stamp == 0 {
		bs.seen = [len(bs.seen)]fdSlot{}
		bs.stamp = 1
	}
	const mask = len(bs.seen) - 1
	for i := range chunk {
		fd := chunk[i].Fd
		h := int(uint32(fd)*0x9e3779b1) & mask
		for {
			sl := &bs.seen[h]
			if sl.stamp != bs.stamp {
				*sl = fdSlot{fd: fd, stamp: bs.stamp}
				break
			}
			if sl.fd == fd {
				return true
			}
			h = (h + 1) & mask
		}
	}
	return false
}

type fdSlot struct {
	fd    int
	stamp uint32
}
