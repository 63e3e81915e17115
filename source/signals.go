package source

import (
	"os"
	"os/signal"
	"slices"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Signals delivers a set of signals as readiness: its descriptor becomes
// readable when one of them arrives, and Read returns which.
//
// # Why not signalfd
//
// signalfd(2) reports a signal only if it stays pending, which requires it
// to be blocked in every thread of the process; otherwise the kernel
// delivers it to any thread that does not block it, and a process-directed
// signal goes to the handler instead of the descriptor. A Go program cannot
// block a signal on every thread: the runtime creates threads at will and
// each one unblocks the signals the runtime handles, and the runtime
// installs its own handler for every catchable signal at start-up. A
// signalfd in a Go program therefore sees a signal only by luck of which
// thread the kernel picks, and a test that passed would prove nothing.
//
// So Signals is built on os/signal, the runtime's own delivery: the runtime
// handler records the signal, os/signal sends it on a channel, and a
// goroutine of this Signals moves it to a pending set and notifies a merging
// Notifier (an eventfd), whose descriptor is Fd. The cost is one goroutine
// per signal in the set and a hop through it; the gain is that every signal
// the runtime receives is reported.
//
// # Merging
//
// As with the kernel's standard signals (and the Go runtime's own delivery),
// a signal that arrives again while it is still pending is merged: Read
// returns each pending signal once. Distinct signals are never merged with
// each other: however many times one arrives, and however late the
// forwarding goroutines run, every other signal of the set that arrives is
// read too. Signals are read in the order they were handed over; the runtime
// hands over signals that are pending together by number, not by arrival,
// so two that arrive close together may be read in either order. Count
// arrivals with something else (a pipe, a socket) if they matter.
//
// The zero Signals is not usable: every method returns an error matching
// ErrClosed (ErrNotCreated) and Fd returns -1.
type Signals struct {
	n     Notifier
	chans []chan os.Signal // one per signal, each holding at most one: see NewSignals
	wg    sync.WaitGroup   // the forwarding goroutines
	once  sync.Once
	sigs  []syscall.Signal
	hook  func() // signalsForwardHook when created

	mu      sync.Mutex
	pending []syscall.Signal // in the order handed over, each at most once; never grows past len(sigs)
	set     [65]bool         // set[s]: s is in pending
}

// signalsForwardHook, when set by a test before NewSignals, runs in each
// forwarding goroutine before it records a signal: a stand-in for a
// goroutine the scheduler runs late.
var signalsForwardHook func()

var errSignalsAgain = wouldBlock("signals read")

// NewSignals starts delivery of the given signals to a new Signals, with
// signal.Notify. While it is open the signals no longer have their default
// effect (a SIGINT or SIGTERM no longer ends the program); Close restores
// it with signal.Stop, unless another channel still receives them. The
// default is the Go runtime's (see os/signal): SIGHUP, SIGINT and SIGTERM
// end the program, while SIGUSR1, SIGUSR2 and most others are caught and
// ignored. A signal listed twice is delivered once.
//
// Errors (argument errors matching unix.EINVAL): no signals (signal.Notify
// would take that as "all signals"); SIGKILL or SIGSTOP, which cannot be
// caught; a number outside 1..64. EMFILE, ENFILE, ENOMEM from eventfd.
func NewSignals(sigs ...syscall.Signal) (*Signals, error) {
	set, err := checkSignals(sigs)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, callError("eventfd", -1, err)
	}
	ss := &Signals{sigs: set, hook: signalsForwardHook, pending: make([]syscall.Signal, 0, len(set))}
	ss.n.fd.Init(fd)
	for _, sig := range set {
		// A channel of one per signal is the signal's pending bit. os/signal
		// drops a send to a full channel; a full channel here already holds
		// the same signal, so what is dropped is a repeat, merged. One
		// channel shared by the set would instead fill with repeats of one
		// signal while its reader is late, and drop the next different one.
		ch := make(chan os.Signal, 1)
		ss.chans = append(ss.chans, ch)
		ss.wg.Add(1)
		go ss.forward(ch)
		signal.Notify(ch, sig)
	}
	return ss, nil
}

// checkSignals validates the set and returns it without repeats.
func checkSignals(sigs []syscall.Signal) ([]syscall.Signal, error) {
	const call = "signal.Notify"
	if len(sigs) == 0 {
		return nil, invalid(call, "no signals given")
	}
	var seen [65]bool
	set := make([]syscall.Signal, 0, len(sigs))
	for _, s := range sigs {
		switch {
		case s == syscall.SIGKILL || s == syscall.SIGSTOP:
			return nil, invalid(call, s.String()+" cannot be caught")
		case s < 1 || s > 64:
			return nil, invalid(call, "signal number out of range: "+strconv.Itoa(int(s)))
		case !seen[s]:
			seen[s] = true
			set = append(set, s)
		}
	}
	return set, nil
}

// forward moves the signals of one channel to the pending set until Close
// closes the channel.
func (ss *Signals) forward(ch chan os.Signal) {
	defer ss.wg.Done()
	for s := range ch {
		if ss.hook != nil {
			ss.hook()
		}
		sig := s.(syscall.Signal) // the channel was registered for one syscall.Signal
		ss.mu.Lock()
		if !ss.set[sig] {
			ss.set[sig] = true
			ss.pending = append(ss.pending, sig)
		}
		ss.mu.Unlock()
		ss.n.Notify() // after the push: a Read that misses the signal sees the event
	}
}

// Fd returns the descriptor to register for epoll.In: the eventfd of the
// internal Notifier. It is -1 once Close has begun, and on a zero Signals.
func (ss *Signals) Fd() int { return ss.n.Fd() }

// Signals returns the signals being delivered, each once (none on a zero
// Signals).
func (ss *Signals) Signals() []syscall.Signal { return slices.Clone(ss.sigs) }

// Read returns the next pending signal, in the order they were handed over
// (see Merging). The descriptor stays readable until a Read has returned
// EAGAIN, so drain until then. It allocates nothing.
//
// Errors: an error matching unix.EAGAIN when no signal is pending (drain
// until it); ErrClosed after Close.
func (ss *Signals) Read() (syscall.Signal, error) {
	if ss.n.fd.Closing() {
		return 0, unusable(&ss.n.fd, "signals read")
	}
	if s, ok := ss.pop(); ok {
		return s, nil
	}
	// Empty: consume the notification, then look again, since a signal
	// pushed after the first look and before the eventfd read has had its
	// event consumed here. One pushed after the second look notifies anew.
	if _, err := ss.n.Read(); err != nil && !isAgain(err) {
		return 0, err
	}
	if s, ok := ss.pop(); ok {
		return s, nil
	}
	return 0, errSignalsAgain
}

func (ss *Signals) pop() (syscall.Signal, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.pending) == 0 {
		return 0, false
	}
	s := ss.pending[0]
	copy(ss.pending, ss.pending[1:])
	ss.pending = ss.pending[:len(ss.pending)-1]
	ss.set[s] = false
	return s, true
}

// Close stops delivery with signal.Stop, which restores the signals'
// default effect unless another channel still receives them, ends the
// forwarding goroutines and closes the descriptor. Signals still pending are
// dropped. It is idempotent; later calls return nil. On a zero Signals it
// returns an error matching ErrClosed.
func (ss *Signals) Close() error {
	if !ss.n.fd.Opened() {
		return unusable(&ss.n.fd, "close")
	}
	var err error
	ss.once.Do(func() {
		for _, ch := range ss.chans {
			signal.Stop(ch) // once it returns, nothing more is sent on ch
			close(ch)
		}
		ss.wg.Wait()
		err = ss.n.Close()
	})
	return err
}

func isAgain(err error) bool { return err == errNotifierAgain }
