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
// A *Ring is an epoll.Poller, the second backend beside *epoll.Instance:
// a reactor or an epoll.Changes runs on either.
//
// # Synopsis
//
//	r, err := ring.New(1024)                          // io_uring_setup + mmap
//	err = r.Add(fd, epoll.In|epoll.Edge, data)        // POLL_ADD, multishot
//	n, err = r.BatchAll(cmds)                         // many changes, one io_uring_enter
//	n := r.Poll(evs)                                  // no system call
//	n, err = r.Wait(evs, time.Millisecond)            // io_uring_enter only if the ring is empty
//	for _, ev := range evs[:n] { ... ev.Data() ... ev.Events ... }
//	err = r.Delete(fd)                                // before close(fd)
//	err = r.Close()
//
// # Semantics
//
// A Ring holds at most the number of registrations given to New; the next
// Add fails with ENOSPC, and nothing is ever reallocated. With
// EngineMultishot events are edge-triggered (EngineEpollWait has epoll's
// triggering, see Engines): a registration reports when its file becomes
// ready (at once if it already is when added) and again at each new
// readiness change (every write into a pipe, every eventfd write), never
// because a condition merely persists. Read or write until EAGAIN before
// relying on the next event. Several changes of one file found in the
// same Poll are merged into one Event; changes that arrive after a Poll
// returned produce another. Spurious events can happen (a change that was
// already consumed, a re-armed request reporting what is still ready);
// file descriptors must be non-blocking. Caps reports what the engine
// honours.
//
// OneShot reports one event and then disarms the registration until Modify
// re-arms it, as EPOLLONESHOT does. The 64-bit data given to Add or Modify
// comes back in Event.Data.
//
// After Delete returns, no event for that registration is delivered, not
// even one the kernel had already placed in the ring: every request is
// tagged with its slot and a generation, and completions with an old
// generation are dropped.
//
// The kernel may end a multishot request on its own, for example when the
// completion queue was full at the moment it wanted to post. The ring then
// re-arms it; a fresh poll request checks the file's current readiness, so
// no readiness is lost across the gap. Completions that did not fit in the
// completion queue are held by the kernel (IORING_FEAT_NODROP) and brought in
// by the next Poll or Wait: none is lost.
//
// # Closing a registered descriptor
//
// Delete before close(2). A registration belongs to the open file its
// number named at Add, and a number closed without Delete may be reused by
// the next file the process opens. Add, Modify and Delete answer for such a
// number exactly as epoll_ctl(2) does, on both engines: EBADF once the
// number is closed, ENOENT once it names another file (Add then registers
// that file). Modify and Delete remove the old registration all the same,
// so no event for it is delivered after they return. No event of the file
// now under the number ever carries the old registration's data. What the
// old registration reports until then differs by engine:
//
//   - EngineMultishot keeps a registered anonymous file (an eventfd,
//     timerfd, signalfd, pidfd, epoll or inotify instance) open itself,
//     through a duplicate descriptor it closes at Delete (a descriptor per
//     such registration), and arms its requests on that duplicate: a
//     closed eventfd keeps reporting, with its data, until Delete. Other
//     files (sockets, pipes, FIFOs, devices), which the ring tells apart by
//     device and inode, hold no duplicate: the open request keeps the file
//     open (a socket connected) and reporting until the kernel ends the
//     request; the ring then does not re-arm it on a number that may name
//     another file, but reports the registration once with Err, and
//     nothing more until Delete.
//   - EngineEpollWait's registrations are epoll's: one whose file has no
//     descriptor left disappears with the file; one whose file another
//     descriptor (a dup, a child's copy) keeps open goes on reporting, and
//     Delete cannot remove it by its number (EBADF). The ring drops its
//     events, and when one comes in after the Delete it rebuilds its epoll
//     instance from its live registrations, which sheds the lost one (see
//     Stats.Rebuilt). A registration that cannot be carried into the new
//     instance because its own number was closed meanwhile is reported once
//     with Err, as above.
//
// Two limits of EngineMultishot's answers. It knows a non-anonymous file
// by device and inode, so an open file of the same inode under the same
// number (a pipe's other end, a FIFO or device opened again) passes for
// the registered one. And it compares anonymous files by open file with
// fcntl(F_DUPFD_QUERY) (Linux 6.10) or else kcmp(2); where neither is
// available it falls back to device and inode, which cannot tell two
// eventfds apart: Modify then changes, and Delete removes, the
// registration of the file registered, which is still the one polled, and
// answers nil where epoll_ctl would say ENOENT.
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
// ready file once per batch however often it was woken, and is the one to
// choose on Linux 6.15 and later when files are woken more often than they
// are read. EngineMultishot suits files woken about once per event (sockets
// with one message per wake-up, listeners) and kernels between 5.13 and
// 6.15. BENCHMARKS.md ("ring: choosing an engine") has the measurements
// behind this rule.
//
// # When to use a Ring, and when an epoll.Instance
//
// Choose a Ring when one goroutine drives a busy event loop over many files
// with a steady stream of readiness: under load the events are waiting in
// shared memory whenever the loop comes back, and collecting them costs no
// system call at all (the kernel's ring is the ready list).
//
// Choose an epoll.Instance when several threads must wait on the same set
// and share its events fairly, when level triggering is the natural model
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
// there: it offers the same Add/Modify/Delete/BatchAll/Wait calls (both are
// epoll.Pollers).
//
// # Threads
//
// The kernel does a poll request's completion work (checking the file and
// posting the completion) on the thread that submitted the request, and
// interrupts or wakes that thread to do it. Call Add and Modify from the
// goroutine that calls Wait, as an event loop does anyway, so that this
// work lands on the thread that is about to read the completions rather
// than waking an unrelated one; runtime.LockOSThread in that goroutine
// makes it certain. A registration outlives the thread that submitted it;
// a request the kernel ends with ECANCELED rather than the ring is
// re-armed like any other the kernel ends.
//
// # Concurrency
//
// One consumer is the design: Poll and Wait are meant to be called by one
// goroutine (the event loop). They may be called from several; each event
// then goes to one of them, and none sees an event twice. Waits in
// different goroutines sleep in the kernel side by side, each with its own
// timeout: a Wait(evs, 0) or a timed Wait is never held up by another
// goroutine's Wait(evs, -1). Add, Modify, Delete and BatchAll may be
// called from any goroutine at any time, also while the consumer sleeps in
// Wait: an internal mutex orders them against Poll, so that "after Delete
// returns" is well defined. WithSpin makes an empty Wait watch the ring in
// user space for a while before it sleeps. Close may run while other
// goroutines are inside any method: a sleeping Wait is woken (a no-op
// request completes into the ring) and returns ErrClosed, and the ring's
// descriptors are closed only once every call has left the kernel, so no
// system call ever runs on a descriptor number that may have been reused.
package ring
