package ring

import (
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/fdtest"
)

func TestPollAndWaitAllocateNothingInSteadyState(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates in the system call wrappers; run without -race")
	}
	forEngine(t, func(t *testing.T, e Engine) {
		r := newTestRing(t, 4, WithEngine(e))
		fd := fdtest.Eventfd(t)
		if err := r.Add(fd, epoll.In|epoll.Edge, 1); err != nil {
			t.Fatal(err)
		}
		evs := make([]epoll.Event, 8)
		ok := true
		wait := testing.AllocsPerRun(500, func() {
			fdtest.Signal(t, fd)
			if n, err := r.Wait(evs, -1); n != 1 || err != nil {
				ok = false
			}
			fdtest.Drain(fd)
		})
		poll := testing.AllocsPerRun(500, func() {
			fdtest.Signal(t, fd)
			for r.Poll(evs) == 0 {
			}
			fdtest.Drain(fd)
		})
		idle := testing.AllocsPerRun(50, func() {
			if n, err := r.Wait(evs, 50*time.Microsecond); n != 0 || err != nil {
				ok = false
			}
		})
		if !ok {
			t.Fatal("a Wait did not return what it should")
		}
		if wait != 0 || poll != 0 || idle != 0 {
			t.Errorf("allocations per call: Wait %v, Poll %v, timed-out Wait %v; want 0", wait, poll, idle)
		}
	})
}

// The interest calls a loop makes per event or per connection (Modify
// re-arming a OneShot, Add and Delete) allocate nothing when they succeed.
func TestInterestCallsAllocateNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates in the system call wrappers; run without -race")
	}
	forEngine(t, func(t *testing.T, e Engine) {
		r := newTestRing(t, 4, WithEngine(e))
		fd, other := fdtest.Eventfd(t), fdtest.Eventfd(t)
		if err := r.Add(fd, epoll.In|epoll.OneShot, 1); err != nil {
			t.Fatal(err)
		}
		evs := make([]epoll.Event, 8)
		ok := true
		modify := testing.AllocsPerRun(200, func() {
			ok = ok && r.Modify(fd, epoll.In|epoll.OneShot, 2) == nil
			r.Poll(evs)
		})
		addDelete := testing.AllocsPerRun(200, func() {
			ok = ok && r.Add(other, epoll.In|epoll.Edge, 3) == nil && r.Delete(other) == nil
			r.Poll(evs)
		})
		if !ok {
			t.Fatal("a call failed")
		}
		if modify != 0 || addDelete != 0 {
			t.Errorf("allocations: Modify %v, Add and Delete %v; want 0", modify, addDelete)
		}
	})
}
