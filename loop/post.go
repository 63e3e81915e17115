package loop

import "github.com/eventpoll/eventpoll/internal/errs"

// Post queues f to run on the loop's goroutine, after the events of the
// current iteration, and wakes the loop if it sleeps. It may be called from
// any goroutine, and from the loop itself: posted from a handler, f runs in
// the same iteration, once every event of its batch has been handed out;
// posted from a posted function or a timer, in the next one, so a function
// that posts itself again cannot keep the loop from its events. Functions
// run in the order they were posted: two Posts by one goroutine run in that
// order.
//
// Wake-ups merge: a Post wakes the loop only when the loop sleeps or is
// about to, and a thousand Posts before it wakes cost one eventfd write
// (the runtime's netpollWakeSig does the same). A Post allocates nothing
// beyond f itself once the queue has grown to the loop's usual backlog.
//
// Errors: ErrClosed after Close (f will not run); EINVAL for a nil f.
func (l *Loop) Post(f func()) error {
	const call = "Post"
	if l == nil || l.regs == nil {
		return errs.NotCreated(pkg, call)
	}
	if f == nil {
		return errs.Invalid(pkg, call, -1, "nil function")
	}
	l.pmu.Lock()
	if l.closed {
		l.pmu.Unlock()
		return errs.Closed(pkg, call)
	}
	l.posts = append(l.posts, f)
	l.queued.Store(true)
	l.pmu.Unlock()
	// The loop announces sleeping before it looks at the queue a last time;
	// this load comes after the append: one of the two sees the other.
	if l.sleeping.Load() {
		l.wakeUp()
	}
	return nil
}

// postsQueued reports whether functions wait to run. It is one atomic
// load, true from the append under pmu until runPosts takes the queue.
func (l *Loop) postsQueued() bool { return l.queued.Load() }

// runPosts runs the functions posted so far. Functions they post run in
// the next iteration, so a function that re-posts itself cannot starve the
// loop's events.
func (l *Loop) runPosts() {
	if !l.queued.Load() {
		return
	}
	l.pmu.Lock()
	q := l.posts
	l.posts = l.spare[:0]
	l.queued.Store(false)
	l.pmu.Unlock()
	for i, f := range q {
		q[i] = nil
		l.st.posts++
		l.runGuarded(f)
	}
	l.pmu.Lock()
	l.spare = q[:0]
	l.pmu.Unlock()
}

// runGuarded runs a posted function or a timer's, reporting a panic to the
// fault handler.
func (l *Loop) runGuarded(f func()) {
	if f == nil {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			l.st.faults++
			l.st.panics++
			l.cfg.fault(0, newPanicError(0, v))
		}
	}()
	f()
}
