package loop

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/errs"
	"github.com/eventpoll/eventpoll/internal/token"
	"github.com/eventpoll/eventpoll/source"
	"golang.org/x/sys/unix"
)

// Token names one registration of a Loop: a slot of the loop's table in the
// low 32 bits and the slot's generation above, the 64-bit data the kernel
// carries back with every event. Unregister moves the generation on, so an
// event that still carries an old Token, one already in the kernel's ready
// list or in the batch being dispatched, or one for a descriptor number
// closed and reused, names no registration and is dropped (Stats.Stale).
// The zero Token is never valid.
type Token uint64

// Handler receives the events of one registration, on the loop's goroutine.
// ev holds the readiness the kernel reported (epoll.In, Out, Err, Hup,
// RDHup, ...), or epoll.Err|epoll.Hup when a deferred registration or
// modification failed (see Register). OnEvent must not block: while it
// runs no other registration of the loop is served.
type Handler interface {
	OnEvent(l *Loop, t Token, ev epoll.Events)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(l *Loop, t Token, ev epoll.Events)

// OnEvent calls f(l, t, ev).
func (f HandlerFunc) OnEvent(l *Loop, t Token, ev epoll.Events) { f(l, t, ev) }

// reg is one registration: 24 bytes, so that with the table's generation
// an entry is 32 (the fd fits: Register refuses those the kernel cannot
// have).
type reg struct {
	fd int32
	ev epoll.Events
	h  Handler
}

// wakeData tags the loop's own wake-up eventfd in the interest set: it has
// token.Internal set, which no registration's Token has.
const wakeData = uint64(token.Internal) | 1

// The life of a loop: created, running (inside Run), closed.
const (
	stateIdle = iota
	stateRunning
	stateClosed
)

// Loop is one goroutine's reactor: an epoll instance (or an io_uring ring
// in front of one) whose events it dispatches to handlers, nanosecond
// timers, and a queue of functions posted from other goroutines. See the
// package documentation for what runs where.
type Loop struct {
	p      epoll.Poller
	inst   *epoll.Instance // the Poller when the engine is EngineEpoll
	engine Engine
	cfg    config

	regs   *token.Table[reg]
	cmds   []epoll.Cmd // the iteration's interest changes (changes.go)
	closeq []int       // descriptors UnregisterClose hands to the loop, closed after the next flush
	faults []fault     // deferred changes the kernel refused, reported after the flush
	evs    []epoll.Event
	inLoop bool // Run is on the loop goroutine: changes are deferred to the iteration's end

	wake     *source.Notifier
	sleeping atomic.Bool  // the loop is (about to be) in Wait with a timeout other than 0
	sleepTil atomic.Int64 // when a timed Wait ends, in loop nanoseconds; math.MaxInt64 blocked

	pmu    sync.Mutex
	posts  []func()
	spare  []func()
	closed bool        // Post refuses from now on; guarded by pmu
	queued atomic.Bool // posts is not empty; set and cleared under pmu

	timers timerHeap

	smu     sync.Mutex // guards state and the transitions of Run and Close
	state   int
	stopReq atomic.Bool   // Close or ctx asked Run to return
	done    chan struct{} // closed when a running Run has returned
	tid     atomic.Int32  // the loop thread's id while Run runs; 0 otherwise

	base      time.Time // the zero of loop nanoseconds (monotonic)
	lastYield int64     // loop nanoseconds of the last yieldIfDue that yielded
	st        statCounters
}

// New creates a Loop: an epoll instance (or, with WithEngine(EngineRing),
// an io_uring ring in front of one) and an eventfd for wake-ups registered
// in it. The loop does nothing until Run.
//
// Errors: those of epoll.New and source.NewNotifier (EMFILE, ENFILE,
// ENOMEM); EINVAL for an option out of range.
func New(opts ...Option) (*Loop, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	l := &Loop{
		cfg:   cfg,
		regs:  token.New[reg](0),
		evs:   make([]epoll.Event, cfg.events),
		done:  make(chan struct{}),
		base:  time.Now(),
		posts: make([]func(), 0, 64),
		spare: make([]func(), 0, 64),
	}
	l.timers.init()
	if err := l.openPoller(); err != nil {
		return nil, err
	}
	w, err := source.NewNotifier()
	if err != nil {
		l.p.Close()
		return nil, errs.Call(pkg, "New", -1, err)
	}
	l.wake = w
	if err := l.p.Add(w.Fd(), epoll.In, wakeData); err != nil {
		w.Close()
		l.p.Close()
		return nil, errs.Call(pkg, "New", -1, err)
	}
	return l, nil
}

const pkg = "loop"

// Engine reports the engine the loop runs on: EngineRing only when it was
// asked for and the kernel has IORING_OP_EPOLL_WAIT, EngineEpoll otherwise.
func (l *Loop) Engine() Engine { return l.engine }

// Caps reports what the loop's registrations can be (level or edge
// triggered, OneShot, Exclusive): the engine's epoll.Caps.
func (l *Loop) Caps() epoll.Caps { return l.p.Caps() }

// Run drives the loop on the calling goroutine until ctx is done or Close
// is called, and returns ctx.Err() or nil (after Close). The goroutine is
// locked to its OS thread for the duration, which gets the loop's timer
// slack and, with WithCPU, its CPU affinity; both are restored before Run
// returns.
//
// Each iteration waits for events (until the next timer is due, to the
// nanosecond; not at all if posted functions are queued), dispatches them
// to their handlers, runs the functions posted since the last iteration,
// fires the timers that are due, and applies the interest changes the
// iteration made (one BatchAll).
//
// A Run that returns because ctx is done leaves the loop as it was:
// registrations, timers and queued functions stay, and Run may be called
// again. A Run after Close, or while another Run is running, returns an
// error matching ErrClosed or ErrRunning.
func (l *Loop) Run(ctx context.Context) error {
	if err := l.enter(); err != nil {
		return err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	restore, err := l.configureThread()
	if err != nil {
		restore()
		l.leave()
		return &errs.Error{Pkg: pkg, Call: "Run", Fd: -1, Err: err}
	}
	l.tid.Store(int32(unix.Gettid()))
	if done := ctx.Done(); done != nil {
		stop := context.AfterFunc(ctx, func() { l.stopReq.Store(true); l.wakeUp() })
		defer stop()
	}
	l.inLoop = true
	err = l.iterate(ctx)
	l.inLoop = false
	l.st.publish()
	l.tid.Store(0)
	restore()
	l.leave()
	return err
}

// iterate is Run's loop.
func (l *Loop) iterate(ctx context.Context) error {
	l.flush()
	for {
		if l.stopReq.Load() {
			if l.closing() {
				return nil
			}
			if err := ctx.Err(); err != nil {
				l.stopReq.Store(false)
				return err
			}
			l.stopReq.Store(false) // a cancellation of an earlier Run's ctx
		}
		if err := l.once(); err != nil {
			if l.closing() {
				return nil
			}
			return err
		}
	}
}

// once is one iteration: wait, dispatch, posted functions, timers, changes.
func (l *Loop) once() error {
	n, err := l.wait()
	if err != nil {
		return err
	}
	l.dispatch(l.evs[:n])
	l.runPosts()
	l.fireTimers()
	l.flush()
	l.yieldIfDue()
	l.st.iterations++
	if l.st.iterations%64 == 0 {
		l.st.publish()
	}
	return nil
}

// yieldEvery is how often a busy loop passes through the Go scheduler.
// yieldSlack is how close a due timer keeps it from doing so: a pass costs
// a hand-off of the P between two threads (the goroutine is locked to its
// thread), tens of microseconds on a virtual machine.
const (
	yieldEvery = 2 * time.Millisecond
	yieldSlack = 200 * time.Microsecond
)

// yieldIfDue calls runtime.Gosched once per yieldEvery.
//
// The loop goroutine is locked to its thread and, busy, never enters the
// scheduler on its own, so its P's scheduling tick stands still. Once the
// tick has not moved for 10 ms, the runtime's monitor takes the P from the
// thread at every look that finds it in a system call, however short the
// call (it would preempt a goroutine that computes; one in epoll_wait it
// cannot), and each time wakes another thread to hold it: with one P, a
// server's loop lost it on most of its waits, about 5,500 thread switches
// a second beside it (TestBusyLoopKeepsItsP; BENCHMARKS.md has the
// throughput). A pass through the scheduler every 2 ms moves the tick, at
// the price of one hand-off of the P per 2 ms. A timer due within
// yieldSlack is not delayed for it.
func (l *Loop) yieldIfDue() {
	now := l.now()
	if now-l.lastYield < int64(yieldEvery) {
		return
	}
	if when, ok := l.timers.next(); ok && when-now < int64(yieldSlack) {
		return
	}
	l.lastYield = now
	runtime.Gosched()
}

// wait blocks in the engine until an event, a wake-up or the next timer.
func (l *Loop) wait() (int, error) {
	timeout := time.Duration(-1)
	til := int64(maxWhen)
	if when, ok := l.timers.next(); ok {
		now := l.now()
		timeout = max(time.Duration(when-now), 0)
		til = when
		if spin := l.cfg.spin; spin > 0 {
			// Sleep until spin before the deadline, then poll to it.
			if timeout <= spin {
				timeout = 0
			} else {
				timeout -= spin
			}
		}
	}
	if l.postsQueued() {
		timeout = 0
	}
	if timeout != 0 {
		// Post and timer changes from other goroutines notify only a
		// loop that sleeps; announce it before the last look at the queue.
		l.sleepTil.Store(til)
		l.sleeping.Store(true)
		// A timer set earlier from another goroutine after the look at
		// the heap above saw the loop awake and did not wake it: look
		// again, now that a later one will.
		if l.postsQueued() || l.stopReq.Load() {
			timeout = 0
		} else if when, ok := l.timers.next(); ok && when < til {
			timeout = 0
		} else {
			l.st.publishIfIdle()
		}
	}
	n, err := l.p.Wait(l.evs, timeout)
	l.sleeping.Store(false)
	return n, err
}

// dispatch hands each event to its registration's handler, dropping the
// events whose Token is stale.
func (l *Loop) dispatch(evs []epoll.Event) {
	for i := range evs {
		data := evs[i].Data()
		if data == wakeData {
			l.st.wakeups++
			for {
				if _, err := l.wake.Read(); err != nil {
					break
				}
			}
			continue
		}
		t := Token(data)
		r := l.regs.Get(token.Token(t))
		if r == nil {
			l.st.stale++
			continue
		}
		l.st.events++
		l.call(r.h, t, evs[i].Events)
		if l.stopReq.Load() && l.closing() {
			return
		}
	}
}

// call runs a handler, recovering a panic: the registration is removed
// and the panic reported to the fault handler.
func (l *Loop) call(h Handler, t Token, ev epoll.Events) {
	defer func() {
		if v := recover(); v != nil {
			l.handlerPanicked(t, v)
		}
	}()
	h.OnEvent(l, t, ev)
}

// now returns the loop's monotonic clock in nanoseconds.
func (l *Loop) now() int64 { return int64(time.Since(l.base)) }

// wakeUp makes a sleeping Wait return. The Notifier merges: however many
// goroutines call it before the loop reads the eventfd, one write is made.
func (l *Loop) wakeUp() { l.wake.Notify() }

// enter moves the loop to running.
func (l *Loop) enter() error {
	if l.regs == nil {
		return errs.NotCreated(pkg, "Run")
	}
	l.smu.Lock()
	defer l.smu.Unlock()
	switch l.state {
	case stateClosed:
		return errs.Closed(pkg, "Run")
	case stateRunning:
		return &errs.Error{Pkg: pkg, Call: "Run", Fd: -1, Err: ErrRunning}
	}
	l.state = stateRunning
	l.done = make(chan struct{})
	return nil
}

// leave ends Run: the loop is idle again, or, when Close was called, its
// resources are released here, on the loop goroutine.
func (l *Loop) leave() {
	l.smu.Lock()
	closing := l.stopReq.Load() && l.closed
	if closing {
		l.state = stateClosed
	} else {
		l.state = stateIdle
	}
	l.smu.Unlock()
	if closing {
		l.release()
	}
	close(l.done)
}

// closing reports whether Close has been called.
func (l *Loop) closing() bool {
	l.pmu.Lock()
	defer l.pmu.Unlock()
	return l.closed
}

// Close stops the loop and releases it: the epoll instance (and ring), the
// wake-up eventfd, every registration (the watched descriptors are not
// closed, except those handed over with UnregisterClose and not yet
// closed), pending timers. Functions already posted run before a running
// Run returns; later Posts fail with ErrClosed.
//
// Close may be called from any goroutine, any number of times (later calls
// return nil), and from inside a handler, a posted function or a timer:
// there it returns at once and Run returns when the current handler does.
// Called from another goroutine while Run runs, it returns after Run has
// returned, so that no handler runs after Close returns.
func (l *Loop) Close() error {
	if l.regs == nil {
		return nil // a zero Loop holds nothing
	}
	l.pmu.Lock()
	if l.closed {
		l.pmu.Unlock()
		return nil
	}
	l.closed = true
	l.pmu.Unlock()
	l.stopReq.Store(true)

	l.smu.Lock()
	state := l.state
	if state == stateIdle {
		l.state = stateClosed
	}
	done := l.done
	l.smu.Unlock()
	switch state {
	case stateIdle:
		l.release()
	case stateRunning:
		l.wakeUp()
		if tid := l.tid.Load(); tid != 0 && int32(unix.Gettid()) == tid {
			return nil // the loop's own goroutine: Run finishes the job
		}
		<-done
	}
	return nil
}

// release frees what the loop holds. Only one goroutine gets here.
func (l *Loop) release() {
	l.runPosts()
	l.flushCloses()
	l.p.Close()
	l.wake.Close()
	l.timers.clear()
	l.regs.Range(func(tok token.Token, r *reg) bool { r.h = nil; return true })
}
