package ring_test

import (
	"errors"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/fdtest"
	"github.com/eventpoll/eventpoll/ring"
	"golang.org/x/sys/unix"
)

// The hot paths, one goroutine, no writer to pace them: what one event
// costs the consumer (Wait, Poll) and what one interest change costs
// (Modify re-arming a OneShot, Add and Delete). Figures and their reading
// are in BENCHMARKS.md ("ring: choosing an engine").
//
//	go test -run '^$' -bench 'Wait|Poll|Modify|AddDelete' -count 3 ./ring
//
// Beside ns/op (wall time) each reports cpu-ns/op, the process's CPU time
// (user and system, all threads) per operation: on a machine shared with
// other work, time spent waiting for a CPU inflates the first and not the
// second.

// cpuTimer measures the process's CPU time over a benchmark's loop.
type cpuTimer struct{ start time.Duration }

func cpuNow() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU(b *testing.B) *cpuTimer {
	b.ResetTimer()
	return &cpuTimer{start: cpuNow()}
}

func (c *cpuTimer) report(b *testing.B) {
	b.ReportMetric(float64(cpuNow()-c.start)/float64(b.N), "cpu-ns/op")
}

func benchRing(b *testing.B, e ring.Engine, max int) *ring.Ring {
	b.Helper()
	r, err := ring.New(max, ring.WithEngine(e))
	if errors.Is(err, errors.ErrUnsupported) {
		b.Skip(err)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return r
}

func forBenchEngine(b *testing.B, f func(b *testing.B, e ring.Engine)) {
	for _, e := range []ring.Engine{ring.EngineMultishot, ring.EngineEpollWait} {
		b.Run(e.String(), func(b *testing.B) { f(b, e) })
	}
}

// BenchmarkWaitOneEvent: write an eventfd, Wait for its event, read it.
func BenchmarkWaitOneEvent(b *testing.B) {
	forBenchEngine(b, func(b *testing.B, e ring.Engine) {
		r := benchRing(b, e, 4)
		fd := fdtest.Eventfd(b)
		if err := r.Add(fd, epoll.In|epoll.Edge, 1); err != nil {
			b.Fatal(err)
		}
		evs := make([]epoll.Event, 8)
		cpu := startCPU(b)
		for range b.N {
			fdtest.Signal(b, fd)
			if n, err := r.Wait(evs, -1); n != 1 || err != nil {
				b.Fatalf("Wait = %d, %v", n, err)
			}
			fdtest.Drain(fd)
		}
		cpu.report(b)
	})
}

// BenchmarkPoll64Events: 64 eventfds written, their events collected with
// Poll, each read. ns/op is per event.
func BenchmarkPoll64Events(b *testing.B) {
	forBenchEngine(b, func(b *testing.B, e ring.Engine) {
		const n = 64
		r := benchRing(b, e, n)
		fds := make([]int, n)
		for i := range fds {
			fds[i] = fdtest.Eventfd(b)
			if err := r.Add(fds[i], epoll.In|epoll.Edge, uint64(i)); err != nil {
				b.Fatal(err)
			}
		}
		evs := make([]epoll.Event, n)
		cpu := startCPU(b)
		for i := 0; i < b.N; i += n {
			for _, fd := range fds {
				fdtest.Signal(b, fd)
			}
			for got := 0; got < n; {
				k := r.Poll(evs)
				if k == 0 {
					var err error
					if k, err = r.Wait(evs, -1); err != nil {
						b.Fatal(err)
					}
				}
				for _, ev := range evs[:k] {
					fdtest.Drain(fds[ev.Data()])
				}
				got += k
			}
		}
		cpu.report(b)
	})
}

// BenchmarkModifyRearmsOneShot: a OneShot registration of a readable
// eventfd re-armed with Modify and its event collected.
func BenchmarkModifyRearmsOneShot(b *testing.B) {
	forBenchEngine(b, func(b *testing.B, e ring.Engine) {
		r := benchRing(b, e, 4)
		fd := fdtest.Eventfd(b)
		fdtest.Signal(b, fd)
		if err := r.Add(fd, epoll.In|epoll.OneShot, 0); err != nil {
			b.Fatal(err)
		}
		evs := make([]epoll.Event, 8)
		cpu := startCPU(b)
		for i := range b.N {
			if err := r.Modify(fd, epoll.In|epoll.OneShot, uint64(i)); err != nil {
				b.Fatal(err)
			}
			if n, err := r.Wait(evs, -1); n != 1 || err != nil {
				b.Fatalf("Wait = %d, %v", n, err)
			}
		}
		cpu.report(b)
	})
}

// BenchmarkAddDelete: one registration made and removed.
func BenchmarkAddDelete(b *testing.B) {
	forBenchEngine(b, func(b *testing.B, e ring.Engine) {
		r := benchRing(b, e, 4)
		fd := fdtest.Eventfd(b)
		evs := make([]epoll.Event, 8)
		cpu := startCPU(b)
		for range b.N {
			if err := r.Add(fd, epoll.In|epoll.Edge, 1); err != nil {
				b.Fatal(err)
			}
			if err := r.Delete(fd); err != nil {
				b.Fatal(err)
			}
			r.Poll(evs) // let the removals' completions go
		}
		cpu.report(b)
	})
}
