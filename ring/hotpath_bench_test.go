package ring_test

import (
	"errors"
	"testing"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/fdtest"
	"github.com/eventpoll/eventpoll/ring"
)

// The hot paths, one goroutine, no writer to pace them: what one event
// costs the consumer (Wait, Poll) and what one interest change costs
// (Modify re-arming a OneShot, Add and Delete). Figures and their reading
// are in BENCHMARKS.md ("ring: choosing an engine").
//
//	go test -run '^$' -bench 'Wait|Poll|Modify|AddDelete' -count 3 ./ring

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
		b.ResetTimer()
		for range b.N {
			fdtest.Signal(b, fd)
			if n, err := r.Wait(evs, -1); n != 1 || err != nil {
				b.Fatalf("Wait = %d, %v", n, err)
			}
			fdtest.Drain(fd)
		}
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
		b.ResetTimer()
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
		b.ResetTimer()
		for i := range b.N {
			if err := r.Modify(fd, epoll.In|epoll.OneShot, uint64(i)); err != nil {
				b.Fatal(err)
			}
			if n, err := r.Wait(evs, -1); n != 1 || err != nil {
				b.Fatalf("Wait = %d, %v", n, err)
			}
		}
	})
}

// BenchmarkAddDelete: one registration made and removed.
func BenchmarkAddDelete(b *testing.B) {
	forBenchEngine(b, func(b *testing.B, e ring.Engine) {
		r := benchRing(b, e, 4)
		fd := fdtest.Eventfd(b)
		evs := make([]epoll.Event, 8)
		b.ResetTimer()
		for range b.N {
			if err := r.Add(fd, epoll.In|epoll.Edge, 1); err != nil {
				b.Fatal(err)
			}
			if err := r.Delete(fd); err != nil {
				b.Fatal(err)
			}
			r.Poll(evs) // let the removals' completions go
		}
	})
}
