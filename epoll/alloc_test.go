package epoll

import (
	"context"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// The hot paths allocate nothing in steady state.
func TestSteadyStateAllocatesNothing(t *testing.T) {
	ep := newInstance(t)
	efd := fdtest.Eventfd(t)
	idle := fdtest.Eventfd(t)
	evs := make([]Event, 8)
	if err := ep.Add(idle, In, 9); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fdtest.Signal(t, efd) // readable: WaitContext returns without parking
	for name, f := range map[string]func(){
		"Add+Delete": func() {
			if ep.Add(efd, In, 1) != nil || ep.Delete(efd) != nil {
				t.Fatal("Add/Delete failed")
			}
		},
		"Modify": func() {
			if ep.Modify(idle, In|Edge, 3) != nil {
				t.Fatal("Modify failed")
			}
		},
		"Wait(0)":    func() { ep.Wait(evs, 0) },
		"Wait(1us)":  func() { ep.Wait(evs, time.Microsecond) },
		"PWait(1us)": func() { ep.PWait(evs, time.Microsecond, nil) },
		"WaitDeadline(Monotonic)": func() {
			ep.WaitDeadline(evs, time.Now().Add(time.Microsecond), Monotonic)
		},
		"WaitContext(Background)": func() {
			if ep.Add(efd, In, 1) != nil {
				t.Fatal("Add failed")
			}
			if n, err := ep.WaitContext(context.Background(), evs); n != 1 || err != nil {
				t.Fatalf("WaitContext = %d, %v", n, err)
			}
			ep.Delete(efd)
		},
		"WaitContext(reused cancellable ctx)": func() {
			if ep.Add(efd, In, 1) != nil {
				t.Fatal("Add failed")
			}
			if n, err := ep.WaitContext(ctx, evs); n != 1 || err != nil {
				t.Fatalf("WaitContext = %d, %v", n, err)
			}
			ep.Delete(efd)
		},
	} {
		f() // warm up lazily made state
		if a := testing.AllocsPerRun(200, f); a != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, a)
		}
	}
}

// Parking in the runtime poller and being woken allocates nothing either.
func TestWaitContextParkedAllocatesNothing(t *testing.T) {
	ep, efd := watching(t, In|Edge, 1)
	evs := make([]Event, 1)
	ready := make(chan struct{})
	one := make([]byte, 8) // made once: the writer's buffer must not count
	one[0] = 1
	go func() {
		for range ready {
			time.Sleep(100 * time.Microsecond)
			unix.Write(efd, one)
		}
	}()
	defer close(ready)
	f := func() {
		ready <- struct{}{}
		if n, err := ep.WaitContext(context.Background(), evs); n != 1 || err != nil {
			t.Fatalf("WaitContext = %d, %v", n, err)
		}
	}
	f()
	if a := testing.AllocsPerRun(100, f); a != 0 {
		t.Errorf("parked WaitContext: %v allocations per call, want 0", a)
	}
}
