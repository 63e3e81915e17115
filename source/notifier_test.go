package source

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

func TestNotifyFromAnotherGoroutineWakesEpoll(t *testing.T) {
	fdtest.Check(t)
	ep := newInstance(t)
	n := fdtest.New(t, NewNotifier)
	watch(t, ep, n, 5)
	nb, ce := fdFlags(t, n.Fd())
	if !nb || !ce {
		t.Fatalf("eventfd nonblock=%v cloexec=%v, want both", nb, ce)
	}
	go func() {
		time.Sleep(2 * time.Millisecond)
		n.Notify()
	}()
	waitEvent(t, ep, 5, 5*time.Second)
	if v, err := n.Read(); err != nil || v != 1 {
		t.Fatalf("Read = %d, %v; want 1", v, err)
	}
	_, err := n.Read()
	wantAgain(t, "Read after drain", err)
	expectNoEvent(t, ep)
}

// notifyFrom calls n.Notify each times from each of goroutines goroutines
// at once and returns when all are done; a Notify that fails fails t.
func notifyFrom(t *testing.T, n *Notifier, goroutines, each int) {
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if err := n.Notify(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestNotifiesBeforeReadMergeIntoOneEvent: a million Notifies from 8
// goroutines while the reader is away reach the kernel as one write: one
// event, one Read that returns 1, and nothing after it.
func TestNotifiesBeforeReadMergeIntoOneEvent(t *testing.T) {
	ep := newInstance(t)
	n := fdtest.New(t, NewNotifier)
	watch(t, ep, n, 1)
	const goroutines, each = 8, 125_000
	notifyFrom(t, n, goroutines, each)
	evs := make([]epoll.Event, 4)
	k, err := ep.Wait(evs, time.Second)
	if err != nil || k != 1 {
		t.Fatalf("Wait = %d, %v; want 1 event", k, err)
	}
	v, err := n.Read()
	if err != nil || v != 1 {
		t.Fatalf("Read = %d, %v; want 1: the %d Notifies were not merged into one write", v, err, goroutines*each)
	}
	_, err = n.Read()
	wantAgain(t, "second Read", err)
	expectNoEvent(t, ep)
}

// TestConcurrentNotifiesKeepAtMostOneWritePending runs a reader loop
// (Wait, Read) while 8 goroutines post a million Notifies. Every Read must
// absorb exactly one write (one pending event at a time), the wake-ups are
// far fewer than the Notifies, and a Notify after the storm is not lost.
func TestConcurrentNotifiesKeepAtMostOneWritePending(t *testing.T) {
	ep := newInstance(t)
	n := fdtest.New(t, NewNotifier)
	watch(t, ep, n, 1)
	const goroutines, each = 8, 125_000
	var stop atomic.Bool
	var wakeups, emptyWakeups int
	readerDone := make(chan error, 1)
	go func() {
		evs := make([]epoll.Event, 4)
		for !stop.Load() {
			k, err := ep.Wait(evs, 10*time.Millisecond)
			if err != nil {
				readerDone <- err
				return
			}
			if k == 0 {
				continue
			}
			wakeups++
			v, err := n.Read()
			if errors.Is(err, unix.EAGAIN) {
				emptyWakeups++
				continue
			}
			if err != nil {
				readerDone <- err
				return
			}
			if v != 1 {
				readerDone <- errors.New("a Read absorbed more than one write: events piled up")
				return
			}
		}
		readerDone <- nil
	}()
	notifyFrom(t, n, goroutines, each)
	stop.Store(true)
	if err := <-readerDone; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d Notifies from %d goroutines: %d wake-ups of a concurrent reader (%d found nothing)",
		goroutines*each, goroutines, wakeups, emptyWakeups)
	if wakeups > goroutines*each/20 { // 5%: the Read == 1 check above is what proves merging
		t.Fatalf("%d wake-ups for %d Notifies: merging is not working", wakeups, goroutines*each)
	}
	// Drain what the storm left, then one more Notify must be seen.
	n.Read()
	n.Notify()
	waitEvent(t, ep, 1, time.Second)
	if v, err := n.Read(); err != nil || v != 1 {
		t.Fatalf("Read after the storm = %d, %v", v, err)
	}
}

// TestNotifyAfterReadIsNeverLost alternates Notify and Read in two
// goroutines: every Notify that happens after a Read returned must be seen
// by a later Read.
func TestNotifyAfterReadIsNeverLost(t *testing.T) {
	ep := newInstance(t)
	n := fdtest.New(t, NewNotifier)
	watch(t, ep, n, 1)
	var posted, seen atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20000; i++ {
			posted.Add(1)
			n.Notify()
			for seen.Load() < int64(i+1) {
				// wait for the reader to observe this round's work
				time.Sleep(0)
			}
		}
	}()
	evs := make([]epoll.Event, 1)
	for seen.Load() < 20000 {
		k, err := ep.Wait(evs, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			t.Fatalf("no event for 5s with %d posted and %d seen: a wake-up was lost", posted.Load(), seen.Load())
		}
		if _, err := n.Read(); err == nil {
			seen.Store(posted.Load())
		}
	}
	<-done
}

func TestNotifyAllocatesNothing(t *testing.T) {
	n := fdtest.New(t, NewNotifier)
	merged := testing.AllocsPerRun(10000, func() { n.Notify() })
	cycle := testing.AllocsPerRun(1000, func() {
		n.Notify()
		n.Read()
		n.Read() // EAGAIN
	})
	if merged != 0 || cycle != 0 {
		t.Fatalf("allocations: merged Notify %v, Notify+Read+Read(EAGAIN) %v; want 0", merged, cycle)
	}
}

func TestSemaphoreCountsEveryNotify(t *testing.T) {
	ep := newInstance(t)
	s, err := NewSemaphore(2)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	watch(t, ep, s, 2)
	for i := 0; i < 3; i++ {
		if err := s.Notify(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ {
		waitEvent(t, ep, 2, time.Second)
		if v, err := s.Read(); err != nil || v != 1 {
			t.Fatalf("Read %d = %d, %v; want 1", i, v, err)
		}
	}
	_, err = s.Read()
	wantAgain(t, "Read of an empty semaphore", err)
	expectNoEvent(t, ep)
}

func TestNotifierCloseWhileInUseIsSafe(t *testing.T) {
	fdtest.Check(t)
	for round := 0; round < 50; round++ {
		n, err := NewNotifier()
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 200; i++ {
					if err := n.Notify(); err != nil && !errors.Is(err, ErrClosed) {
						t.Error(err)
					}
					if _, err := n.Read(); err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, unix.EAGAIN) {
						t.Error(err)
					}
				}
			}()
		}
		fdtest.CloseTwice(t, n)
		wg.Wait()
		if err := n.Notify(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Notify after Close = %v", err)
		}
	}
}
