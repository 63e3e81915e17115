package loop

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// BenchmarkTimerQueue measures the loop's 4-ary heap (timer.go, through
// the Loop's own AfterFunc, Reset, Stop and fireTimers) and the
// hierarchical wheel of wheel_test.go (through wheelLoop, the same lock,
// clock, published deadline and firing loop) on the same workloads, with
// p other timers pending:
//
//   - add-fire: TimerAddFire's workload: one timer re-armed for now and
//     fired, the others an hour out (1 h + i ns).
//   - add-stop: one timer armed a second out, earlier than all the others
//     (an hour out), and stopped: a write deadline that the write beats.
//   - idle-reset: p idle timeouts of 30 s, one of them (chosen at random)
//     pushed back to 30 s on every read, and the loop's look for due
//     timers after each: a server's timers, reset often, never firing in
//     the run.
//   - drain: p timers at random times within an hour, then a simulated
//     loop that sleeps until the published next deadline, wakes and fires
//     what is due, until none is left; no lock, a simulated clock.
//     ns/timer is the cost per timer; wakeups/timer counts the loop's
//     wake-ups, 1 when the next deadline is exact, more when it is a bound.
//
// The next-deadline look itself is one atomic load in both (next-load);
// next-compute is what publishing it after a change costs: the heap's
// root, the wheel's bound.
func BenchmarkTimerQueue(b *testing.B) {
	for _, q := range []string{"heap", "wheel"} {
		for _, p := range []int{1_000, 1_000_000} {
			ps := "/pending=" + strconv.Itoa(p)
			b.Run(q+"/add-fire"+ps, func(b *testing.B) { benchQueue(b, q, p, addFire) })
			b.Run(q+"/add-stop"+ps, func(b *testing.B) { benchQueue(b, q, p, addStop) })
			b.Run(q+"/idle-reset"+ps, func(b *testing.B) { benchQueue(b, q, p, idleReset) })
			b.Run(q+"/next-load"+ps, func(b *testing.B) { benchQueue(b, q, p, nextLoad) })
			b.Run(q+"/next-compute"+ps, func(b *testing.B) { benchQueue(b, q, p, nextCompute) })
			b.Run(q+"/drain"+ps, func(b *testing.B) { benchDrain(b, q, p) })
		}
	}
}

type queueWorkload int

const (
	addFire queueWorkload = iota
	addStop
	idleReset
	nextLoad
	nextCompute
)

// timerOps is one queue's side of the comparison: both are called through
// these function values, so the indirection costs both alike.
type timerOps[T any] struct {
	afterFunc func(time.Duration, func()) T
	reset     func(T, time.Duration) bool
	stop      func(T) bool
	fire      func()
	nextLoad  func() (int64, bool)
	compute   func() int64
}

func benchQueue(b *testing.B, q string, p int, wl queueWorkload) {
	l, err := New()
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	if q == "heap" {
		h := &l.timers
		runQueue(b, p, wl, timerOps[*Timer]{
			afterFunc: l.AfterFunc,
			reset:     (*Timer).Reset,
			stop:      (*Timer).Stop,
			fire:      l.fireTimers,
			nextLoad:  h.next,
			compute: func() int64 {
				h.mu.Lock()
				w := h.items[0].when
				h.mu.Unlock()
				return w
			},
		})
		return
	}
	w := newWheelLoop(l)
	runQueue(b, p, wl, timerOps[*wTimer]{
		afterFunc: w.AfterFunc,
		reset:     w.Reset,
		stop:      w.Stop,
		fire:      w.fireTimers,
		nextLoad:  w.next,
		compute: func() int64 {
			w.mu.Lock()
			t := w.w.bound()
			w.mu.Unlock()
			return t
		},
	})
}

var sinkWhen int64

func runQueue[T any](b *testing.B, p int, wl queueWorkload, o timerOps[T]) {
	nop := func() {}
	b.ReportAllocs()
	switch wl {
	case addFire, addStop, nextLoad, nextCompute:
		for i := 0; i < p; i++ {
			o.afterFunc(time.Hour+time.Duration(i), nop)
		}
		tm := o.afterFunc(time.Hour, nop)
		b.ResetTimer()
		switch wl {
		case addFire:
			for i := 0; i < b.N; i++ {
				o.reset(tm, 0)
				o.fire()
			}
		case addStop:
			o.stop(tm)
			for i := 0; i < b.N; i++ {
				o.reset(tm, time.Second)
				o.stop(tm)
			}
		case nextLoad:
			for i := 0; i < b.N; i++ {
				w, _ := o.nextLoad()
				sinkWhen += w
			}
		case nextCompute:
			for i := 0; i < b.N; i++ {
				sinkWhen += o.compute()
			}
		}
	case idleReset:
		const idle = 30 * time.Second
		ts := make([]T, p)
		for i := range ts {
			ts[i] = o.afterFunc(idle, nop)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			o.reset(ts[rng.IntN(p)], idle)
			o.fire()
		}
	}
}

// benchDrain fills a bare heap or wheel with p timers at random times
// within an hour and drains it as a loop would, on a simulated clock: sleep
// until the next deadline (the heap's root, the wheel's bound), fire what
// is due, again.
func benchDrain(b *testing.B, q string, p int) {
	rng := rand.New(rand.NewPCG(3, 4))
	whens := make([]int64, p)
	for i := range whens {
		whens[i] = rng.Int64N(int64(time.Hour))
	}
	// The structures are reused from one drain to the next, as a loop
	// keeps its own: the heap's array and the wheel's due heap keep their
	// capacity.
	var h timerHeap
	h.items = make([]*Timer, 0, p)
	w := new(wheel)
	hts := make([]Timer, p)
	wts := make([]wTimer, p)
	b.ReportAllocs()
	b.ResetTimer()
	wakes, fired := 0, 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		*w = wheel{due: w.due[:0]}
		if q == "heap" {
			for k := range hts {
				hts[k] = Timer{when: whens[k], seq: uint64(k), i: -1}
				h.push(&hts[k])
			}
		} else {
			for k := range wts {
				wts[k] = wTimer{when: whens[k], seq: uint64(k), lvl: wheelIdle}
				w.add(&wts[k])
			}
		}
		b.StartTimer()
		var now int64
		if q == "heap" {
			for len(h.items) > 0 {
				now = max(now, h.items[0].when)
				wakes++
				for len(h.items) > 0 && h.items[0].when <= now {
					h.remove(h.items[0])
					fired++
				}
			}
		} else {
			for next := w.bound(); next != maxWhen; next = w.bound() {
				now = max(now, next)
				wakes++
				for t := w.popDue(now); t != nil; t = w.popDue(now) {
					fired++
				}
			}
		}
	}
	if fired != b.N*p {
		b.Fatalf("%d timers fired, want %d", fired, b.N*p)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(fired), "ns/timer")
	b.ReportMetric(float64(wakes)/float64(fired), "wakeups/timer")
}

// BenchmarkTimerWakeup runs a loop whose only work is a timer re-armed
// 50 µs out each time it fires and reports the process's CPU per firing
// (cpu-ns/op): what one wake-up of a sleeping loop for a timer costs, the
// price of each wake-up the wheel's bound adds in the drain workload.
func BenchmarkTimerWakeup(b *testing.B) {
	l, err := New()
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	done := make(chan struct{})
	var tm *Timer
	tm = l.AfterFunc(time.Hour, func() {
		n++
		if n == b.N {
			close(done)
			return
		}
		tm.Reset(50 * time.Microsecond)
	})
	errc := make(chan error, 1)
	b.ResetTimer()
	report := cpuPerOp(b)
	go func() { errc <- l.Run(context.Background()) }()
	tm.Reset(50 * time.Microsecond)
	<-done
	b.StopTimer()
	report()
	l.Close()
	<-errc
}
