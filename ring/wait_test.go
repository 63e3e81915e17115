package ring

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/fdtest"
)

// A goroutine asleep in Wait(-1) must not hold up another goroutine's
// Wait: Wait(evs, 0) polls and returns, a timed Wait returns within its
// time (never early), whatever the other one is doing.
func TestZeroAndTimedWaitReturnWhileAnotherGoroutineWaitsForever(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		r := newTestRing(t, 4, WithEngine(e))
		if err := r.Add(fdtest.Eventfd(t), epoll.In, 0); err != nil {
			t.Fatal(err)
		}
		forever := make(chan error, 1)
		go func() {
			_, err := r.Wait(make([]epoll.Event, 4), -1)
			forever <- err
		}()
		time.Sleep(quiet) // let it fall asleep in io_uring_enter
		const timed = 10 * time.Millisecond
		var took0, tookTimed time.Duration
		done := make(chan error, 1)
		go func() {
			evs := make([]epoll.Event, 4)
			start := time.Now()
			_, err0 := r.Wait(evs, 0)
			took0 = time.Since(start)
			start = time.Now()
			_, err := r.Wait(evs, timed)
			tookTimed = time.Since(start)
			done <- errors.Join(err0, err)
		}()
		if err := fdtest.Within(t, done, arrive, fmt.Sprintf("Wait(0) and Wait(%v) beside a Wait(-1) in another goroutine", timed)); err != nil {
			t.Fatal(err)
		}
		if took0 > time.Second {
			t.Errorf("Wait(0) took %v", took0)
		}
		if tookTimed < timed || tookTimed > time.Second {
			t.Errorf("Wait(%v) took %v", timed, tookTimed)
		}
		r.Close()
		if err := <-forever; !errors.Is(err, ErrClosed) {
			t.Errorf("the Wait(-1) ended with %v, want ErrClosed", err)
		}
	})
}

// Waiters in several goroutines, some timed and some not, share the
// events: every event is delivered, and none twice.
func TestConcurrentWaitersNeverGetAnEventTwice(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		const n, waiters = 64, 4
		r := newTestRing(t, n, WithEngine(e))
		fds := make([]int, n)
		for i := range fds {
			fds[i] = fdtest.Eventfd(t)
			if err := r.Add(fds[i], epoll.In|epoll.Edge, uint64(i)); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		var counts [n]int
		var wg sync.WaitGroup
		for w := range waiters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				evs := make([]epoll.Event, 1+w)
				timeout := time.Duration(w-1) * time.Millisecond // -1ms (forever), 0, 1ms, 2ms
				for {
					k, err := r.Wait(evs, timeout)
					if err != nil {
						return
					}
					mu.Lock()
					for _, ev := range evs[:k] {
						counts[ev.Data()]++
					}
					mu.Unlock()
				}
			}()
		}
		for _, fd := range fds {
			fdtest.Signal(t, fd)
		}
		deadline := time.Now().Add(arrive)
		for {
			mu.Lock()
			seen := 0
			for _, c := range counts {
				seen += min(c, 1)
			}
			mu.Unlock()
			if seen == n || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(quiet) // room for a duplicate to show up
		r.Close()
		wg.Wait()
		for i, c := range counts {
			if c != 1 {
				t.Errorf("registration %d delivered %d times, want once", i, c)
			}
		}
	})
}
