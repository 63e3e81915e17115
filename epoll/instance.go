package epoll

import (
	"context"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/eventpoll/eventpoll/internal/errs"
	"github.com/eventpoll/eventpoll/internal/fdlife"
	"golang.org/x/sys/unix"
)

// Instance is an epoll instance: an interest set of watched files and a
// ready list the kernel fills as they become ready. All methods are safe for
// concurrent use; Close may run while other goroutines are inside any of them.
//
// An Instance holds two descriptors: the epoll instance (Fd) and an eventfd
// in its interest set that Close uses to wake blocked waits. Both are made
// by New, so that no wait ever needs a descriptor it could fail to get when
// the process's table is full. The zero Instance is not usable: every
// method returns an error matching ErrClosed (ErrNotCreated) and no
// descriptor is touched.
type Instance struct {
	// fd is the life of the epoll descriptor: every system call on it runs
	// under a reference, and Close closes the number only once the last
	// reference is given back, so no call ever reaches a reused number.
	fd fdlife.FD

	// wakeFd is the eventfd Close writes to end blocked waits when it
	// cannot interrupt them with a signal (interrupt.go). It is
	// level-triggered and written only by Close, and only then, so before
	// Close it is never ready: it never shows in any Wait's results, and
	// never makes the instance readable to a parent instance or to the
	// runtime poller watching it.
	wakeFd  int
	blocked atomic.Int32 // goroutines in a kernel wait that Close must end
	masked  atomic.Int32 // of which waits whose signal mask keeps SIGURG out

	msWait bool // forced millisecond fallback (WithMillisecondWait)

	mu      sync.Mutex    // guards the lazily made parts below
	closing chan struct{} // closed when Close begins; wakes WaitContext queues
	rt      []*rtWaiter   // idle helpers of Realtime WaitDeadline (deadline.go)
	file    *os.File      // fd (or, after a refusal, a dup) registered with the runtime poller; nil until WaitContext
	fileDup bool          // file holds a dup, not fd itself
	owner   *os.File      // an os.File on fd that the runtime poller refused: it owns the number
	raw     syscall.RawConn
	wc      waitCtx       // WaitContext state, owned by the holder of wcTurn
	wcTurn  chan struct{} // one-slot token: one goroutine parks in the runtime poller at a time

	batch batchState // Batch's backend and its lazily made io_uring ring (batch_uring.go)
}

// wakeData is the data of the wake registration. No Wait returns it: an
// event for it means Close has begun, and the Wait reports ErrClosed.
const wakeData = math.MaxUint64

// Option changes how New builds an Instance.
type Option func(*Instance)

// WithMillisecondWait makes every timed wait use epoll_pwait with the
// timeout rounded up to the next millisecond, as on a kernel without
// epoll_pwait2 (before Linux 5.11). It exists so programs and tests can
// exercise the fallback on any kernel; a wait still never returns early.
func WithMillisecondWait() Option { return func(ep *Instance) { ep.msWait = true } }

// New creates an epoll instance with epoll_create1(EPOLL_CLOEXEC), so the
// descriptor is not inherited across exec, and the eventfd (EFD_CLOEXEC)
// that Close uses to wake blocked waits: two descriptors.
//
// Errors: EMFILE or ENFILE when the process or system is out of file
// descriptors; ENOMEM when the kernel cannot allocate the instance or the
// per-user limit /proc/sys/fs/epoll/max_user_watches is exhausted.
func New(opts ...Option) (*Instance, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, callError("epoll_create1", -1, err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(fd)
		return nil, callError("eventfd", -1, err)
	}
	if errno := ctlRaw(fd, unix.EPOLL_CTL_ADD, wake, In, wakeData); errno != 0 {
		unix.Close(wake)
		unix.Close(fd)
		return nil, callError("epoll_ctl(ADD) wake eventfd", wake, errno)
	}
	ep := &Instance{
		wakeFd:  wake,
		closing: make(chan struct{}),
		wcTurn:  make(chan struct{}, 1),
	}
	ep.wcTurn <- struct{}{}
	for _, o := range opts {
		o(ep)
	}
	ep.fd.Init(fd)
	return ep, nil
}

// Fd returns the instance's file descriptor, for nesting it in another
// instance or handing it to code that polls it. The descriptor stays owned by
// the Instance: do not close it, and do not use it after Close. It returns -1
// once Close has begun, and on the zero Instance.
func (ep *Instance) Fd() int { return ep.fd.Fd() }

// acquire takes a reference on the descriptor for a call that will issue a
// system call on it, or returns the error of a closed or zero Instance.
func (ep *Instance) acquire(call string) error {
	if ep.fd.Acquire() {
		return nil
	}
	return ep.unusable(call)
}

// unusable is the error of a call on an Instance that Close has begun on,
// or that New did not make.
func (ep *Instance) unusable(call string) error {
	if !ep.fd.Opened() {
		return errs.NotCreated(pkg, call)
	}
	return closedError(call)
}

func (ep *Instance) isClosed() bool { return ep.fd.Closing() }

// enterBlocking counts the caller, which holds a reference, among the
// goroutines that Close must wake, or reports false when Close has begun.
// The order (count, then look) pairs with Close's (mark closing, then look
// at the count, in wake): one of the two always sees the other, so a
// waiter either is woken or never blocks.
func (ep *Instance) enterBlocking() bool {
	ep.blocked.Add(1)
	if ep.fd.Closing() {
		ep.blocked.Add(-1)
		return false
	}
	return true
}

func (ep *Instance) leaveBlocking() { ep.blocked.Add(-1) }

// wake is Close's wake-up for calls that hold references: it ends every
// blocked wait on this instance (and the Realtime helpers' waits, which
// watch it). It interrupts their threads (interruptBlocked), which makes
// nothing ready in the instance; only where that cannot work does it make
// the wake registration ready, which a parent instance or the runtime
// poller watching the instance would see.
func (ep *Instance) wake() {
	if ep.blocked.Load() == 0 {
		return
	}
	if ep.masked.Load() == 0 && ep.interruptBlocked() {
		return
	}
	one := [8]byte{1}
	unix.Write(ep.wakeFd, one[:])
}

// Close closes the instance. It is idempotent: later calls return nil. On
// the zero Instance it returns an error matching ErrClosed and closes
// nothing.
//
// Close may run while other goroutines are inside any method. Calls that
// have not yet entered the kernel return ErrClosed; a Wait blocked in the
// kernel is woken and returns ErrClosed (its events, if any arrived at the
// same moment, are dropped with the instance); a WaitContext parked in the
// Go runtime returns ErrClosed. Close returns once every such call has left
// the kernel and the descriptors are closed, so that the fd number is never
// used again by this Instance after it may have been reused.
//
// Registrations die with the instance. Closing the instance does not close
// the watched files.
//
// What a watcher of Fd sees: nothing. Close ends blocked waits (Wait or
// PWait with a timeout other than zero, WaitDeadline with a deadline
// ahead) by interrupting their threads with SIGURG, the signal the Go
// runtime preempts goroutines with, and makes nothing ready in the
// instance, so a parent instance watching Fd loses the registration and
// reports nothing, as with a raw epoll descriptor. The signal goes to every
// thread of the process (the waiters' threads are not known without a
// system call in every wait), so another thread sleeping in a system call
// that is never restarted after a signal (epoll_wait, poll, nanosleep, ...)
// may see EINTR, as it may from the runtime's own preemption. Where a
// signal cannot end the waits, Close makes the instance's own eventfd
// readable instead, and a parent instance whose wait falls in the moment
// before the descriptor is closed reports the instance readable: when a
// PWait's mask blocks SIGURG, when the thread list in /proc/self/task cannot
// be read (a full descriptor table, no /proc), or when a wait is still
// there after 20 ms of signals.
func (ep *Instance) Close() error {
	if !ep.fd.Opened() {
		return errs.NotCreated(pkg, "close")
	}
	if !ep.fd.Close(ep.wake) {
		return nil
	}
	ep.mu.Lock()
	close(ep.closing)
	stop, rt := ep.wc.stop, ep.rt
	ep.wc.stop, ep.rt = nil, nil
	ep.mu.Unlock()
	if stop != nil {
		stop()
	}
	ep.closeBatch() // no batch is in flight now; the ring goes before the fd
	for _, w := range rt {
		w.close()
	}
	err := ep.closeFd()
	unix.Close(ep.wakeFd)
	if err != nil {
		return callError("close", -1, err)
	}
	return nil
}

// closeFd closes the descriptor through whatever owns its number. An
// os.File registered with the runtime poller is closed by its Close, which
// evicts parked WaitContext goroutines, deletes the registration from the
// runtime's instance and closes the number once they have let go.
func (ep *Instance) closeFd() error {
	ep.mu.Lock()
	file, dup, owner := ep.file, ep.fileDup, ep.owner
	ep.mu.Unlock()
	if file != nil {
		err := file.Close()
		if !dup {
			return err
		}
	}
	if owner != nil {
		return owner.Close()
	}
	return unix.Close(ep.fd.Sysfd())
}

// waitCtx is the state of the one WaitContext call parked in the runtime
// poller; see WaitContext.
type waitCtx struct {
	fn     func(uintptr) bool // ep.pollOnce, made once so parking allocates nothing
	evs    []Event
	ctx    context.Context
	n      int
	err    error
	done   <-chan struct{} // the Done channel that stop is registered for
	stop   func() bool     // unregisters the cancellation callback
	cancel func()          // ep.cancelPark, made once
	dirty  atomic.Bool     // a cancellation moved the read deadline
}
