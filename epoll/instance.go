package epoll

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Instance is an epoll instance: an interest set of watched files and a
// ready list the kernel fills as they become ready. All methods are safe for
// concurrent use; Close may run while other goroutines are inside any of them.
type Instance struct {
	fd int

	// ref is the life of fd, modelled on internal/poll's fdMutex: the low
	// bits count calls in flight that may issue a system call on fd, and
	// closedBit says Close has begun. Once closedBit is set no call can take
	// a reference, and the descriptor is closed only when the count drains
	// to zero, so no system call ever runs on an fd number that may already
	// have been reused by another open.
	ref     atomic.Uint64
	drained chan struct{} // receives once when the count drains after Close

	msWait bool // forced millisecond fallback (WithMillisecondWait)

	mu        sync.Mutex    // guards the lazily made parts below
	closing   chan struct{} // closed when Close begins; wakes WaitContext queues
	wakeFd    int           // eventfd in the interest set, written by Close; -1 until a blocking Wait
	wakeReady atomic.Bool   // wakeFd is set: the fast path of ensureWake
	rt        []*rtWaiter   // idle per-deadline helpers for Realtime WaitDeadline
	file      *os.File      // fd registered with the Go runtime poller; nil until WaitContext
	raw       syscall.RawConn
	wc        waitCtx       // WaitContext state, owned by the holder of wcTurn
	wcTurn    chan struct{} // one-slot token: one goroutine parks in the runtime poller at a time

	batch batchState // Batch's backend and its lazily made io_uring ring (batch_uring.go)
}

const closedBit = 1 << 62

// Option changes how New builds an Instance.
type Option func(*Instance)

// WithMillisecondWait makes every timed wait use epoll_pwait with the
// timeout rounded up to the next millisecond, as on a kernel without
// epoll_pwait2 (before Linux 5.11). It exists so programs and tests can
// exercise the fallback on any kernel; a wait still never returns early.
func WithMillisecondWait() Option { return func(ep *Instance) { ep.msWait = true } }

// New creates an epoll instance with epoll_create1(EPOLL_CLOEXEC), so the
// descriptor is not inherited across exec.
//
// Errors: EMFILE or ENFILE when the process or system is out of file
// descriptors; ENOMEM when the kernel cannot allocate the instance or the
// per-user limit /proc/sys/fs/epoll/max_user_watches is exhausted.
func New(opts ...Option) (*Instance, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, callError("epoll_create1", -1, err)
	}
	ep := &Instance{
		fd:      fd,
		wakeFd:  -1,
		drained: make(chan struct{}, 1),
		closing: make(chan struct{}),
		wcTurn:  make(chan struct{}, 1),
	}
	ep.wcTurn <- struct{}{}
	for _, o := range opts {
		o(ep)
	}
	return ep, nil
}

// Fd returns the instance's file descriptor, for nesting it in another
// instance or handing it to code that polls it. The descriptor stays owned by
// the Instance: do not close it, and do not use it after Close. It returns -1
// once Close has begun.
func (ep *Instance) Fd() int {
	if ep.ref.Load()&closedBit != 0 {
		return -1
	}
	return ep.fd
}

// incref takes a reference on fd for a call that will issue a system call
// on it, or fails with ErrClosed. It is one atomic add, not a compare-and-
// swap loop: the counter's cache line is shared by every goroutine using
// the instance. A call that finds closedBit already set gives its
// reference straight back and never touches fd.
func (ep *Instance) incref(call string) error {
	if ep.ref.Add(1)&closedBit != 0 {
		ep.decref()
		return closedError(call)
	}
	return nil
}

// decref drops a reference. The drop that leaves a closed instance with
// none signals Close. Late callers refused by incref can make the count touch
// zero again after that, so the send must not block; Close waits at most
// once, and only after it set closedBit, so no signal it receives is stale.
func (ep *Instance) decref() {
	if ep.ref.Add(^uint64(0)) == closedBit {
		select {
		case ep.drained <- struct{}{}:
		default:
		}
	}
}

func (ep *Instance) isClosed() bool { return ep.ref.Load()&closedBit != 0 }

// Close closes the instance. It is idempotent: later calls return nil.
//
// Close may run while other goroutines are inside any method. Calls that
// have not yet entered the kernel return ErrClosed; a Wait blocked in the
// kernel is woken and returns ErrClosed (its events, if any arrived at the
// same moment, are dropped with the instance); a WaitContext parked in the
// Go runtime returns ErrClosed. Close returns once every such call has left
// the kernel and the descriptor is closed, so that the fd number is never
// used again by this Instance after it may have been reused.
//
// Registrations die with the instance. Closing the instance does not close
// the watched files.
func (ep *Instance) Close() error {
	for {
		s := ep.ref.Load()
		if s&closedBit != 0 {
			return nil
		}
		if ep.ref.CompareAndSwap(s, s|closedBit) {
			break
		}
	}
	ep.mu.Lock()
	close(ep.closing)
	wake := ep.wakeFd
	stop := ep.wc.stop
	ep.wc.stop = nil
	ep.mu.Unlock()
	if stop != nil {
		stop()
	}
	if wake >= 0 {
		// Blocked Waits hold a reference; an eventfd write makes the
		// level-triggered wake registration ready and wakes all of them.
		// No Wait can start after closedBit, so the event is seen only by
		// calls that will return ErrClosed.
		var one = [8]byte{1}
		unix.Write(wake, one[:])
	}
	if ep.ref.Add(0) != closedBit {
		<-ep.drained
	}
	ep.closeBatch() // no batch is in flight now; the ring goes before the fd
	var err error
	if ep.file != nil {
		// The runtime poller owns the descriptor now: its Close evicts parked
		// WaitContext goroutines and closes fd once they have let go.
		err = ep.file.Close()
	} else {
		err = unix.Close(ep.fd)
	}
	if wake >= 0 {
		unix.Close(wake)
	}
	for _, w := range ep.rt {
		w.close()
	}
	ep.rt = nil
	if err != nil {
		return callError("close", -1, err)
	}
	return nil
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
