package loop

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestTimersNeverFireEarlyAndFireInDeadlineOrder sets 10,000 timers with
// random deadlines up to 50 ms out (many sharing a deadline) and checks that
// each ran at or after its deadline on the loop's clock, and that the runs
// came in (deadline, order set) order.
func TestTimersNeverFireEarlyAndFireInDeadlineOrder(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		t.Run("sleeping", func(t *testing.T) { timersInOrder(t, e) })
		t.Run("spinning", func(t *testing.T) { timersInOrder(t, e, WithTimerSpin(50*time.Microsecond)) })
	})
}

func timersInOrder(t *testing.T, e Engine, opts ...Option) {
	{
		l := newLoop(t, e, opts...)
		const n = 10000
		type fired struct {
			i   int
			due int64
			at  int64
		}
		var got []fired
		done := make(chan struct{})
		rng := rand.New(rand.NewPCG(1, 2))
		dues := make([]int64, n)
		onLoopBeforeRun := func() {
			for i := 0; i < n; i++ {
				d := time.Duration(rng.IntN(50)) * time.Millisecond / 10 * 10 // 0..49 ms in 1 ms steps: ties
				i := i
				tm := l.AfterFunc(d, func() {
					got = append(got, fired{i: i, due: dues[i], at: l.now()})
					if len(got) == n {
						close(done)
					}
				})
				dues[i] = tm.when // the deadline the loop computed; Run has not started
			}
		}
		onLoopBeforeRun()
		start(t, l)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("only %d of %d timers fired", len(got), n)
		}
		early := 0
		for k, f := range got {
			if f.at < f.due {
				early++
			}
			if k > 0 {
				p := got[k-1]
				if f.due < p.due || f.due == p.due && f.i < p.i {
					t.Fatalf("timer %d (due %d) ran after timer %d (due %d)", f.i, f.due, p.i, p.due)
				}
			}
		}
		if early != 0 {
			t.Fatalf("%d timers fired early", early)
		}
	}
}

// TestMillionPendingTimersAddAndStop adds a million timers an hour out and
// stops them all, in a time that shows O(log n) operations (a linear
// structure would take minutes).
func TestMillionPendingTimersAddAndStop(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		const n = 1_000_000
		ts := make([]*Timer, n)
		rng := rand.New(rand.NewPCG(3, 4))
		begin := time.Now()
		for i := range ts {
			ts[i] = l.AfterFunc(time.Hour+time.Duration(rng.Int64N(int64(time.Hour))), func() {})
		}
		if l.PendingTimers() != n {
			t.Fatalf("%d pending, want %d", l.PendingTimers(), n)
		}
		rng.Shuffle(n, func(i, j int) { ts[i], ts[j] = ts[j], ts[i] })
		for i, tm := range ts {
			if !tm.Stop() {
				t.Fatalf("Stop of timer %d reported it was not pending", i)
			}
		}
		took := time.Since(begin)
		if l.PendingTimers() != 0 {
			t.Fatalf("%d timers left", l.PendingTimers())
		}
		t.Logf("1,000,000 timers added and stopped in %v (%.0f ns per add+stop)", took, float64(took)/n)
	})
}

func TestEveryKeepsPhaseAndStopsFromItsOwnFunction(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		const period = 2 * time.Millisecond
		var runs []int64
		var tm *Timer
		done := make(chan struct{})
		t0 := l.now()
		tm, err := l.Every(period, func() {
			runs = append(runs, l.now())
			if len(runs) == 20 {
				tm.Stop()
				close(done)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		start(t, l)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("periodic timer did not run 20 times")
		}
		onLoop(t, l, func() {})
		if len(runs) != 20 {
			t.Fatalf("ran %d times after Stop", len(runs))
		}
		for k, at := range runs {
			if due := t0 + int64(k+1)*int64(period); at < due {
				// Phase kept: the k-th run is never before start+k*period
				// (skipped periods only make later k run later still).
				t.Fatalf("run %d at %d, before its due time %d", k, at, due)
			}
		}
		if _, err := l.Every(0, func() {}); err == nil {
			t.Fatal("Every(0) accepted")
		}
	})
}

// TestTimerResetFromAnotherGoroutineWakesTheLoop: the loop sleeps with no
// deadline; a timer set from another goroutine must wake it.
func TestTimerResetFromAnotherGoroutineWakesTheLoop(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		far := l.AfterFunc(time.Hour, func() {})
		start(t, l)
		onLoop(t, l, func() {}) // the loop is now asleep until the hour
		time.Sleep(5 * time.Millisecond)
		fired := make(chan time.Time, 1)
		tm := l.AfterFunc(time.Hour, func() { fired <- time.Now() })
		set := time.Now()
		tm.Reset(time.Millisecond)
		select {
		case at := <-fired:
			if d := at.Sub(set); d < time.Millisecond {
				t.Fatalf("fired %v after Reset(1ms): early", d)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("timer reset from another goroutine did not fire")
		}
		if !far.Stop() {
			t.Fatal("far timer not pending")
		}
	})
}

func TestStopAndResetReportWhetherPending(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		var ran atomic.Int32
		tm := l.AfterFunc(time.Hour, func() { ran.Add(1) })
		if !tm.Stop() || tm.Stop() {
			t.Fatal("Stop did not report pending, then not pending")
		}
		if tm.Reset(time.Millisecond) {
			t.Fatal("Reset of a stopped timer reported pending")
		}
		start(t, l)
		eventually(t, "reset timer fired", func() bool { return ran.Load() == 1 })
		if tm.Stop() {
			t.Fatal("Stop after firing reported pending")
		}
	})
}

// TestPostFromManyGoroutinesRunsEachOnceInOrder: 16 goroutines post 100,000
// functions each; every one runs exactly once, in each goroutine's order.
func TestPostFromManyGoroutinesRunsEachOnceInOrder(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		const g, per = 16, 100_000
		next := make([]int, g) // touched only on the loop goroutine
		var bad, total atomic.Int64
		start(t, l)
		var wg sync.WaitGroup
		for k := 0; k < g; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < per; i++ {
					i := i
					if err := l.Post(func() {
						if next[k] != i {
							bad.Add(1)
						}
						next[k] = i + 1
						total.Add(1)
					}); err != nil {
						t.Errorf("Post: %v", err)
						return
					}
				}
			}()
		}
		wg.Wait()
		eventually(t, "all posts run", func() bool { return total.Load() == g*per })
		onLoop(t, l, func() {})
		if bad.Load() != 0 {
			t.Fatalf("%d functions ran out of their goroutine's order", bad.Load())
		}
		if total.Load() != g*per {
			t.Fatalf("%d functions ran, want %d", total.Load(), g*per)
		}
		st := l.Stats()
		t.Logf("%d posts, %d wake-ups, %d iterations", st.Posts, st.Wakeups, st.Iterations)
		if st.Wakeups >= st.Posts/10 {
			t.Fatalf("%d wake-ups for %d posts: not merged", st.Wakeups, st.Posts)
		}
	})
}

// TestTimerResetFromTwoGoroutinesIsSafe resets one timer from two
// goroutines at once while the loop fires it: under the race detector a
// Reset that read the timer's period outside the heap's lock is reported.
func TestTimerResetFromTwoGoroutinesIsSafe(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		start(t, l)
		var fired atomic.Int64
		tm := l.AfterFunc(time.Hour, func() { fired.Add(1) })
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 1000 {
					tm.Reset(time.Duration(i%3) * time.Microsecond)
				}
			}()
		}
		wg.Wait()
		tm.Reset(0)
		eventually(t, "the timer fired", func() bool { return fired.Load() > 0 })
	})
}
