package ring

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/errs"
	"github.com/eventpoll/eventpoll/internal/fdlife"
	"github.com/eventpoll/eventpoll/internal/token"
	"github.com/eventpoll/eventpoll/internal/uring"
	"golang.org/x/sys/unix"
)

// MaxItems bounds New's maxItems: the slot index travels in 32 bits of each
// request's tag, and a million registrations is beyond any fd limit a
// process is likely to have.
const MaxItems = 1 << 20

// ErrClosed is returned, wrapped, by every call on a Ring after Close, and
// by a Wait that was blocked when Close ran. It is epoll.ErrClosed, so one
// errors.Is check serves programs that use either. Calls on a Ring that New
// did not make (the zero value) match it too.
var ErrClosed = epoll.ErrClosed

// Engine selects how a Ring learns about readiness.
type Engine int

const (
	// EngineMultishot makes each registration a multishot IORING_OP_POLL_ADD
	// (Linux 5.13): one completion per readiness change, edge-triggered,
	// no system call to collect them. The default.
	EngineMultishot Engine = iota
	// EngineEpollWait puts an epoll instance behind the ring and keeps one
	// IORING_OP_EPOLL_WAIT request (Linux 6.15) in flight on it: epoll's full
	// semantics (level triggering, Exclusive), one io_uring_enter per batch.
	EngineEpollWait
)

// String returns "multishot" or "epoll-wait".
func (e Engine) String() string {
	switch e {
	case EngineMultishot:
		return "multishot"
	case EngineEpollWait:
		return "epoll-wait"
	}
	return fmt.Sprintf("Engine(%d)", int(e))
}

// Option configures New.
type Option func(*config)

type config struct {
	engine    Engine
	cqEntries int
	spin      time.Duration
}

// WithEngine selects the engine (EngineMultishot by default). New fails
// with an error wrapping errors.ErrUnsupported when the running kernel
// lacks the opcode the engine needs, and with EINVAL for an unknown engine.
func WithEngine(e Engine) Option { return func(c *config) { c.engine = e } }

// WithCQEntries sizes the completion queue (rounded up to a power of two by
// the kernel, at most 65536; New refuses more with EINVAL). The default holds 16
// completions per registration, at least 256 and at most 65536. A smaller queue costs nothing
// in correctness, since completions that do not fit are held by the kernel
// and multishot requests it ends are re-armed, but costs system calls to
// bring them in; tests use it to force exactly that.
func WithCQEntries(n int) Option { return func(c *config) { c.cqEntries = n } }

// WithSpin makes Wait, when the ring is empty, watch the completion queue
// in user space for up to d before it goes to sleep in io_uring_enter.
// Under a steady stream of events this can save a sleep and a wake-up (two
// context switches and the kernel's wake-up work) per batch, paid for with
// up to d of CPU time each time the ring runs dry. 0, the default, never
// spins. Negative values are refused by New with EINVAL.
func WithSpin(d time.Duration) Option { return func(c *config) { c.spin = d } }

// Ring is an epoll interest set whose ready events are read from an
// io_uring completion queue shared with the kernel. See the package
// documentation for its semantics and concurrency rules. The zero Ring is
// not usable: every method returns an error matching ErrClosed (Poll
// returns 0), and none touches a descriptor.
type Ring struct {
	// fd is the life of the io_uring descriptor: every call that may enter
	// the kernel on it (a submission, a wait) holds a reference, and Close
	// releases the ring only when none is held.
	fd fdlife.FD

	// mu guards everything below, the uring.Ring's submission and
	// completion queues included (uring.Ring is not safe for concurrent
	// use). Wait does not hold it while sleeping in the kernel.
	mu     sync.Mutex
	u      *uring.Ring
	engine Engine
	ep     *epoll.Instance // EngineEpollWait: the interest set behind the ring

	regs *token.Table[slot]
	byFd map[int32]token.Token

	cqes     []uring.CQE      // Reap's destination, allocated once
	rearm    []token.Token    // multishot requests the kernel ended, to be re-armed
	removes  []uint64         // POLL_REMOVEs the kernel would not take yet, retried by Poll
	lost     []token.Token    // registrations found lost, each reported once with Err
	pass     uint64           // counts Poll passes, to merge events of one file within a pass
	waitArgs []*uring.WaitArg // free WaitArgs: each timed sleeper needs its own

	ew    epollWait    // EngineEpollWait's batch and its bookkeeping (epollwait.go)
	batch batchScratch // BatchAll's translation buffers (batch.go)

	spin time.Duration

	// Counters for tests and for curious users (see Stats). Waits are
	// counted outside mu.
	stats Stats
	waits atomic.Uint64
}

// Stats counts what a Ring did, for diagnostics and tests.
type Stats struct {
	Rearmed   uint64 // multishot requests the kernel ended on its own and the ring re-armed
	Stale     uint64 // completions and events dropped because their registration was deleted or modified
	Submits   uint64 // io_uring_enter calls made to submit requests
	Waits     uint64 // io_uring_enter calls made by Wait to sleep
	Delivered uint64 // events handed to the caller
	Lost      uint64 // registrations whose number was closed without Delete, found when the ring needed it
	Rebuilt   uint64 // EngineEpollWait: epoll instances rebuilt to shed a registration Delete could not remove
}

// Stats returns the ring's counters.
func (r *Ring) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.stats
	st.Waits = r.waits.Load()
	return st
}

// slot is one registration: the value of its token.Table slot.
type slot struct {
	fd     int32
	events epoll.Events
	data   uint64
	file   fileID // EngineMultishot: which file it is, and the ring's duplicate
	armed  bool   // EngineMultishot: a request under the slot's token may still post
	dead   bool   // lost: its number was closed or reused without Delete; reports nothing more
	fired  bool   // EngineEpollWait OneShot: reported; nothing more until Modify

	// Merging within one Poll: the pass that last emitted this slot, and where.
	pass uint64
	out  int
}

// New creates a Ring for at most maxItems registrations: an io_uring
// instance (io_uring_setup(2) and mmap(2) of its queues) and, with
// EngineEpollWait, an epoll instance (epoll_create1(2)) behind it. Both
// descriptors are close-on-exec; Close releases them.
//
// Errors: EINVAL when maxItems is outside [1, MaxItems] or an option is
// out of range; an error wrapping errors.ErrUnsupported (and
// uring.ErrUnsupported) that says why when io_uring cannot be used in this
// process (kernel before 5.11, io_uring_disabled, seccomp, or
// EVENTPOLL_NO_URING set) or the engine's opcode is missing: use
// epoll.Instance then; ENOMEM, EMFILE and the like from the system calls.
func New(maxItems int, opts ...Option) (*Ring, error) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if err := c.check(maxItems); err != nil {
		return nil, err
	}
	if err := uring.Supported(); err != nil {
		return nil, unsupportedError(err)
	}
	u, err := uring.New(ringSizes(maxItems, &c))
	if errors.Is(err, uring.ErrUnsupported) {
		return nil, unsupportedError(err)
	}
	if err != nil {
		return nil, callError("New", err)
	}
	if c.engine == EngineEpollWait && !u.OpSupported(uring.OpEpollWait) {
		u.Close()
		return nil, &errs.Error{Pkg: pkg, Call: "New", Fd: -1, Err: errNoEpollWait, Kind: errs.ErrUnsupported}
	}
	var ep *epoll.Instance
	if c.engine == EngineEpollWait {
		if ep, err = epoll.New(); err != nil {
			u.Close()
			return nil, ctlError("New", -1, err)
		}
	}
	r := &Ring{
		u:      u,
		engine: c.engine,
		ep:     ep,
		regs:   token.New[slot](maxItems),
		byFd:   make(map[int32]token.Token, maxItems),
		cqes:   make([]uring.CQE, min(u.CQEntries(), 256)),
		rearm:  make([]token.Token, 0, maxItems),
		spin:   c.spin,
	}
	if c.engine == EngineEpollWait {
		r.ew.init(u.EpollEvents(), maxItems)
	}
	r.fd.Init(u.Fd())
	return r, nil
}

func (c *config) check(maxItems int) error {
	switch {
	case maxItems < 1 || maxItems > MaxItems:
		return errs.Invalid(pkg, "New", -1, fmt.Sprintf("maxItems %d outside [1, %d]", maxItems, MaxItems))
	case c.engine != EngineMultishot && c.engine != EngineEpollWait:
		return errs.Invalid(pkg, "New", -1, fmt.Sprintf("unknown engine %d", int(c.engine)))
	case c.cqEntries < 0 || c.cqEntries > uring.MaxCQEntries:
		return errs.Invalid(pkg, "New", -1, fmt.Sprintf("CQ entries %d outside [0, %d]", c.cqEntries, uring.MaxCQEntries))
	case c.spin < 0:
		return errs.Invalid(pkg, "New", -1, fmt.Sprintf("negative spin %v", c.spin))
	}
	return nil
}

// ringSizes returns the io_uring's SQ size and options for maxItems
// registrations.
func ringSizes(maxItems int, c *config) (int, uring.Options) {
	// The SQ only bounds how many requests one submission carries (getSQE
	// submits when it fills); the CQ is what holds events between Polls.
	sq := min(pow2(maxItems), 128)
	cq := c.cqEntries
	if cq == 0 {
		// A multishot registration posts a completion per wake-up, so a
		// slow consumer sees several per file; room for 16 each keeps the
		// overflow-and-re-arm path rare under a flood, for 256 bytes of
		// shared memory per registration.
		cq = min(max(pow2(16*maxItems), 256), uring.MaxCQEntries)
	}
	sq = min(sq, pow2(cq))
	uo := uring.Options{CQEntries: max(cq, sq), EpollEvents: 1}
	if c.engine == EngineEpollWait {
		uo.EpollEvents = min(maxItems, 1024)
	}
	return sq, uo
}

// unsupportedError is New's error when io_uring cannot be used here.
func unsupportedError(err error) error {
	return &errs.Error{Pkg: pkg, Call: "New", Fd: -1, Kind: errs.ErrUnsupported,
		Err: fmt.Errorf("%w (use epoll.Instance instead)", err)}
}

func pow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// Engine returns the engine the ring runs.
func (r *Ring) Engine() Engine { return r.engine }

// Caps reports what the ring's registrations can be. EngineMultishot:
// CapEdge and CapOneShot, since every registration is edge-triggered
// whether Edge is given or not, and Exclusive is refused. EngineEpollWait:
// everything epoll has (CapLevel, CapEdge, CapOneShot, CapExclusive).
func (r *Ring) Caps() epoll.Caps {
	if r.engine == EngineEpollWait {
		return epoll.CapLevel | epoll.CapEdge | epoll.CapOneShot | epoll.CapExclusive
	}
	return epoll.CapEdge | epoll.CapOneShot
}

// Len returns how many registrations the ring holds.
func (r *Ring) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.regs == nil {
		return 0
	}
	return r.regs.Len()
}

var _ epoll.Poller = (*Ring)(nil)

// Close wakes every Wait blocked in another goroutine (they return
// ErrClosed), waits for every call in flight to leave the kernel, and then
// releases the ring: the kernel cancels every poll request as the io_uring
// instance is torn down, and the epoll instance behind the ring is closed.
// Close is idempotent: later calls return nil. Every other method returns
// an error matching ErrClosed afterwards (Poll returns 0). On a Ring that
// New did not make, Close returns an error matching ErrClosed and touches
// nothing.
//
// The wake-up is a no-op request: its completion lands in the ring, which
// ends any io_uring_enter waiting for one. Poll and Wait leave it there
// once the close has begun, so every sleeping waiter sees it.
func (r *Ring) Close() error {
	if !r.fd.Opened() {
		return errs.NotCreated(pkg, "Close")
	}
	var wakeErr error
	if !r.fd.Close(func() {
		r.mu.Lock()
		wakeErr = r.wake()
		r.mu.Unlock()
	}) {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cancelEpollWait()
	err := r.u.Close()
	if r.ep != nil {
		if e := r.ep.Close(); err == nil {
			err = e
		}
	}
	r.regs.Range(func(_ token.Token, s *slot) bool {
		s.file.release()
		return true
	})
	if err == nil {
		err = wakeErr
	}
	if err != nil {
		return callError("Close", err)
	}
	return nil
}

// getSQE returns a free submission entry, submitting what is queued when
// the SQ is full. It returns an error only when the kernel will not take
// entries (an io_uring_enter error).
func (r *Ring) getSQE() (*uring.SQE, error) {
	if s := r.u.GetSQE(); s != nil {
		return s, nil
	}
	if _, err := r.submit(); err != nil {
		return nil, err
	}
	if s := r.u.GetSQE(); s != nil {
		return s, nil
	}
	return nil, unix.EBUSY
}

func (r *Ring) submit() (int, error) {
	r.stats.Submits++
	return r.u.Submit()
}

// submitQueued hands the kernel what the calls of this lock queued. A
// refusal leaves the entries in the SQ, published: they go with the next
// submission, and every Poll and Wait makes one, so nothing is lost.
func (r *Ring) submitQueued() {
	if r.u.SQSpace() < r.u.SQEntries() {
		r.submit()
	}
}

// cancelEpollWait makes sure no EPOLL_WAIT request is in flight before the
// ring's memory is unmapped: the kernel writes a completing request's
// events into the batch buffer, and once unmapped that address may be
// reused by someone else's mapping. Tearing the ring down cancels requests
// too, but asynchronously, after Close has returned.
func (r *Ring) cancelEpollWait() {
	wa := r.getWaitArg()
	for tries := 0; r.ew.inFlight && tries < 1000; tries++ {
		if tries == 0 {
			if s, err := r.getSQE(); err == nil {
				s.PrepAsyncCancel(tagEpollWait, 0)
				s.UserData = tagRemove
				r.submit()
			}
		}
		k, _ := r.u.Reap(r.cqes)
		for _, c := range r.cqes[:k] {
			if c.UserData == tagEpollWait {
				r.ew.inFlight = false
			}
		}
		if r.ew.inFlight && k == 0 {
			r.u.WaitCompletions(1, 10*time.Millisecond, wa)
		}
	}
}

// wake submits the no-op whose completion ends a Wait sleeping in the
// kernel. Without it Close would wait for that Wait forever, so a
// transient refusal (EBUSY, EAGAIN) is retried for up to a second.
func (r *Ring) wake() error {
	var err error
	for try := 0; try < 1000; try++ {
		if try > 0 {
			time.Sleep(time.Millisecond)
		}
		var s *uring.SQE
		if s, err = r.getSQE(); err != nil {
			continue
		}
		s.PrepNop()
		s.UserData = tagWake
		if _, err = r.submit(); err == nil {
			return nil
		}
		// The entry is published; the next attempt submits it with
		// whatever else is queued.
		if r.u.SQSpace() == r.u.SQEntries() {
			return nil
		}
	}
	return err
}

// getWaitArg returns a WaitArg for one timed sleep in the kernel: the
// kernel reads it during the call, so concurrent sleepers each need their
// own. They are kept for reuse; r.mu is held.
func (r *Ring) getWaitArg() *uring.WaitArg {
	if k := len(r.waitArgs); k > 0 {
		wa := r.waitArgs[k-1]
		r.waitArgs = r.waitArgs[:k-1]
		return wa
	}
	return new(uring.WaitArg)
}

func (r *Ring) putWaitArg(wa *uring.WaitArg) {
	if wa != nil {
		r.waitArgs = append(r.waitArgs, wa)
	}
}
