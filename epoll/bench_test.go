package epoll

import (
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

func BenchmarkAddDelete(b *testing.B) {
	ep := newInstance(b)
	efd := fdtest.Eventfd(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := ep.Add(efd, In, 1); err != nil {
			b.Fatal(err)
		}
		if err := ep.Delete(efd); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkModify(b *testing.B) {
	ep, efd := watching(b, In, 1)
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		i++
		ev := In
		if i&1 != 0 {
			ev |= Edge // alternate, so every call changes the registration
		}
		if err := ep.Modify(efd, ev, i); err != nil {
			b.Fatal(err)
		}
	}
}

func benchmarkWait0(b *testing.B, ready int) { benchmarkWaitReady(b, ready, 0) }

// benchmarkWaitReady calls Wait with timeout while ready registrations are
// ready: a blocking Wait (timeout -1) that finds events queued, the case of
// a busy event loop, against Wait(0), which cannot block.
func benchmarkWaitReady(b *testing.B, ready int, timeout time.Duration) {
	fdtest.RaiseLimit(b, uint64(ready)+500)
	ep := newInstance(b)
	for i := 0; i < ready; i++ {
		fd, err := unix.Eventfd(1, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK) // readable, level-triggered
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { unix.Close(fd) })
		if err := ep.Add(fd, In, uint64(i)); err != nil {
			b.Fatal(err)
		}
	}
	evs := make([]Event, ready)
	b.ReportAllocs()
	for b.Loop() {
		n, err := ep.Wait(evs, timeout)
		if err != nil || n != ready {
			b.Fatalf("Wait(%v) = %d, %v; want %d", timeout, n, err, ready)
		}
	}
	b.ReportMetric(float64(b.N*ready)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkWait0Ready1(b *testing.B)    { benchmarkWait0(b, 1) }
func BenchmarkWait0Ready1000(b *testing.B) { benchmarkWait0(b, 1000) }

func BenchmarkWaitBlockingReady1(b *testing.B) { benchmarkWaitReady(b, 1, -1) }
