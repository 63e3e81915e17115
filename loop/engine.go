package loop

import (
	"errors"
	"runtime"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/errs"
	"github.com/eventpoll/eventpoll/ring"
	"golang.org/x/sys/unix"
)

// ErrRunning is the cause of the error Run returns when another Run of the
// same loop is running.
var ErrRunning = errors.New("loop already running")

// openPoller makes the loop's Poller: a ring when asked for and possible,
// an epoll instance otherwise.
func (l *Loop) openPoller() error {
	// Busy polling is epoll_wait's (ep_poll spins before it sleeps); the
	// ring collects events with IORING_OP_EPOLL_WAIT, whose epoll_sendevents
	// never spins, so the parameters would be set and never used there.
	if l.cfg.engine == EngineRing && l.cfg.busyPoll == nil {
		// One slot more than the capacity: the loop's wake-up eventfd
		// takes one, which is not the caller's to count.
		r, err := ring.New(l.cfg.maxRegs+1, ring.WithEngine(ring.EngineEpollWait))
		if err == nil {
			l.p, l.engine = r, EngineRing
			return nil
		}
		if !errors.Is(err, errors.ErrUnsupported) {
			return errs.Call(pkg, "New", -1, err)
		}
	}
	ep, err := epoll.New()
	if err != nil {
		return errs.Call(pkg, "New", -1, err)
	}
	if l.cfg.busyPoll != nil {
		if err := ep.SetBusyPoll(*l.cfg.busyPoll); err != nil {
			ep.Close()
			return errs.Call(pkg, "New", -1, err)
		}
	}
	// The batch backend is settled now, while descriptors are to be had:
	// made lazily, its ring would take its descriptor at the loop's first
	// batch, which under EMFILE may be the one a closing connection has
	// just freed for a paused accept.
	ep.BatchBackend()
	l.p, l.inst, l.engine = ep, ep, EngineEpoll
	return nil
}

// configureThread gives the locked thread the loop's timer slack and CPU,
// and returns the function that restores what it had.
func (l *Loop) configureThread() (restore func(), err error) {
	var undo []func()
	restore = func() {
		for _, f := range undo {
			f()
		}
	}
	if l.cfg.slack > 0 {
		old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
		if err == nil && unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(l.cfg.slack/time.Nanosecond), 0, 0, 0) == nil {
			undo = append(undo, func() { unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0) })
		}
	}
	if l.cfg.cpu >= 0 {
		var old, set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &old); err != nil {
			return restore, err
		}
		set.Set(l.cfg.cpu) // a CPU past the set's size leaves it empty: EINVAL below
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return restore, err
		}
		undo = append(undo, func() { unix.SchedSetaffinity(0, &old) })
	}
	return restore, nil
}

func runtimeStack(buf []byte) int { return runtime.Stack(buf, false) }
