package ring

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/uring"
	"golang.org/x/sys/unix"
)

// MaxItems bounds New's maxItems: the slot index travels in 32 bits of each
// request's tag, and a million registrations is beyond any fd limit a
// process is likely to have.
const MaxItems = 1 << 20

// ErrClosed is returned, wrapped, by every call on a Ring after Close, and
// by a Wait that was blocked when Close ran. It is epoll.ErrClosed, so one
// errors.Is check serves programs that use either.
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
// documentation for its semantics and concurrency rules.
type Ring struct {
	// fdLock is held shared by every goroutine inside Wait's kernel sleep
	// and exclusively by Close while it releases the ring's descriptor:
	// the descriptor must never be closed under an io_uring_enter.
	fdLock sync.RWMutex
	waitMu sync.Mutex // one waiter at a time: they share wa

	// mu guards everything below, the uring.Ring's submission and
	// completion queues included (uring.Ring is not safe for concurrent
	// use). Wait does not hold it while sleeping in the kernel.
	mu     sync.Mutex
	closed atomic.Bool
	u      *uring.Ring
	engine Engine
	ep     *epoll.Instance // EngineEpollWait only

	slots []slot
	free  []uint32         // unused slot indices, a stack
	byFd  map[int32]uint32 // fd -> slot index
	count int
	max   int

	cqes    []uring.CQE // Reap's destination, allocated once
	rearm   []tagged    // multishot requests the kernel ended, to be re-armed
	removes []uint64    // POLL_REMOVEs the kernel would not take yet, retried by Poll
	pass    uint64      // counts Poll passes, to merge events of one file within a pass

	// EngineEpollWait: the kernel writes ready events into waitBuf
	// (outside the Go heap) when the request completes.
	waitBuf      []unix.EpollEvent
	waitPos      int
	waitLen      int
	waitInFlight bool

	wa   uring.WaitArg
	spin time.Duration

	// Counters for tests and for curious users (see Stats). Waits are
	// counted outside mu.
	stats Stats
	waits atomic.Uint64
}

// Stats counts what a Ring did, for diagnostics and tests.
type Stats struct {
	Rearmed   uint64 // multishot requests the kernel ended on its own and the ring re-armed
	Stale     uint64 // completions dropped because their registration was deleted or modified
	Submits   uint64 // io_uring_enter calls made to submit requests
	Waits     uint64 // io_uring_enter calls made by Wait to sleep
	Delivered uint64 // events handed to the caller
}

// Stats returns the ring's counters.
func (r *Ring) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.stats
	st.Waits = r.waits.Load()
	return st
}

// slot is one registration.
type slot struct {
	fd     int32
	gen    uint32 // bumped on Delete and Modify: completions with an older one are stale
	events epoll.Events
	data   uint64
	live   bool
	armed  bool // a kernel request tagged (index, gen) may still post (multishot engine)

	// Merging within one Poll: the pass that last emitted this slot, and where.
	pass uint64
	out  int
}

// tagged names one request: a slot and the generation it was armed with.
type tagged struct {
	idx uint32
	gen uint32
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
	if maxItems < 1 || maxItems > MaxItems {
		return nil, fmt.Errorf("ring: New: maxItems %d outside [1, %d]: %w", maxItems, MaxItems, unix.EINVAL)
	}
	if c.engine != EngineMultishot && c.engine != EngineEpollWait {
		return nil, fmt.Errorf("ring: New: unknown engine %d: %w", int(c.engine), unix.EINVAL)
	}
	if c.cqEntries < 0 || c.cqEntries > uring.MaxCQEntries {
		return nil, fmt.Errorf("ring: New: CQ entries %d outside [0, %d]: %w", c.cqEntries, uring.MaxCQEntries, unix.EINVAL)
	}
	if c.spin < 0 {
		return nil, fmt.Errorf("ring: New: negative spin %v: %w", c.spin, unix.EINVAL)
	}
	if err := uring.Supported(); err != nil {
		return nil, fmt.Errorf("ring: New: %w (use epoll.Instance instead)", err)
	}

	// The SQ only bounds how many requests one submission carries (getSQE
	// submits when it fills); the CQ is what holds events between Polls.
	sq := min(pow2(maxItems), 128)
	cq := c.cqEntries
	if cq == 0 {
		// A multishot registration posts a completion per wake-up, so a
		// slow consumer sees several per file; room for 16 each keeps the
		// overflow-and-re-arm path rare under a flood (ring/bench.sh) for
		// 256 bytes of shared memory per registration.
		cq = min(max(pow2(16*maxItems), 256), uring.MaxCQEntries)
	}
	sq = min(sq, pow2(cq))
	uo := uring.Options{CQEntries: max(cq, sq), EpollEvents: 1}
	if c.engine == EngineEpollWait {
		uo.EpollEvents = min(maxItems, 1024)
	}
	u, err := uring.New(sq, uo)
	if errors.Is(err, uring.ErrUnsupported) {
		return nil, fmt.Errorf("ring: New: %w (use epoll.Instance instead)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("ring: New: %w", err)
	}
	r := &Ring{
		u:      u,
		engine: c.engine,
		slots:  make([]slot, maxItems),
		free:   make([]uint32, maxItems),
		byFd:   make(map[int32]uint32, maxItems),
		max:    maxItems,
		cqes:   make([]uring.CQE, min(u.CQEntries(), 256)),
		rearm:  make([]tagged, 0, maxItems),
		spin:   c.spin,
	}
	for i := range r.free {
		r.free[i] = uint32(maxItems - 1 - i) // pop gives 0, 1, 2, ...
	}
	if c.engine == EngineEpollWait {
		if !u.OpSupported(uring.OpEpollWait) {
			u.Close()
			return nil, fmt.Errorf("ring: New: EngineEpollWait needs IORING_OP_EPOLL_WAIT (Linux 6.15; use EngineMultishot or epoll.Instance): %w", errors.ErrUnsupported)
		}
		if r.ep, err = epoll.New(); err != nil {
			u.Close()
			return nil, fmt.Errorf("ring: New: %w", err)
		}
		r.waitBuf = u.EpollEvents()
	}
	return r, nil
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

// Len returns how many registrations the ring holds.
func (r *Ring) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count
}

// Close wakes a Wait blocked in another goroutine (it returns ErrClosed),
// waits for it to leave the kernel, and then releases the ring: the kernel
// cancels every poll request as the io_uring instance is torn down, and the
// epoll instance of EngineEpollWait is closed. Close is idempotent: later
// calls return nil. Every other method returns an error matching ErrClosed
// afterwards (Poll returns 0).
//
// The wake-up is a no-op request: its completion lands in the ring, which
// ends any io_uring_enter waiting for one. Poll and Wait leave it there
// once closed is set, so every sleeping waiter sees it.
func (r *Ring) Close() error {
	r.mu.Lock()
	if r.closed.Load() {
		r.mu.Unlock()
		return nil
	}
	r.closed.Store(true)
	wakeErr := r.wake()
	r.mu.Unlock()

	// Every waiter holds fdLock shared while inside the kernel; once we hold
	// it exclusively none is, and none can enter (they check closed first).
	r.fdLock.Lock()
	defer r.fdLock.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cancelEpollWait()
	err := r.u.Close()
	if r.ep != nil {
		if e := r.ep.Close(); err == nil {
			err = e
		}
	}
	if err == nil && wakeErr != nil {
		err = wakeErr
	}
	if err != nil {
		return fmt.Errorf("ring: Close: %w", err)
	}
	return nil
}

// getSQE returns a free submission entry, submitting what is queued when
// the SQ is full. It returns nil only when the kernel will not take
// entries (an io_uring_enter error), which the caller reports.
func (r *Ring) getSQE() *uring.SQE {
	if s := r.u.GetSQE(); s != nil {
		return s
	}
	if _, err := r.submit(); err != nil {
		return nil
	}
	return r.u.GetSQE()
}

func (r *Ring) submit() (int, error) {
	r.stats.Submits++
	return r.u.Submit()
}

// cancelEpollWait makes sure no EPOLL_WAIT request is in flight before the
// ring's memory is unmapped: the kernel writes a completing request's
// events into waitBuf, and once unmapped that address may be reused by
// someone else's mapping. Tearing the ring down cancels requests too, but
// asynchronously, after Close has returned.
func (r *Ring) cancelEpollWait() {
	for tries := 0; r.waitInFlight && tries < 1000; tries++ {
		if tries == 0 {
			if s := r.getSQE(); s != nil {
				s.PrepAsyncCancel(tagEpollWait, 0)
				s.UserData = tagRemove
				r.submit()
			}
		}
		k, _ := r.u.Reap(r.cqes)
		for _, c := range r.cqes[:k] {
			if c.UserData == tagEpollWait {
				r.waitInFlight = false
			}
		}
		if r.waitInFlight && k == 0 {
			r.u.WaitCompletions(1, 10*time.Millisecond, &r.wa)
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
		s := r.getSQE()
		if s == nil {
			err = errSQFull
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
