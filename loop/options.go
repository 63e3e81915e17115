package loop

import (
	"fmt"
	"log"
	"strconv"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/errs"
	"github.com/eventpoll/eventpoll/ring"
)

// Engine selects what the loop waits with.
type Engine int

const (
	// EngineEpoll, the default, waits with epoll.Instance.Wait
	// (epoll_pwait2, nanosecond timeouts).
	EngineEpoll Engine = iota
	// EngineRing waits with a ring.Ring running the IORING_OP_EPOLL_WAIT
	// engine (Linux 6.15): an epoll instance behind an io_uring, whose
	// events are collected from shared memory, one io_uring_enter per batch
	// instead of one epoll_pwait2 per wait under load. Where the kernel or
	// the process cannot use it (older kernel, io_uring disabled,
	// EVENTPOLL_NO_URING set), and with WithBusyPoll, the loop runs
	// EngineEpoll instead, with the same behaviour; Loop.Engine says which
	// runs.
	EngineRing
)

// String returns "epoll" or "ring".
func (e Engine) String() string {
	switch e {
	case EngineEpoll:
		return "epoll"
	case EngineRing:
		return "ring"
	}
	return "Engine(" + strconv.Itoa(int(e)) + ")"
}

// Option configures New.
type Option func(*config)

type config struct {
	engine   Engine
	events   int
	maxRegs  int
	slack    time.Duration
	spin     time.Duration
	cpu      int
	busyPoll *epoll.BusyPollParams
	fault    func(Token, error)
}

// DefaultTimerSlack is the timer slack Run gives the loop's thread unless
// WithTimerSlack says otherwise.
const DefaultTimerSlack = time.Microsecond

func defaultConfig() config {
	return config{events: 256, maxRegs: 1 << 16, slack: DefaultTimerSlack, cpu: -1, fault: logFault}
}

func (c *config) check() error {
	switch {
	case c.engine != EngineEpoll && c.engine != EngineRing:
		return errs.Invalid(pkg, "New", -1, "unknown engine "+c.engine.String())
	case c.events < 1 || c.events > 1<<20:
		return errs.Invalid(pkg, "New", -1, "event buffer of "+strconv.Itoa(c.events)+" outside [1, 1048576]")
	case c.maxRegs < 1 || c.maxRegs > maxRingCapacity:
		return errs.Invalid(pkg, "New", -1, "ring capacity "+strconv.Itoa(c.maxRegs)+" outside [1, "+strconv.Itoa(maxRingCapacity)+"]")
	case c.slack < 0:
		return errs.Invalid(pkg, "New", -1, "negative timer slack")
	case c.spin < 0 || c.spin > time.Millisecond:
		return errs.Invalid(pkg, "New", -1, "timer spin "+c.spin.String()+" outside [0, 1ms]")
	case c.fault == nil:
		return errs.Invalid(pkg, "New", -1, "nil fault handler")
	}
	return nil
}

// WithEngine selects the engine (EngineEpoll by default).
func WithEngine(e Engine) Option { return func(c *config) { c.engine = e } }

// WithEventBuffer sets how many events one wait may collect (256 by
// default; 1 to 1,048,576).
func WithEventBuffer(n int) Option { return func(c *config) { c.events = n } }

// WithRingCapacity sets how many registrations EngineRing holds at most
// (65,536 by default; 1 to 1,048,575): the ring's slot table is sized once.
// A Register past it is refused with ENOSPC. EngineEpoll has no such bound.
func WithRingCapacity(n int) Option { return func(c *config) { c.maxRegs = n } }

// maxRingCapacity leaves room in the ring for the loop's wake-up eventfd.
const maxRingCapacity = ring.MaxItems - 1

// WithTimerSlack sets the timer slack of the loop's thread while Run runs
// (prctl PR_SET_TIMERSLACK): how much later than asked the kernel may end
// the loop's timed waits to merge wake-ups. The kernel's default for a
// thread is 50 us, which makes a 100 us timer land some 50 to 100 us late;
// the loop's default, DefaultTimerSlack (1 us), leaves the lateness to the
// wake-up itself. 0 leaves the thread's slack as it is. The old value is
// restored when Run returns.
func WithTimerSlack(d time.Duration) Option { return func(c *config) { c.slack = d } }

// WithTimerSpin makes the loop wake d before a timer is due and poll
// (epoll_pwait2 with a zero timeout, serving events and posted functions
// as they come) until it is, instead of sleeping until the deadline: the
// timer then fires within a few microseconds of it, without the wake-up
// latency of a sleeping thread (tens of microseconds on a virtual machine),
// at the price of up to d of CPU time per timer. 0, the default, never
// spins; d is at most 1 ms.
func WithTimerSpin(d time.Duration) Option { return func(c *config) { c.spin = d } }

// WithCPU pins the loop's thread to one CPU while Run runs
// (sched_setaffinity); the old affinity is restored when Run returns. A
// negative cpu (the default) leaves the affinity alone. A CPU the thread
// may not run on (absent, offline, outside the process's cpuset, or past
// the kernel's CPU set size) makes Run return at once with an error
// matching EINVAL, the loop left as it was.
func WithCPU(cpu int) Option { return func(c *config) { c.cpu = cpu } }

// WithBusyPoll sets the epoll instance's busy polling (epoll.SetBusyPoll,
// Linux 6.9) at New: a wait that finds nothing spins over the NAPI contexts
// of the instance's sockets for up to p.Usecs before sleeping. Only
// epoll_wait busy polls (IORING_OP_EPOLL_WAIT does not), so a loop given
// WithBusyPoll runs EngineEpoll even when EngineRing was asked for. New
// fails with SetBusyPoll's errors: EINVAL for p.Usecs above math.MaxInt32,
// EPERM for p.Budget above 64 without CAP_NET_ADMIN, ErrUnsupported before
// Linux 6.9.
func WithBusyPoll(p epoll.BusyPollParams) Option {
	return func(c *config) { c.busyPoll = &p }
}

// WithFaultHandler sets the function told of faults: a handler, posted
// function or timer that panicked (err is a *PanicError; the panicking
// registration has been removed), and deferred changes the kernel refused
// (an *epoll.Error; the registration has been removed). It runs on the
// loop's goroutine and must not block. The default logs the fault, with the
// stack of a panic, to the standard logger.
func WithFaultHandler(f func(t Token, err error)) Option { return func(c *config) { c.fault = f } }

func logFault(t Token, err error) {
	if pe, ok := err.(*PanicError); ok {
		log.Printf("loop: token %#x: %v\n%s", uint64(t), pe, pe.Stack)
		return
	}
	log.Printf("loop: token %#x: %v", uint64(t), err)
}

// PanicError is what the fault handler receives when a handler, a posted
// function or a timer panicked.
type PanicError struct {
	Token Token  // the registration whose handler panicked; 0 for a posted function or timer
	Value any    // the value passed to panic
	Stack []byte // the goroutine's stack at the panic
}

// Error returns "loop: handler panicked: <value>".
func (e *PanicError) Error() string { return fmt.Sprintf("loop: handler panicked: %v", e.Value) }

func newPanicError(t Token, v any) *PanicError {
	buf := make([]byte, 16<<10)
	buf = buf[:runtimeStack(buf)]
	return &PanicError{Token: t, Value: v, Stack: buf}
}
