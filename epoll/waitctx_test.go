package epoll

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/fdtest"
)

func TestWaitContextReturnsEvents(t *testing.T) {
	ep, efd := watching(t, In, 42)
	fdtest.SignalAfter(t, efd, 10*time.Millisecond)
	evs := make([]Event, 4)
	n, err := ep.WaitContext(context.Background(), evs)
	if err != nil || n != 1 || evs[0].Data() != 42 {
		t.Fatalf("WaitContext = %d, %v, %v", n, err, evs[:n])
	}
	// Ready at call time: no parking at all.
	n, err = ep.WaitContext(context.Background(), evs)
	if err != nil || n != 1 {
		t.Fatalf("WaitContext with level-triggered data pending = %d, %v", n, err)
	}
}

func TestWaitContextCancelReturnsWithin10ms(t *testing.T) {
	ep := newInstance(t)
	evs := make([]Event, 1)
	var lat []time.Duration
	for i := 0; i < 50; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		res := make(chan error, 1)
		go func() { _, err := ep.WaitContext(ctx, evs); res <- err }()
		time.Sleep(2 * time.Millisecond) // let it park
		start := time.Now()
		cancel()
		err := <-res
		lat = append(lat, time.Since(start))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled WaitContext = %v, want context.Canceled", err)
		}
	}
	med := fdtest.Percentile(lat, 0.5)
	t.Logf("cancel to return over 50 waits: median %v, max %v", med, fdtest.Percentile(lat, 1))
	if med > 10*time.Millisecond {
		t.Errorf("median cancel latency %v, want <= 10ms", med)
	}
	if worst := fdtest.Percentile(lat, 1); worst > time.Second {
		t.Errorf("a cancellation took %v", worst)
	}
}

func TestWaitContextDeadlineExpires(t *testing.T) {
	ep := newInstance(t)
	start := time.Now() // before the deadline is set: never later than it minus 20 ms
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := ep.WaitContext(ctx, make([]Event, 1))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitContext = %v, want DeadlineExceeded", err)
	}
	if el := time.Since(start); el < 20*time.Millisecond || el > 2*time.Second {
		t.Fatalf("20ms context ended the wait after %v", el)
	}
}

// A cancellation of one context must not disturb a later wait with another.
func TestWaitContextSurvivesEarlierCancellation(t *testing.T) {
	ep, _ := watching(t, In, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ep.WaitContext(ctx, make([]Event, 1)); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	start := time.Now()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, err := ep.WaitContext(ctx2, make([]Event, 1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second wait = %v", err)
	}
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Fatalf("second wait returned after %v: the first cancellation leaked into it", el)
	}
}

// Many WaitContext callers on one instance queue; each returns when its own
// context ends, and an event reaches one of them.
func TestWaitContextManyCallersOneInstance(t *testing.T) {
	ep, efd := watching(t, In|Edge, 1)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	got := make(chan int, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, _ := ep.WaitContext(ctx, make([]Event, 1))
			got <- n
		}()
	}
	time.Sleep(20 * time.Millisecond)
	fdtest.Signal(t, efd)
	select {
	case n := <-got:
		if n != 1 {
			t.Fatalf("first to return got %d events", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no WaitContext caller saw the event")
	}
	cancel()
	wg.Wait()
}

// Nine thousand goroutines parked in WaitContext on nine thousand
// instances hold goroutines, not OS threads. (Each instance holds two
// descriptors, and the hard limit here is 20,000.)
func TestWaitContextThousandsOfWaitersDoNotHoldThreads(t *testing.T) {
	const n = 9000
	fdtest.RaiseLimit(t, 2*n+1000)
	eps := make([]*Instance, n)
	for i := range eps {
		eps[i] = newInstance(t)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, n)
	before := fdtest.Threads(t)
	for _, ep := range eps {
		wg.Add(1)
		go func(ep *Instance) {
			defer wg.Done()
			_, err := ep.WaitContext(ctx, make([]Event, 1))
			errs <- err
		}(ep)
	}
	time.Sleep(500 * time.Millisecond) // let them all park
	during := fdtest.Threads(t)
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("WaitContext = %v, want Canceled", err)
		}
	}
	t.Logf("threads: %d before, %d with %d goroutines parked", before, during, n)
	if during > before+64 {
		t.Fatalf("%d parked WaitContext calls grew the process from %d to %d threads", n, before, during)
	}
}
