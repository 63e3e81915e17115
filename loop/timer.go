package loop

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventpoll/eventpoll/internal/errs"
)

// maxWhen is "never" in loop nanoseconds.
const maxWhen = math.MaxInt64

// Timer is a function the loop runs on its goroutine once a deadline has
// passed, once (AfterFunc) or every period (Every). Its methods may be
// called from any goroutine.
//
// A Timer never fires early: its function runs only when the loop's
// monotonic clock has reached the deadline. It fires late by the time the
// loop's thread takes to wake (the kernel's timer slack, which the loop
// sets with WithTimerSlack, plus scheduling) and by whatever handler is
// running at that moment. Timers due in the same iteration fire in
// deadline order, and timers with the same deadline in the order they were
// set.
type Timer struct {
	l      *Loop
	f      func()
	when   int64 // loop nanoseconds; valid while scheduled
	period int64 // 0: one-shot
	seq    uint64
	i      int // index in the heap, -1 when not scheduled
}

// AfterFunc arranges for f to run on the loop's goroutine once d has
// elapsed, measured on the monotonic clock from now, to the nanosecond. A
// d <= 0 makes f run in the loop's next iteration. The Timer can be
// stopped and reset; re-arming a Timer with Reset allocates nothing.
//
// On a closed loop, or with a nil f, the Timer is returned stopped and
// never fires.
func (l *Loop) AfterFunc(d time.Duration, f func()) *Timer {
	t := &Timer{l: l, f: f, i: -1}
	if f != nil && l.regs != nil {
		l.schedule(t, d, 0)
	}
	return t
}

// Every arranges for f to run on the loop's goroutine every period, the
// first time once period has elapsed. A periodic Timer keeps its phase: the
// n-th run is due at start + n*period however late the previous ones ran,
// and runs that fell wholly behind (the loop was busy for several periods)
// are skipped, not run in a burst.
//
// Errors: EINVAL when period is not positive or f is nil; ErrClosed on a
// closed loop.
func (l *Loop) Every(period time.Duration, f func()) (*Timer, error) {
	const call = "Every"
	if err := l.checkUsable(call); err != nil {
		return nil, err
	}
	if period <= 0 {
		return nil, errs.Invalid(pkg, call, -1, "period "+period.String()+" is not positive")
	}
	if f == nil {
		return nil, errs.Invalid(pkg, call, -1, "nil function")
	}
	t := &Timer{l: l, f: f, i: -1}
	l.schedule(t, period, int64(period))
	return t, nil
}

// Stop prevents the Timer from firing again and reports whether it was
// pending. A function already running is not interrupted. Stop on a
// stopped Timer returns false.
func (t *Timer) Stop() bool {
	if t == nil || t.l == nil {
		return false
	}
	h := &t.l.timers
	h.mu.Lock()
	defer h.mu.Unlock()
	if t.i < 0 {
		return false
	}
	h.remove(t)
	h.noteRoot()
	return true
}

// Reset re-arms the Timer to fire once d has elapsed from now (a periodic
// Timer then goes on every period from that point) and reports whether it
// was pending. It allocates nothing.
func (t *Timer) Reset(d time.Duration) bool {
	if t == nil || t.l == nil {
		return false
	}
	return t.l.schedule(t, d, keepPeriod)
}

// keepPeriod asks schedule to keep the Timer's period, which it reads under
// the heap's lock: a Reset from one goroutine races with another's.
const keepPeriod = -1

// schedule (re)places t in the heap at now+d and wakes the loop when the
// new deadline is earlier than the one it sleeps until. It reports whether
// t was pending.
func (l *Loop) schedule(t *Timer, d time.Duration, period int64) bool {
	now := l.now()
	when := now + int64(max(d, 0))
	if d > 0 && when < now { // overflow: a deadline past the end of time
		when = maxWhen
	}
	h := &l.timers
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return false
	}
	was := t.i >= 0
	if was {
		h.remove(t)
	}
	if period == keepPeriod {
		period = t.period
	}
	t.when, t.period = when, period
	h.seq++
	t.seq = h.seq
	h.push(t)
	first := h.items[0] == t
	h.noteRoot()
	h.mu.Unlock()
	if first && l.sleeping.Load() && when < l.sleepTil.Load() {
		l.wakeUp()
	}
	return was
}

// fireTimers runs every timer that is due, in deadline order. A periodic
// timer is put back before its function runs, so the function may Stop or
// Reset it.
func (l *Loop) fireTimers() {
	h := &l.timers
	if _, ok := h.next(); !ok {
		return
	}
	now := l.now()
	for {
		if w, _ := h.next(); w > now {
			return
		}
		h.mu.Lock()
		if len(h.items) == 0 || h.items[0].when > now {
			h.mu.Unlock()
			return
		}
		t := h.items[0]
		h.remove(t)
		if t.period > 0 {
			t.when = nextPeriod(t.when, t.period, now)
			h.seq++
			t.seq = h.seq
			h.push(t)
		}
		f := t.f
		h.noteRoot()
		h.mu.Unlock()
		l.st.timers++
		l.runGuarded(f)
	}
}

// timerHeap is a 4-ary min-heap of timers ordered by (when, seq): O(log n)
// push and remove, the next deadline at the root. A 4-ary heap is shallower
// than a binary one and its children share cache lines.
type timerHeap struct {
	mu       sync.Mutex
	items    []*Timer
	seq      uint64
	closed   bool
	earliest atomic.Int64 // the root's deadline, maxWhen when empty: read without the lock
}

func (h *timerHeap) init() {
	h.items = make([]*Timer, 0, 16)
	h.earliest.Store(maxWhen)
}

// next returns the earliest deadline, without taking the lock: the loop
// asks every iteration, and most loops have no timer due.
func (h *timerHeap) next() (int64, bool) {
	w := h.earliest.Load()
	return w, w != maxWhen
}

// noteRoot publishes the root's deadline; called with mu held after every
// change.
func (h *timerHeap) noteRoot() {
	if len(h.items) == 0 {
		h.earliest.Store(maxWhen)
	} else {
		h.earliest.Store(h.items[0].when)
	}
}

// Len returns the number of pending timers.
func (h *timerHeap) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.items)
}

func (h *timerHeap) clear() {
	h.mu.Lock()
	for _, t := range h.items {
		t.i = -1
	}
	h.items = nil
	h.closed = true
	h.noteRoot()
	h.mu.Unlock()
}

func less(a, b *Timer) bool { return a.when < b.when || a.when == b.when && a.seq < b.seq }

func (h *timerHeap) push(t *Timer) {
	t.i = len(h.items)
	h.items = append(h.items, t)
	h.up(t.i)
}

func (h *timerHeap) remove(t *Timer) {
	i := t.i
	last := len(h.items) - 1
	if i != last {
		h.items[i] = h.items[last]
		h.items[i].i = i
	}
	h.items[last] = nil
	h.items = h.items[:last]
	t.i = -1
	if i != last {
		if !h.up(i) {
			h.down(i)
		}
	}
}

func (h *timerHeap) up(i int) bool {
	moved := false
	t := h.items[i]
	for i > 0 {
		p := (i - 1) / 4
		if !less(t, h.items[p]) {
			break
		}
		h.items[i] = h.items[p]
		h.items[i].i = i
		i = p
		moved = true
	}
	h.items[i] = t
	t.i = i
	return moved
}

func (h *timerHeap) down(i int) {
	n := len(h.items)
	t := h.items[i]
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		for k := c + 1; k < c+4 && k < n; k++ {
			if less(h.items[k], h.items[m]) {
				m = k
			}
		}
		if !less(h.items[m], t) {
			break
		}
		h.items[i] = h.items[m]
		h.items[i].i = i
		i = m
	}
	h.items[i] = t
	t.i = i
}

// nextPeriod returns a periodic timer's next deadline after one due at
// when has fired at now: one period on, or, when the loop is behind by
// whole periods, the first deadline after now in the same phase.
func nextPeriod(when, period, now int64) int64 {
	next := when + period
	if next <= now {
		next += (now - next) / period * period
		if next <= now {
			next += period
		}
	}
	return next
}
