package epoll

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// chain returns depth instances, each but the last holding the next, and
// an eventfd (data 9) held by the last: chain[0] heads depth-1 levels of
// nesting. The kernel allows five instances (four levels).
func chain(t *testing.T, depth int) ([]*Instance, int) {
	t.Helper()
	eps := make([]*Instance, depth)
	for i := range eps {
		eps[i] = newInstance(t)
	}
	for i := depth - 1; i > 0; i-- {
		if err := eps[i-1].Add(eps[i].Fd(), In, uint64(i)); err != nil {
			t.Fatalf("nesting level %d: %v", i, err)
		}
	}
	efd := fdtest.Eventfd(t)
	if err := eps[depth-1].Add(efd, In, 9); err != nil {
		t.Fatal(err)
	}
	return eps, efd
}

// TestWaitsWorkAtEveryNestingDepth heads chains of one to five instances
// and waits on the head. WaitContext, which nests the instance in the
// runtime's, works up to four and refuses the fifth with ELOOP, leaving
// nothing behind: once the chain is shorter it works. Realtime
// WaitDeadline, whose private instance would be a sixth, works at every
// depth, never early.
func TestWaitsWorkAtEveryNestingDepth(t *testing.T) {
	fdtest.Check(t)
	for depth := 1; depth <= 5; depth++ {
		eps, efd := chain(t, depth)
		head := eps[0]
		evs := make([]Event, 4)
		expectRealtimeWait(t, head, efd, depth)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		fdtest.Signal(t, efd)
		n, err := head.WaitContext(ctx, evs)
		cancel()
		if depth == 5 {
			var e *Error
			if n != 0 || !errors.Is(err, unix.ELOOP) || !errors.As(err, &e) || e.Call != "WaitContext" {
				t.Fatalf("depth 5: WaitContext = %d, %v; want ELOOP naming WaitContext", n, err)
			}
			if _, err := head.WaitContext(context.Background(), evs); !errors.Is(err, unix.ELOOP) {
				t.Fatalf("depth 5: second WaitContext = %v; want ELOOP again", err)
			}
			if n, err := head.Wait(evs, time.Second); n != 1 || err != nil {
				t.Fatalf("depth 5: Wait after the refused WaitContext = %d, %v", n, err)
			}
			if err := eps[3].Delete(eps[4].Fd()); err != nil {
				t.Fatal(err)
			}
			if err := eps[3].Add(efd, In, 9); err != nil {
				t.Fatal(err)
			}
			n, err = head.WaitContext(context.Background(), evs)
		}
		if n != 1 || err != nil {
			t.Fatalf("depth %d: WaitContext with an event = %d, %v; want 1", depth, n, err)
		}
		fdtest.Drain(efd)
	}
}

// expectRealtimeWait: a Realtime WaitDeadline on head ends at its deadline
// with nothing ready, and returns the event of the chain's eventfd.
func expectRealtimeWait(t *testing.T, head *Instance, efd, depth int) {
	t.Helper()
	evs := make([]Event, 4)
	dl := time.Now().Round(0).Add(20 * time.Millisecond)
	if n, err := head.WaitDeadline(evs, dl, Realtime); n != 0 || err != nil {
		t.Fatalf("depth %d: Realtime WaitDeadline = %d, %v; want 0, nil", depth, n, err)
	}
	if time.Now().Round(0).Before(dl) {
		t.Fatalf("depth %d: Realtime WaitDeadline returned early", depth)
	}
	fdtest.SignalAfter(t, efd, 10*time.Millisecond)
	n, err := head.WaitDeadline(evs, time.Now().Add(10*time.Second), Realtime)
	if n != 1 || err != nil {
		t.Fatalf("depth %d: Realtime WaitDeadline with an event = %d, %v; want 1", depth, n, err)
	}
	fdtest.Drain(efd)
}

// TestRealtimeWaitLeavesNoNestingBehind: the private instance of a
// Realtime WaitDeadline holds the instance only during the wait, so
// afterwards a chain may still grow to the kernel's full depth below it.
func TestRealtimeWaitLeavesNoNestingBehind(t *testing.T) {
	eps, _ := chain(t, 4)
	if n, err := eps[0].WaitDeadline(make([]Event, 1), time.Now().Add(time.Millisecond), Realtime); n != 0 || err != nil {
		t.Fatalf("Realtime WaitDeadline = %d, %v", n, err)
	}
	fifth := newInstance(t)
	if err := eps[3].Add(fifth.Fd(), In, 4); err != nil {
		t.Fatalf("growing the chain to five after a Realtime wait: %v", err)
	}
}

// TestWaitDeadlineRealtimeFallbackFollowsClockStep is
// TestWaitDeadlineRealtimeFollowsClockStep on an instance heading five
// levels, where the private instance cannot be used: the monotonic slices
// notice the step within one slice. It steps the system clock; it runs
// only when asked (EVENTPOLL_CLOCK_TESTS=1, as root).
func TestWaitDeadlineRealtimeFallbackFollowsClockStep(t *testing.T) {
	if os.Getenv("EVENTPOLL_CLOCK_TESTS") != "1" {
		t.Skip("steps the system clock; set EVENTPOLL_CLOCK_TESTS=1 to run")
	}
	eps, _ := chain(t, 5)
	waitThroughClockStep(t, eps[0])
}
