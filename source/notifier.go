package source

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Notifier is an eventfd(2): a 64-bit counter in the kernel that is readable
// while it is not zero. It is the wake-up every event loop needs, the way for
// another goroutine to interrupt a wait: the loop watches Fd for epoll.In,
// and Notify, from any goroutine, makes it ready.
//
// A plain Notifier merges: the first Notify after a Read writes the counter,
// and every Notify after it, until the next Read, only finds a flag already
// set and returns, with no system call, as the Go runtime's netpollBreak does
// with its CAS on netpollWakeSig. A thousand Notifies before the reader runs
// cost one eventfd write, one event and one Read. A semaphore Notifier (see
// NewSemaphore) counts instead: every Notify is one unit and every Read takes
// one.
type Notifier struct {
	life    fdLife
	sem     bool
	pending atomic.Bool // a write is in the counter and no Read has cleared it (merging mode)
}

var (
	errNotifierAgain = wouldBlock("eventfd read")
	errNotifierFull  = wouldBlock("eventfd write")
)

// NewNotifier creates a merging Notifier with eventfd(0,
// EFD_NONBLOCK|EFD_CLOEXEC).
//
// Errors: EMFILE or ENFILE when out of file descriptors; ENOMEM.
func NewNotifier() (*Notifier, error) { return newNotifier(0, 0) }

// NewSemaphore creates a counting Notifier with eventfd(initial,
// EFD_SEMAPHORE|EFD_NONBLOCK|EFD_CLOEXEC). Notifies are not merged: each adds
// one to the counter, and each Read takes one away and returns 1, so n
// Notifies make n Reads succeed, handed out one per reader. It is readable
// while the counter is not zero, so a level-triggered watcher keeps waking
// until every unit has been taken.
//
// Errors: as NewNotifier.
func NewSemaphore(initial uint32) (*Notifier, error) {
	return newNotifier(uint(initial), unix.EFD_SEMAPHORE)
}

func newNotifier(initial uint, flags int) (*Notifier, error) {
	fd, err := unix.Eventfd(initial, flags|unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, callError("eventfd", -1, err)
	}
	n := &Notifier{sem: flags&unix.EFD_SEMAPHORE != 0}
	n.life.init(fd)
	return n, nil
}

// Fd returns the eventfd, to register for epoll.In. It stays owned by the
// Notifier: do not read or close it. It is -1 once Close has begun.
func (n *Notifier) Fd() int { return n.life.get() }

// Notify makes the Notifier readable. It never blocks and allocates nothing,
// and may be called from any goroutine.
//
// In merging mode it writes 1 to the eventfd only if no write is already
// pending since the last Read; otherwise it returns at once without a
// system call. In semaphore mode it always writes 1.
//
// Errors: ErrClosed after Close; an error matching unix.EAGAIN in the
// practically unreachable case that the counter is at its maximum
// (2^64-2), which cannot happen in merging mode.
func (n *Notifier) Notify() error {
	if !n.sem {
		// The fast path: a write is in the counter already; the reader will
		// see it. Only a Notify that wins the flag pays for the system call.
		if n.pending.Load() || !n.pending.CompareAndSwap(false, true) {
			if n.life.closed() {
				return closedError("eventfd write")
			}
			return nil
		}
	}
	if err := n.life.incref("eventfd write"); err != nil {
		return err
	}
	defer n.life.decref()
	switch err := writeUint64(n.life.fd, 1); err {
	case nil:
		return nil
	case unix.EAGAIN:
		return errNotifierFull
	default:
		return callError("eventfd write", n.life.fd, err)
	}
}

// Read consumes the notification and returns the number of eventfd writes it
// absorbs. In merging mode that is always 1: at most one write is ever in the
// counter, since a Notify writes only after a Read has cleared the flag. In
// semaphore mode it is also 1, taken from the counter.
//
// In merging mode Read reads the counter first and clears the merge flag
// after, as the Go runtime's netpoll does. A Notify that runs between the two
// is merged into the write just read: it belongs to this Read, and a caller
// that reads before it looks for work (enqueue then Notify; Read then
// dequeue) sees that Notify's work. A Notify after Read returns always writes
// again, so no wake-up is lost. (Clearing before reading would be wrong: a
// write made between the clear and the read would be consumed while leaving
// the flag set, and every later Notify would be swallowed.)
//
// Errors: an error matching unix.EAGAIN when nothing is pending (drain
// until it); ErrClosed after Close.
func (n *Notifier) Read() (uint64, error) {
	if err := n.life.incref("eventfd read"); err != nil {
		return 0, err
	}
	defer n.life.decref()
	v, err := readUint64(n.life.fd)
	if err == unix.EAGAIN {
		// A Notify that has won the flag but not yet written will write:
		// its event is still to come, so the flag stays set.
		return 0, errNotifierAgain
	}
	if err != nil {
		return 0, callError("eventfd read", n.life.fd, err)
	}
	if !n.sem {
		n.pending.Store(false)
	}
	return v, nil
}

// Close closes the eventfd. It is idempotent; later calls return nil. A
// Notify or Read running at the same time either completes first or returns
// ErrClosed; none reaches a reused descriptor number.
func (n *Notifier) Close() error {
	_, err := n.life.close()
	return err
}
