package source

import (
	"sync/atomic"

	"github.com/eventpoll/eventpoll/internal/fdlife"
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
//
// # Waking a loop
//
// This is how an event loop takes work from other goroutines (the Notifier
// example named wakeLoop is such a loop, whole):
//
//   - the loop creates a merging Notifier and registers its Fd, for
//     epoll.In, in the loop's own epoll instance, beside its sockets;
//   - a goroutine with work for the loop puts it on a queue the loop owns
//     (a mutex-guarded slice, a channel) and then calls Notify;
//   - when Wait reports the Notifier, the loop calls Read first and then
//     takes and runs everything on the queue.
//
// The order is what makes it safe: enqueue before Notify, Read before
// dequeue. A Notify merged into a write that Read has already consumed
// belongs to work the loop is about to find on the queue, and a Notify
// after Read writes again, so no work is left waiting for a wake-up that
// never comes, and a burst of posts costs one wake-up. Read on every
// report: Read is what lets the next Notify write again (until then Notifies
// are merged and make no new event, so with epoll.Edge an unread Notifier
// would never be reported again).
//
// The zero Notifier is not usable: every method returns an error matching
// ErrClosed (ErrNotCreated), Fd returns -1, and no call touches descriptor 0.
type Notifier struct {
	fd      fdlife.FD
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
	n.fd.Init(fd)
	return n, nil
}

// Fd returns the eventfd, to register for epoll.In. It stays owned by the
// Notifier: do not read or close it. It is -1 once Close has begun, and on
// a zero Notifier.
func (n *Notifier) Fd() int { return n.fd.Fd() }

// Notify makes the Notifier readable. It never blocks and allocates nothing,
// and may be called from any goroutine.
//
// In merging mode it writes 1 to the eventfd only if no write is already
// pending since the last Read; otherwise it returns at once without a
// system call. In semaphore mode it always writes 1.
//
// Errors: ErrClosed after Close (ErrNotCreated on a zero Notifier); an
// error matching unix.EAGAIN in the practically unreachable case that the
// counter is at its maximum (2^64-2), which cannot happen in merging mode.
func (n *Notifier) Notify() error {
	if !n.sem {
		// The fast path: a write is in the counter already; the reader will
		// see it. Only a Notify that wins the flag pays for the system call.
		if n.pending.Load() || !n.pending.CompareAndSwap(false, true) {
			if n.fd.Closing() {
				return unusable(&n.fd, "eventfd write")
			}
			return nil
		}
	}
	if err := acquire(&n.fd, "eventfd write"); err != nil {
		return err
	}
	defer n.fd.Release()
	switch err := writeUint64(n.fd.Sysfd(), 1); err {
	case nil:
		return nil
	case unix.EAGAIN:
		return errNotifierFull
	default:
		return callError("eventfd write", n.fd.Sysfd(), err)
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
// until it), made once so that draining allocates nothing; ErrClosed after
// Close (ErrNotCreated on a zero Notifier).
func (n *Notifier) Read() (uint64, error) {
	if err := acquire(&n.fd, "eventfd read"); err != nil {
		return 0, err
	}
	defer n.fd.Release()
	v, err := readUint64(n.fd.Sysfd())
	if err == unix.EAGAIN {
		// A Notify that has won the flag but not yet written will write:
		// its event is still to come, so the flag stays set.
		return 0, errNotifierAgain
	}
	if err != nil {
		return 0, callError("eventfd read", n.fd.Sysfd(), err)
	}
	if !n.sem {
		n.pending.Store(false)
	}
	return v, nil
}

// Close closes the eventfd. It is idempotent; later calls return nil. A
// Notify or Read running at the same time either completes first or returns
// ErrClosed; none reaches a reused descriptor number. On a zero Notifier it
// returns an error matching ErrClosed and closes nothing.
func (n *Notifier) Close() error { return closeFD(&n.fd) }
