// Package loop is one goroutine's reactor: an epoll instance (or an io_uring
// ring in front of one) whose events it hands to handlers, nanosecond
// timers, and a queue of functions posted from other goroutines, all run on
// the one goroutine that calls Run. It is the layer a server stands on, and
// it does once, and right, what every Go event loop has had to write again:
// stale-proof registrations, timers finer than a millisecond, wake-ups that
// merge, interest changes applied in batches, a handler's panic contained.
//
// # Synopsis
//
//	l, err := loop.New()                                  // epoll instance + wake-up eventfd
//	t, err := l.Register(fd, epoll.In|epoll.Edge, h)      // h.OnEvent(l, t, ev) on the loop
//	tm := l.AfterFunc(250*time.Microsecond, f)            // f on the loop, never early
//	err = l.Post(f)                                       // from any goroutine
//	err = l.Run(ctx)                                      // the loop, on this goroutine
//	err = l.Close()                                       // from anywhere, handlers included
//
// # What runs where
//
// Run drives the loop on the goroutine that calls it, locked to its OS
// thread. Every handler (Handler.OnEvent), every posted function and every
// timer's function runs on that goroutine, one at a time, never
// concurrently with each other. An iteration of the loop:
//
//  1. waits for events, until the next timer is due (to the nanosecond, with
//     epoll_pwait2), not at all when functions are queued;
//  2. hands each event to its registration's handler, dropping the events of
//     registrations removed in the meantime;
//  3. runs the functions posted since the last iteration, in order;
//  4. runs the timers that are due, in deadline order;
//  5. applies the interest changes the iteration made, in one batch.
//
// Register, Modify, Unregister and UnregisterClose, and Len and Fd, belong
// to the loop's goroutine: call them from a handler, a posted function or a
// timer, or while Run does not run (before it, or after it returned). Other
// goroutines hand work to the loop with Post. Post, Close, Stats,
// PendingTimers and every method of a Timer may be called from any
// goroutine.
//
// # What is immediate and what waits for the end of the iteration
//
// On the loop's goroutine while Run runs:
//
//   - Register and Modify are deferred: they join the iteration's batch of
//     changes, applied before the loop waits again (one BatchAll: on
//     io_uring a single io_uring_enter for the whole batch). Changes to one
//     registration merge (a Register and Modifies make one Add; two
//     Modifies make one; a Modify that changes nothing on a level-triggered
//     registration is dropped; a registration removed in the iteration that
//     made it never reaches the kernel). The loop keeps what it registers
//     per registration, so its memory follows the registrations, not the
//     process's highest descriptor number. Readiness the file
//     already has is reported when the change is applied, so none is lost.
//     A change the kernel refuses reaches the handler as one event
//     epoll.Err|epoll.Hup and the fault handler, and the registration is
//     removed.
//   - Unregister is immediate: when it returns the kernel no longer watches
//     the descriptor (the batch is applied with it, in order), so the caller
//     may close the descriptor at once.
//   - UnregisterClose hands the descriptor to the loop, which removes it
//     with the batch and closes it right after: the number stays taken until
//     then, so no other open can reuse it in between. A descriptor
//     registered and released in the same iteration costs no epoll_ctl.
//
// Before Run, and after it returned, every one of them is applied at once
// and returns the kernel's answer.
//
// # Tokens: no event reaches the wrong handler
//
// A registration is named by a Token: a slot of the loop's table and the
// slot's generation, packed in the 64-bit data the kernel returns with each
// event, as the Go runtime tags its pollDesc with a sequence number. When a
// registration is removed its generation moves on, so an event still
// carrying the old Token, one the kernel had queued, one later in the batch
// being dispatched, or one reported for a descriptor number that was closed
// and reused by the next Register, matches no registration and is dropped
// (and counted in Stats.Stale). After Unregister returns, the handler never
// sees another event for that Token.
//
// # Rules a handler must keep
//
//   - Never block: while a handler runs, no other registration, posted
//     function or timer of the loop is served. Hand slow work to another
//     goroutine and bring the result back with Post.
//   - Use non-blocking descriptors, and with epoll.Edge read (or write, or
//     accept) until EAGAIN before returning: the kernel reports an edge
//     once.
//   - Do not close a registered descriptor: Unregister first, or hand it to
//     UnregisterClose. A registration follows the open file, not the number.
//   - A panic is contained: it is recovered, the registration is removed
//     (its descriptor is not closed), the fault handler is told (by default
//     the panic and its stack are logged), and the loop goes on. A panic in
//     a posted function or a timer is reported the same way.
//
// # Timers
//
// AfterFunc and Every run a function after a delay, on the loop's
// monotonic clock, to the nanosecond: the loop's wait ends at the earliest
// deadline. A timer never fires early. It fires late by the time the
// thread takes to wake, which the kernel's timer slack dominates (50 us for
// a normal thread): Run sets the loop thread's slack to DefaultTimerSlack
// (1 us; WithTimerSlack changes it) so that a 100 us timer lands within the
// wake-up latency. Waking a sleeping thread has a floor of its own (tens of
// microseconds on a virtual machine); WithTimerSpin trades CPU for it: the
// loop wakes a little before a timer is due and polls until it is, and the
// timer fires within microseconds. BENCHMARKS.md has the figures. Timers are kept in a 4-ary heap: adding, stopping and
// firing cost O(log n) with a million pending. Stop and Reset may be called
// from any goroutine; a timer set earlier than the loop's current sleep
// wakes it.
//
// # Wake-ups
//
// Post wakes the loop through an eventfd in its own interest set, and only
// when the loop sleeps or is about to: a thousand Posts before the loop
// wakes cost one eventfd write and one wake-up.
//
// # Engines
//
// EngineEpoll (the default) waits with epoll.Instance.Wait. EngineRing waits
// on a ring.Ring with the IORING_OP_EPOLL_WAIT engine (Linux 6.15), which
// collects a batch of events from shared memory with one io_uring_enter;
// where io_uring or the opcode is missing, or busy polling is asked for
// (WithBusyPoll), the loop runs EngineEpoll with the same behaviour. Both give epoll's full semantics: level and edge
// triggering, OneShot, Exclusive (see Caps).
//
// # Every kind of event in one queue
//
// Package source makes timers (timerfd), wake-ups (eventfd), signals,
// file changes (inotify) and process exits (pidfd) into descriptors a loop
// registers like any socket; the examples show each.
package loop
