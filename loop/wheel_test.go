package loop

import (
	"cmp"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A hierarchical timing wheel with the contract of the loop's timer heap
// (timer.go), kept in test code as the measured alternative to the heap
// (wheel_bench_test.go; BENCHMARKS.md, "Heap or wheel"). It is not shipped.
//
// Layout: a tick is 1,024 ns; nine levels of 64 slots, level L's slots a
// tick << 6L wide, so that the levels cover every int64 deadline and no
// overflow list is needed (an empty level costs one compare). A timer is
// placed by the highest bit in which its deadline tick differs from the
// wheel's elapsed tick, as tokio's wheel does; a slot is a doubly-linked
// list, so stop and reset are O(1), and each level keeps a bitmap of its
// occupied slots, so the earliest slot is found with one count of trailing
// zeros per level. When the elapsed tick reaches a slot of level L > 0, its
// timers cascade to lower levels (a timer moves at most L times in its
// life). Linux's wheel does not cascade and instead fires a timer at level
// L up to 1/8 of its delay late; the loop promises firing only by its
// wake-up late, so this wheel cascades.
//
// Precision: the loop promises nanosecond deadlines that never fire early
// and fire in (deadline, order set) order, and a slot holds a whole tick.
// Timers whose tick has been reached move to a small binary heap ordered
// by (when, seq), from which they fire to the nanosecond and in order; the
// heap holds only the timers of the ticks already reached, usually those
// of one microsecond.
//
// The next deadline is a lower bound, not always the deadline: exact when
// a timer is in the due heap or when the earliest slot is a level-0 slot
// of at most wheelScan timers (one tick: scanned), otherwise the start of
// the earliest slot, up to 64^L ticks before the deadline at level L. A
// loop that sleeps until the bound wakes, cascades, and sleeps again:
// BenchmarkTimerQueue's drain workload counts those wake-ups.

const (
	wheelTickShift = 10 // a tick is 1,024 ns
	wheelLevelBits = 6
	wheelSlots     = 1 << wheelLevelBits
	wheelLevels    = 9 // 10 + 9*6 bits: every int64 deadline has a level
	wheelScan      = 8 // a level-0 slot this short is scanned for the exact next deadline

	wheelIdle  = -1          // wTimer.lvl of a timer not pending
	wheelInDue = wheelLevels // wTimer.lvl of a timer in the due heap
)

// wTimer is the wheel's Timer.
type wTimer struct {
	when       int64 // loop nanoseconds
	seq        uint64
	period     int64
	f          func()
	next, prev *wTimer // the slot's list
	i          int32   // index in the due heap
	lvl        int8    // level, wheelInDue or wheelIdle
	slot       uint8
}

// wheel holds the pending timers. elapsed is the tick the wheel has
// processed up to: every timer in a slot is due in a later tick, every
// timer in due in that tick or before. It only grows.
type wheel struct {
	elapsed  int64
	occupied [wheelLevels]uint64
	slots    [wheelLevels][wheelSlots]*wTimer
	due      []*wTimer // min-heap by (when, seq)
	n        int
}

// wheelLevelFor returns the level of a timer due at tick, a tick after
// elapsed: the level whose 6 bits hold the highest bit in which the two
// differ. Both agree on every bit above that level, so the timer's slot
// is after elapsed's slot at that level.
func wheelLevelFor(elapsed, tick int64) int {
	x := uint64(elapsed^tick) | (wheelSlots - 1)
	return (63 - bits.LeadingZeros64(x)) / wheelLevelBits
}

func (w *wheel) add(t *wTimer) {
	w.n++
	w.place(t)
}

func (w *wheel) place(t *wTimer) {
	tick := t.when >> wheelTickShift
	if tick <= w.elapsed {
		w.pushDue(t)
		return
	}
	lvl := wheelLevelFor(w.elapsed, tick)
	s := uint8(tick >> (lvl * wheelLevelBits) & (wheelSlots - 1))
	head := w.slots[lvl][s]
	t.next, t.prev = head, nil
	if head != nil {
		head.prev = t
	}
	w.slots[lvl][s] = t
	w.occupied[lvl] |= 1 << s
	t.lvl, t.slot = int8(lvl), s
}

func (w *wheel) remove(t *wTimer) {
	w.n--
	if t.lvl == wheelInDue {
		w.removeDue(t)
	} else {
		if t.prev != nil {
			t.prev.next = t.next
		} else {
			w.slots[t.lvl][t.slot] = t.next
			if t.next == nil {
				w.occupied[t.lvl] &^= 1 << t.slot
			}
		}
		if t.next != nil {
			t.next.prev = t.prev
		}
		t.next, t.prev = nil, nil
	}
	t.lvl = wheelIdle
}

// firstSlot returns the earliest occupied slot and the tick it starts at.
// The lowest occupied level has it: a level's occupied slots all lie in
// elapsed's slot of the level above, and a higher level's after it.
func (w *wheel) firstSlot() (lvl, s int, start int64, ok bool) {
	for lvl = range wheelLevels {
		occ := w.occupied[lvl]
		if occ == 0 {
			continue
		}
		s = bits.TrailingZeros64(occ)
		shift := lvl * wheelLevelBits
		block := w.elapsed >> (shift + wheelLevelBits) << (shift + wheelLevelBits)
		return lvl, s, block | int64(s)<<shift, true
	}
	return 0, 0, 0, false
}

// popDue removes and returns the earliest timer due at now, nil when none
// is. It cascades the slots whose start now has reached.
func (w *wheel) popDue(now int64) *wTimer {
	nowTick := now >> wheelTickShift
	for {
		if len(w.due) > 0 {
			// Every slotted timer is due after elapsed, every timer in due
			// at or before it: the due heap's root is the earliest.
			t := w.due[0]
			if t.when > now {
				return nil
			}
			w.removeDue(t)
			w.n--
			t.lvl = wheelIdle
			return t
		}
		lvl, s, start, ok := w.firstSlot()
		if !ok || start > nowTick {
			w.elapsed = max(w.elapsed, nowTick)
			return nil
		}
		w.cascade(lvl, s, start)
	}
}

// cascade empties a slot whose start the clock has reached, placing its
// timers again from that tick: lower levels, or the due heap.
func (w *wheel) cascade(lvl, s int, start int64) {
	t := w.slots[lvl][s]
	w.slots[lvl][s] = nil
	w.occupied[lvl] &^= 1 << s
	w.elapsed = start
	for t != nil {
		next := t.next
		t.next, t.prev = nil, nil
		w.place(t)
		t = next
	}
}

// bound returns a time no later than the earliest deadline (maxWhen when
// no timer is pending); see the note at the top for when it is exact.
func (w *wheel) bound() int64 {
	if len(w.due) > 0 {
		return w.due[0].when
	}
	lvl, s, start, ok := w.firstSlot()
	if !ok {
		return maxWhen
	}
	if lvl == 0 {
		m, k := int64(maxWhen), 0
		for t := w.slots[0][s]; t != nil && k <= wheelScan; t = t.next {
			m = min(m, t.when)
			k++
		}
		if k <= wheelScan {
			return m
		}
	}
	return start << wheelTickShift
}

func wLess(a, b *wTimer) bool { return a.when < b.when || a.when == b.when && a.seq < b.seq }

func (w *wheel) pushDue(t *wTimer) {
	t.lvl = wheelInDue
	t.i = int32(len(w.due))
	w.due = append(w.due, t)
	w.dueUp(int(t.i))
}

func (w *wheel) removeDue(t *wTimer) {
	i, last := int(t.i), len(w.due)-1
	if i != last {
		w.due[i] = w.due[last]
		w.due[i].i = int32(i)
	}
	w.due[last] = nil
	w.due = w.due[:last]
	if i != last && !w.dueUp(i) {
		w.dueDown(i)
	}
}

func (w *wheel) dueUp(i int) bool {
	t, moved := w.due[i], false
	for i > 0 {
		p := (i - 1) / 2
		if !wLess(t, w.due[p]) {
			break
		}
		w.due[i] = w.due[p]
		w.due[i].i = int32(i)
		i, moved = p, true
	}
	w.due[i] = t
	t.i = int32(i)
	return moved
}

func (w *wheel) dueDown(i int) {
	n, t := len(w.due), w.due[i]
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && wLess(w.due[c+1], w.due[c]) {
			c++
		}
		if !wLess(w.due[c], t) {
			break
		}
		w.due[i] = w.due[c]
		w.due[i].i = int32(i)
		i = c
	}
	w.due[i] = t
	t.i = int32(i)
}

// wheelLoop puts the wheel behind the loop's timer code as timer.go puts
// the heap: the same lock, the same clock (the Loop's), a published
// earliest deadline read without the lock, the same wake-up test and the
// same firing loop, so that the benchmarks compare the two structures and
// nothing else. The published value is the wheel's bound: lowered at once
// by an earlier add, recomputed when the timer that may have set it goes.
type wheelLoop struct {
	l        *Loop
	mu       sync.Mutex
	w        wheel
	seq      uint64
	earliest atomic.Int64
}

func newWheelLoop(l *Loop) *wheelLoop {
	q := &wheelLoop{l: l}
	q.earliest.Store(maxWhen)
	return q
}

func (q *wheelLoop) AfterFunc(d time.Duration, f func()) *wTimer {
	t := &wTimer{f: f, lvl: wheelIdle}
	q.schedule(t, d, 0)
	return t
}

func (q *wheelLoop) Reset(t *wTimer, d time.Duration) bool { return q.schedule(t, d, keepPeriod) }

func (q *wheelLoop) Stop(t *wTimer) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if t.lvl == wheelIdle {
		return false
	}
	q.w.remove(t)
	if t.when <= q.earliest.Load() {
		q.earliest.Store(q.w.bound())
	}
	return true
}

func (q *wheelLoop) schedule(t *wTimer, d time.Duration, period int64) bool {
	now := q.l.now()
	when := now + int64(max(d, 0))
	if d > 0 && when < now {
		when = maxWhen
	}
	q.mu.Lock()
	old := q.earliest.Load()
	was := t.lvl != wheelIdle
	if was {
		q.w.remove(t)
	}
	recompute := was && t.when <= old // t may have set the published bound
	if period == keepPeriod {
		period = t.period
	}
	t.when, t.period = when, period
	q.seq++
	t.seq = q.seq
	q.w.add(t)
	e := min(old, when)
	if recompute {
		e = q.w.bound()
	}
	q.earliest.Store(e)
	q.mu.Unlock()
	if e < old && q.l.sleeping.Load() && e < q.l.sleepTil.Load() {
		q.l.wakeUp()
	}
	return was
}

// next is the loop's look at the next deadline (Loop.wait): one atomic
// load, a bound.
func (q *wheelLoop) next() (int64, bool) {
	w := q.earliest.Load()
	return w, w != maxWhen
}

func (q *wheelLoop) fireTimers() {
	if _, ok := q.next(); !ok {
		return
	}
	now := q.l.now()
	for {
		if w, _ := q.next(); w > now {
			return
		}
		q.mu.Lock()
		t := q.w.popDue(now)
		if t == nil {
			q.earliest.Store(q.w.bound())
			q.mu.Unlock()
			return
		}
		if t.period > 0 {
			t.when = nextPeriod(t.when, t.period, now)
			q.seq++
			t.seq = q.seq
			q.w.add(t)
		}
		f := t.f
		q.earliest.Store(q.w.bound())
		q.mu.Unlock()
		q.l.st.timers++
		q.l.runGuarded(f)
	}
}

// TestWheelFiresWhatIsDueInDeadlineOrderAndNeverEarly drives the wheel with
// random adds, stops and resets on a simulated clock, with deadlines from
// nanoseconds to years out and many ties, and the clock advanced by small
// steps, large jumps and to the wheel's own next-deadline bound, as a loop
// sleeping until it would. After every advance the timers fired must be
// exactly those of a reference model due at that time, in (deadline, order
// set) order — none early, none left behind, none stopped — and the bound
// must never be later than the earliest pending deadline.
func TestWheelFiresWhatIsDueInDeadlineOrderAndNeverEarly(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	var w wheel
	type entry struct {
		id int
		tm *wTimer
	}
	pending := map[int]*wTimer{} // the model: id -> timer (when, seq)
	var all []entry
	var now int64
	var seq uint64
	after := func(d int64) int64 { return now + min(d, maxWhen-now) }
	deadline := func() int64 {
		switch rng.IntN(10) {
		case 0: // the current nanosecond or tick: due at once, or in the due heap
			return after(rng.Int64N(2048))
		case 1: // a tie with another pending timer's deadline
			for _, tm := range pending {
				if tm.when >= now {
					return tm.when
				}
			}
			return now
		case 2: // anywhere up to the end of time, the top levels
			return after(rng.Int64())
		default: // 1 ns to ~18 minutes out, every scale alike
			return after(rng.Int64N(int64(1)<<rng.IntN(41)) + 1)
		}
	}
	arm := func(tm *wTimer) {
		seq++
		tm.when, tm.seq = deadline(), seq
		w.add(tm)
	}
	checkBound := func(step int) {
		lo := int64(maxWhen)
		for _, tm := range pending {
			lo = min(lo, tm.when)
		}
		if b := w.bound(); b > lo {
			t.Fatalf("step %d: next-deadline bound %d is after the earliest deadline %d", step, b, lo)
		}
		if w.n != len(pending) {
			t.Fatalf("step %d: wheel holds %d timers, model %d", step, w.n, len(pending))
		}
	}
	fired, exact := 0, 0
	for step := 0; step < 200_000; step++ {
		switch op := rng.IntN(100); {
		case op < 40: // add
			tm := &wTimer{lvl: wheelIdle}
			all = append(all, entry{len(all), tm})
			arm(tm)
			pending[len(all)-1] = tm
		case op < 55: // stop
			if len(all) == 0 {
				continue
			}
			e := all[rng.IntN(len(all))]
			_, was := pending[e.id]
			if got := e.tm.lvl != wheelIdle; got != was {
				t.Fatalf("step %d: timer %d pending=%v, model %v", step, e.id, got, was)
			}
			if was {
				w.remove(e.tm)
				delete(pending, e.id)
			}
		case op < 75: // reset
			if len(all) == 0 {
				continue
			}
			e := all[rng.IntN(len(all))]
			if e.tm.lvl != wheelIdle {
				w.remove(e.tm)
			}
			arm(e.tm)
			pending[e.id] = e.tm
		default: // advance the clock and fire what is due
			switch rng.IntN(4) {
			case 0:
				now = after(rng.Int64N(4096))
			case 1:
				now = after(rng.Int64N(int64(time.Second)))
			case 2:
				now = after(rng.Int64N(int64(time.Hour)))
			case 3: // sleep until the bound, as the loop would
				if b := w.bound(); b != maxWhen {
					now = max(now, b)
				}
			}
			var want []*wTimer
			for _, tm := range pending {
				if tm.when <= now {
					want = append(want, tm)
				}
			}
			slices.SortFunc(want, func(a, b *wTimer) int {
				return cmp.Or(cmp.Compare(a.when, b.when), cmp.Compare(a.seq, b.seq))
			})
			var got []*wTimer
			for tm := w.popDue(now); tm != nil; tm = w.popDue(now) {
				if tm.when > now {
					t.Fatalf("step %d: fired a timer due at %d at %d: early", step, tm.when, now)
				}
				got = append(got, tm)
			}
			if len(got) != len(want) {
				t.Fatalf("step %d: at %d fired %d timers, %d were due", step, now, len(got), len(want))
			}
			for k := range got {
				if got[k] != want[k] {
					t.Fatalf("step %d: firing %d was (when %d, seq %d), want (when %d, seq %d)",
						step, k, got[k].when, got[k].seq, want[k].when, want[k].seq)
				}
			}
			for id, tm := range pending {
				if tm.when <= now {
					delete(pending, id)
				}
			}
			fired += len(got)
			lo := int64(maxWhen)
			for _, tm := range pending {
				lo = min(lo, tm.when)
			}
			if w.bound() == lo {
				exact++
			}
		}
		checkBound(step)
	}
	if fired < 10_000 {
		t.Fatalf("only %d timers fired: the test exercised too little", fired)
	}
	t.Logf("%d timers fired; the bound was exact after %d of the firings", fired, exact)
}

// TestWheelLoopFiresOnTheLoopClockAndStopPrevents runs the wheel behind the
// loop's timer code (wheelLoop) on a real loop's clock: timers set 0 to
// 3 ms out fire on or after their deadline and in deadline order, and
// stopped ones never.
func TestWheelLoopFiresOnTheLoopClockAndStopPrevents(t *testing.T) {
	l := newLoop(t, EngineEpoll)
	q := newWheelLoop(l)
	rng := rand.New(rand.NewPCG(5, 6))
	type fired struct{ due, at int64 }
	var got []fired
	var stopped []*wTimer
	const n = 2000
	for i := range n {
		d := time.Duration(rng.Int64N(int64(3 * time.Millisecond)))
		var tm *wTimer
		tm = q.AfterFunc(d, func() { got = append(got, fired{tm.when, l.now()}) })
		if i%4 == 0 {
			if !q.Stop(tm) {
				t.Fatalf("Stop of pending timer %d reported not pending", i)
			}
			stopped = append(stopped, tm)
		}
	}
	end := time.Now().Add(10 * time.Second)
	for len(got) < n-len(stopped) && time.Now().Before(end) {
		q.fireTimers()
		time.Sleep(50 * time.Microsecond)
	}
	if len(got) != n-len(stopped) {
		t.Fatalf("%d timers fired, want %d", len(got), n-len(stopped))
	}
	for k, f := range got {
		if f.at < f.due {
			t.Fatalf("timer due at %d fired at %d: early", f.due, f.at)
		}
		if k > 0 && f.due < got[k-1].due {
			t.Fatalf("timer due at %d fired after one due at %d", f.due, got[k-1].due)
		}
	}
	for _, tm := range stopped {
		if q.Stop(tm) {
			t.Fatal("a stopped timer is pending again")
		}
	}
	if _, ok := q.next(); ok {
		t.Fatal("next deadline published with no timer pending")
	}
}
