package ring

import (
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
)

func TestPollAndWaitAllocateNothingInSteadyState(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates in the system call wrappers; run without -race")
	}
	forEngine(t, func(t *testing.T, e Engine) {
		r := newTestRing(t, 4, WithEngine(e))
		fd := newEventfd(t)
		if err := r.Add(fd, epoll.In|epoll.Edge, 1); err != nil {
			t.Fatal(err)
		}
		evs := make([]epoll.Event, 8)
		ok := true
		wait := testing.AllocsPerRun(500, func() {
			signal(t, fd)
			if n, err := r.Wait(evs, -1); n != 1 || err != nil {
				ok = false
			}
			drain(fd)
		})
		poll := testing.AllocsPerRun(500, func() {
			signal(t, fd)
			for r.Poll(evs) == 0 {
			}
			drain(fd)
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
