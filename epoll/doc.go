// Package epoll is the Linux epoll(7) event-notification interface, complete
// and allocation-free: an interest set of watched files and a ready list the
// kernel fills as they become ready, so that waiting costs O(ready) rather
// than O(watched).
//
// # Synopsis
//
//	ep, err := epoll.New()                      // epoll_create1(EPOLL_CLOEXEC)
//	err = ep.Add(fd, epoll.In|epoll.Edge, data) // epoll_ctl(EPOLL_CTL_ADD)
//	n, err := ep.Wait(evs, 100*time.Microsecond) // epoll_pwait2, nanoseconds
//	for _, ev := range evs[:n] { ... ev.Data() ... ev.Events ... }
//	err = ep.Delete(fd)                         // before close(fd)
//	err = ep.Close()
//
// Beside the calls the kernel has, the package provides those proposed for
// it and never merged, built on what Linux has today: WaitDeadline, a wait
// until an absolute time on CLOCK_MONOTONIC or CLOCK_REALTIME (the 2015
// epoll_pwait1 proposal); PWait, a wait under a signal mask; and
// WaitContext, a wait that parks the goroutine in the Go runtime's poller
// instead of holding an OS thread.
//
// # Level and edge triggering
//
// By default a registration is level-triggered: every Wait reports the file
// for as long as it is ready, as poll(2) would. With Edge (EPOLLET) the
// kernel reports a readiness change once: after a report, no further report
// comes until new data arrives (or the file becomes writable again), however
// much is left unread. With Edge a program must therefore
//
//   - use non-blocking file descriptors (O_NONBLOCK), and
//   - read (or write, or accept) until the call fails with EAGAIN before
//     waiting again,
//
// or it stalls with data pending and no event to tell it so. Level
// triggering tolerates partial reads; edge triggering saves the kernel from
// re-checking files that stay ready. Non-blocking descriptors are the rule
// with either mode: readiness is a hint that can be stale by the time the
// program acts (another thread read first; a packet with a bad checksum was
// dropped), so a read must be able to fail with EAGAIN rather than block.
//
// OneShot (EPOLLONESHOT) disables a registration after its first event;
// Modify re-arms it. It is how several threads share one instance without
// two of them handling the same file at once. Exclusive (EPOLLEXCLUSIVE) is
// for the other sharing pattern, one instance per thread all watching the
// same listening socket: an event wakes one of the waiting instances instead
// of all of them.
//
// # Registrations follow the open file, not the number
//
// The kernel keys a registration by the pair (file descriptor number, open
// file description) at the time of Add, and removes it only when the open
// file description is released. Closing an fd that was dup'ed, inherited by
// a child across fork, or passed over a Unix socket leaves the registration
// alive: events keep arriving with the old data, and the number may already
// name another file. Delete a descriptor before closing it. This package
// passes the 64-bit data through untouched; tagging it is the layer above's
// job. Package ring tags each registration with a slot index and a
// generation, which Delete and Modify move on, so that a late event for a
// deleted or closed registration is recognised and dropped; the coming
// package loop does the same with its tokens. internal/token is the
// slot-and-generation table both use.
//
// # What can be watched
//
// Sockets, pipes, FIFOs, terminals, eventfd, timerfd, signalfd, inotify,
// pidfd, userfaultfd, and epoll instances themselves: nesting, without
// cycles, in chains of at most five instances (four levels). WaitContext
// and Realtime WaitDeadline each nest the instance one level deeper
// themselves (in the Go runtime's instance, in a private one); see them for
// what happens at the limit. Regular files and directories cannot be
// watched: their reads never block, and Add fails with ErrNotPollable
// (EPERM).
//
// # Batching
//
// Batch applies many interest changes in one call, with the semantics of
// the epoll_ctl_batch proposed in 2015: in order, not atomic, stopping at
// the first failure and saying how many succeeded; BatchAll is the mode for
// event loops that applies every command and reports each result. On
// io_uring (IORING_OP_EPOLL_CTL, Linux 5.6) a batch costs one system call per
// 256 commands; without io_uring it is one epoll_ctl per command with the
// same results. A batch may hold up to MaxBatch commands, the proposal's
// bound. Changes collects a loop iteration's changes and drops the
// ones that cancel out before applying them with BatchAll.
//
// # Errors
//
// Every error is an *Error naming the call and the target descriptor.
// Kernel errors keep their errno, so errors.Is(err, unix.EEXIST) works;
// argument errors found before the system call match unix.EINVAL, and a
// descriptor number outside the int32 range is refused with EBADF before
// it could reach the kernel cut to another. A method called on a closed
// Instance returns an error matching ErrClosed; on the zero Instance, one
// matching ErrNotCreated and ErrClosed, without touching any descriptor.
//
// # Descriptors
//
// An Instance holds two descriptors from New on: the epoll instance and
// the eventfd Close wakes blocked waits with where it cannot interrupt them
// with a signal (see Close). Waits need nothing more, so a
// full descriptor table (EMFILE) never makes a Wait fail. WaitContext hands
// the instance's own descriptor to the runtime poller and needs a third
// only after the runtime refused it once (see WaitContext); each concurrent
// Realtime WaitDeadline uses two more (kept for reuse, and done without
// when the table is full), and the io_uring backend of Batch its ring.
//
// # Concurrency and Close
//
// All methods may be called from any goroutine. Close may run while other
// goroutines are inside Wait, WaitContext or Add: they return ErrClosed, and
// no system call is issued on the instance's descriptor number after Close
// has released it, since by then the number may belong to someone else.
package epoll
