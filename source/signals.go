package source

import (
	"os"
	"os/signal"
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
// per Signals and a hop through it; the gain is that every signal the
// runtime receives is reported.
//
// # Merging
//
// As with the kernel's standard signals (and the Go runtime's own delivery),
// a signal that arrives again while it is still pending is merged: Read
// returns each pending signal once, in the order they first arrived. Count
// arrivals with something else (a pipe, a socket) if they matter.
//
// The zero Signals is not usable: every method returns an error matching
// ErrClosed (ErrNotCreated) and Fd returns -1.
type Signals struct {
	n    Notifier
	ch   chan os.Signal
	done chan struct{} // closed when the forwarding goroutine has ended
	once sync.Once

	mu      sync.Mutex
	pending []syscall.Signal // in order of arrival, each at most once
	set     [65]bool         // set[s]: s is in pending
	sigs    []os.Signal
}

var errSignalsAgain = wouldBlock("signals read")

// NewSignals starts delivery of the given signals to a new Signals, with
// signal.Notify. While it is open the signals no longer have their default
// effect (a SIGINT or SIGTERM no longer ends the program); Close restores
// it with signal.Stop, unless another channel still receives them. The
// default is the Go runtime's (see os/signal): SIGHUP, SIGINT and SIGTERM
// end the program, while SIGUSR1, SIGUSR2 and most others are caught and
// ignored.
//
// Errors (argument errors matching unix.EINVAL): no signals (signal.Notify
// would take that as "all signals"); SIGKILL or SIGSTOP, which cannot be
// caught; a number outside 1..64. EMFILE, ENFILE, ENOMEM from eventfd.
func NewSignals(sigs ...syscall.Signal) (*Signals, error) {
	const call = "signal.Notify"
	if len(sigs) == 0 {
		return nil, invalid(call, "no signals given")
	}
	list := make([]os.Signal, 0, len(sigs))
	for _, s := range sigs {
		switch {
		case s == syscall.SIGKILL || s == syscall.SIGSTOP:
			return nil, invalid(call, s.String()+" cannot be caught")
		case s < 1 || s > 64:
			return nil, invalid(call, "signal number out of range: "+strconv.Itoa(int(s)))
		}
		list = append(list, s)
	}
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, callError("eventfd", -1, err)
	}
	ss := &Signals{
		// The buffer absorbs a burst while the goroutine is descheduled;
		// os/signal drops a send to a full channel, but the runtime merges
		// repeats anyway, so a buffer of one per signal loses nothing new.
		ch:   make(chan os.Signal, len(list)+1),
		done: make(chan struct{}),
		sigs: list,
	}
	ss.n.fd.Init(fd)
	go ss.forward()
	signal.Notify(ss.ch, list...)
	return ss, nil
}

func (ss *Signals) forward() {
	defer close(ss.done)
	for s := range ss.ch {
		sig, ok := s.(syscall.Signal)
		if !ok || sig < 1 || sig > 64 {
			continue
		}
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

// Signals returns the signals being delivered.
func (ss *Signals) Signals() []syscall.Signal {
	out := make([]syscall.Signal, len(ss.sigs))
	for i, s := range ss.sigs {
		out[i] = s.(syscall.Signal)
	}
	return out
}

// Read returns the next pending signal, the oldest first. The descriptor
// stays readable until a Read has returned EAGAIN, so drain until then.
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
// forwarding goroutine and closes the descriptor. Signals still pending are
// dropped. It is idempotent; later calls return nil. On a zero Signals it
// returns an error matching ErrClosed.
func (ss *Signals) Close() error {
	if !ss.n.fd.Opened() {
		return unusable(&ss.n.fd, "close")
	}
	var err error
	ss.once.Do(func() {
		signal.Stop(ss.ch) // once it returns, nothing more is sent on ch
		close(ss.ch)
		<-ss.done
		err = ss.n.Close()
	})
	return err
}

func isAgain(err error) bool { return err == errNotifierAgain }
