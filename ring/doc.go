// Package ring is an epoll whose ready events land in a ring shared with the
// kernel, so that a busy program collects them without a system call.
//
// It is the "pollable epoll from user space" proposed in 2019 (a fixed-size
// user ring, ENOSPC past the maximum, edge-triggered, EPOLLONESHOT),
// built on io_uring as that proposal's reviewers suggested: every
// registration is an io_uring poll request that stays armed (multishot
// POLL_ADD, Linux 5.13) and posts one completion per readiness change into
// the completion queue, which Poll reads straight from shared memory.
//
// # Synopsis
//
//	r, err := ring.New(1024)                          // io_uring_setup + mmap
//	err = r.Add(fd, epoll.In|epoll.Edge, data)        // POLL_ADD, multishot
//	n := r.Poll(evs)                                  // no system call
//	n, err = r.Wait(evs, time.Millisecond)            // io_uring_enter only if the ring is empty
//	for _, ev := range evs[:n] { ... ev.Data() ... ev.Events ... }
//	err = r.Delete(fd)                                // before close(fd)
//	err = r.Close()
//
// # Semantics
//
// A Ring holds at most the number of registrations given to New; the next
// Add fails with ENOSPC, and nothing is ever reallocated. Events are
// edge-triggered: a registration reports when its file becomes ready (at
// once if it already is when added) and again at each new readiness change
// (every write into a pipe, every eventfd write), never because a condition
// merely persists. Read or write until EAGAIN before relying on the next
// event. Several changes of one file found in the same Poll are merged into
// one Event; changes that arrive after a Poll returned produce another.
// Spurious events can happen (a change that was already consumed, a
// re-armed request reporting what is still ready); file descriptors must be
// non-blocking.
//
// OneShot reports one event and then disarms the registration until Modify
// re-arms it, as EPOLLONESHOT does. The 64-bit data given to Add or Modify
// comes back in Event.Data.
//
// After Delete returns, no event for that registration is delivered, not
// even one the kernel had already placed in the ring: every request is
// tagged with its slot and a generation, and completions with an old
// generation are dropped. Delete before close(2): the kernel's poll request
// holds a reference on the open file until it is removed, so a closed but
// registered descriptor keeps its file (a socket stays connected) and keeps
// reporting.
//
// The kernel may end a multishot request on its own, for example when the
// completion queue was full at the moment it wanted to post. The ring then
// re-arms it; a fresh poll request checks the file's current readiness, so
// no readiness is lost across the gap. Completions that did not fit in the
// completion queue are held by the kernel (IORING_FEAT_NODROP) and brought in
// by the next Poll or Wait: none is lost.
//
// # Engines
//
// EngineMultishot (the default) is the design above. EngineEpollWait (Linux
// 6.15, IORING_OP_EPOLL_WAIT) puts a real epoll instance behind the ring:
// Add, Modify and Delete are epoll_ctl(2) calls, and the ring carries one
// epoll_wait request at a time whose completion brings a whole batch of
// ready events. Its registrations have epoll's full semantics: level
// triggering when Edge is not given, Exclusive, OneShot. It costs one
// io_uring_enter per batch rather than per event. New with
// WithEngine(EngineEpollWait) fails on a kernel without the opcode.
//
// Which to pick: EngineMultishot posts one completion per wake-up of the
// file, so a file written many times before the loop reads it (an eventfd
// or a pipe fed by a fast producer) fills the ring with completions that
// all report the same readiness; the loop then reads through stale edges
// (a read that finds nothing: drop the event). EngineEpollWait reports each
// ready file once per batch however often it was woken. On the perf bench
// epoll wait workload with 1024 eventfds (cmd/epollbench wait -engine
// ring|ring-epoll -f 1024; figures in BENCHMARKS.md) EngineEpollWait
// delivered 1.59x the events per second of C epoll_wait and
// EngineMultishot 0.44x. EngineMultishot suits files woken about once per
// event (sockets with one message per wake-up, listeners) and kernels
// between 5.13 and 6.15.
//
// # When to use a Ring, and when an epoll.Instance
//
// Choose a Ring when one goroutine drives a busy event loop over many files
// with a steady stream of readiness: under load the events are waiting in
// shared memory whenever the loop comes back, and collecting them costs no
// system call at all (the kernel's ring is the ready list).
//
// Choose an epoll.Instance when several threads must wait on the same set
// (the ring has one consumer), when level triggering is the natural model
// and the kernel predates 6.15, when io_uring is unavailable or forbidden
// (containers and hardened systems often disable it; see below), when
// registrations churn faster than events arrive (each Add is a submission
// and a completion instead of one epoll_ctl), or when the program is mostly
// idle: an idle loop sleeps in io_uring_enter exactly as it would in
// epoll_wait, and a Ring then buys nothing. The per-event work the program
// does itself (the read after each event) is not removed by either.
//
// # Without io_uring
//
// New fails with an error wrapping errors.ErrUnsupported and the reason
// (kernel too old, io_uring disabled by sysctl or seccomp,
// EVENTPOLL_NO_URING set) when io_uring cannot be used. Use epoll.Instance
// there: it offers the same Add/Modify/Delete/Wait calls on epoll_wait.
//
// # Threads
//
// The kernel does a poll request's completion work (checking the file and
// posting the completion) on the thread that submitted the request, and
// interrupts or wakes that thread to do it. Call Add and Modify from the
// goroutine that calls Wait, as an event loop does anyway, so that this
// work lands on the thread that is about to read the completions rather
// than waking an unrelated one; runtime.LockOSThread in that goroutine
// makes it certain. A registration outlives the thread that submitted it
// (TestRegistrationSurvivesExitOfSubmittingThread); a request the kernel
// ends with ECANCELED rather than the ring is re-armed like any other the
// kernel ends.
//
// # Concurrency
//
// One consumer: Poll and Wait are meant to be called by one goroutine (the
// event loop). They may be called from several; they are then serialised
// and none sees an event twice. Add, Modify and Delete may be called from
// any goroutine at any time, also while the consumer sleeps in Wait: an
// internal mutex orders them against Poll, so that "after Delete returns"
// is well defined. WithSpin makes an empty Wait watch the ring in user
// space for a while before it sleeps. Close may run while another goroutine is blocked in
// Wait: the waiter is woken (a no-op request completes into the ring),
// returns ErrClosed, and only then is the ring's descriptor closed, so no
// system call ever runs on a descriptor number that may have been reused.
package ring
