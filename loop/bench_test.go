package loop

import (
	"context"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"golang.org/x/sys/unix"
)

// The wait workload of perf bench epoll wait: one writer adds 1 to each of
// 64 eventfds in turn; the consumer waits for events and reads the eventfd
// of each. BenchmarkWaitWorkload runs it with the consumer written directly
// on epoll.Instance.Wait and with it written as a loop handler, in the same
// run: the ratio of their ns/event is the loop's overhead per event.

const workloadFds = 64

type workload struct {
	fds  []int
	stop atomic.Bool
	wg   sync.WaitGroup
}

func newWorkload(b *testing.B) *workload {
	w := &workload{}
	for range workloadFds {
		fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		if err != nil {
			b.Fatal(err)
		}
		w.fds = append(w.fds, fd)
	}
	return w
}

func (w *workload) startWriter() {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		one := [8]byte{1}
		for !w.stop.Load() {
			for _, fd := range w.fds {
				unix.Write(fd, one[:])
			}
		}
	}()
}

func (w *workload) close() {
	w.stop.Store(true)
	w.wg.Wait()
	for _, fd := range w.fds {
		unix.Close(fd)
	}
}

func readCounter(fd int) {
	var v [8]byte
	unix.Read(fd, v[:])
}

func BenchmarkWaitWorkload(b *testing.B) {
	for _, locked := range []bool{false, true} {
		name := "instance"
		if locked {
			name = "instance-locked"
		}
		b.Run(name, func(b *testing.B) {
			if locked {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
			}
			benchInstance(b)
		})
	}
	for _, e := range engines {
		b.Run("loop-"+e.String(), func(b *testing.B) { benchLoop(b, e) })
	}
}

// cpuPerOp reports the process's CPU time per operation, which a busy
// machine disturbs less than the wall clock.
func cpuPerOp(b *testing.B) func() {
	var ru0 unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	return func() {
		var ru unix.Rusage
		unix.Getrusage(unix.RUSAGE_SELF, &ru)
		cpu := ru.Utime.Nano() + ru.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano()
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	}
}

func benchInstance(b *testing.B) {
	{
		w := newWorkload(b)
		defer w.close()
		ep, err := epoll.New()
		if err != nil {
			b.Fatal(err)
		}
		defer ep.Close()
		for i, fd := range w.fds {
			ep.Add(fd, epoll.In, uint64(i))
		}
		evs := make([]epoll.Event, 256)
		w.startWriter()
		b.ResetTimer()
		defer cpuPerOp(b)()
		for done := 0; done < b.N; {
			n, err := ep.Wait(evs, -1)
			if err != nil {
				b.Fatal(err)
			}
			for _, ev := range evs[:n] {
				readCounter(w.fds[ev.Data()])
			}
			done += n
		}
		b.StopTimer()
	}
}

func benchLoop(b *testing.B, e Engine) {
	w := newWorkload(b)
	defer w.close()
	l, err := New(WithEngine(e))
	if err != nil {
		b.Fatal(err)
	}
	if l.Engine() != e {
		b.Skipf("engine %v unavailable", e)
	}
	done := 0
	finished := make(chan struct{})
	h := HandlerFunc(func(l *Loop, t Token, ev epoll.Events) {
		readCounter(l.Fd(t))
		done++
		if done == b.N {
			close(finished)
		}
	})
	for _, fd := range w.fds {
		if _, err := l.Register(fd, epoll.In, h); err != nil {
			b.Fatal(err)
		}
	}
	errc := make(chan error, 1)
	w.startWriter()
	b.ResetTimer()
	report := cpuPerOp(b)
	go func() { errc <- l.Run(context.Background()) }()
	<-finished
	b.StopTimer()
	report()
	l.Close()
	<-errc
}

// BenchmarkTimerAddFire re-arms one timer for now and fires it, with p
// other timers pending: the cost of a heap push and pop at that size.
func BenchmarkTimerAddFire(b *testing.B) {
	for _, p := range []int{1_000, 1_000_000} {
		b.Run("pending="+strconv.Itoa(p), func(b *testing.B) {
			l, err := New()
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			for i := 0; i < p; i++ {
				l.AfterFunc(time.Hour+time.Duration(i), func() {})
			}
			tm := l.AfterFunc(time.Hour, func() {})
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tm.Reset(0)
				l.fireTimers()
			}
		})
	}
}

// BenchmarkPostRoundTrip posts a function to a running loop and waits for
// it to run.
func BenchmarkPostRoundTrip(b *testing.B) {
	l, err := New()
	if err != nil {
		b.Fatal(err)
	}
	go l.Run(context.Background())
	defer l.Close()
	ch := make(chan struct{}, 1)
	f := func() { ch <- struct{}{} }
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l.Post(f)
		<-ch
	}
}

// BenchmarkTimerLateness arms a 100 us timer again and again from the
// loop and reports how late it fires (p50-us, p99-us): with the kernel's
// default timer slack (50 us) and with the loop's (DefaultTimerSlack).
func BenchmarkTimerLateness(b *testing.B) {
	for _, c := range []struct {
		name  string
		slack time.Duration
		spin  time.Duration
	}{
		{"slack=kernel-default", 0, 0},
		{"slack=loop-default", DefaultTimerSlack, 0},
		{"slack=loop-default,spin=50us", DefaultTimerSlack, 50 * time.Microsecond},
	} {
		b.Run(c.name, func(b *testing.B) {
			late := timerLateness(b, b.N, WithTimerSlack(c.slack), WithTimerSpin(c.spin))
			b.ReportMetric(float64(late[len(late)/2])/1e3, "p50-us")
			b.ReportMetric(float64(late[len(late)*99/100])/1e3, "p99-us")
		})
	}
}

// timerLateness fires n timers of 100 us in a row on a fresh loop made
// with opts and returns their lateness, sorted.
func timerLateness(tb testing.TB, n int, opts ...Option) []time.Duration {
	const d = 100 * time.Microsecond
	l, err := New(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	late := make([]time.Duration, 0, n)
	done := make(chan struct{})
	var tm *Timer
	var due int64
	tm = l.AfterFunc(d, func() {
		late = append(late, time.Duration(l.now()-due))
		if len(late) == n {
			close(done)
			return
		}
		due = l.now() + int64(d)
		tm.Reset(d)
	})
	due = tm.when
	go l.Run(context.Background())
	<-done
	slices.Sort(late)
	return late
}
