package epoll

import (
	"context"
	"errors"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

func TestCloseIsIdempotentAndLaterCallsSayClosed(t *testing.T) {
	fdtest.Check(t)
	ep, err := New()
	if err != nil {
		t.Fatal(err)
	}
	efd := fdtest.Eventfd(t)
	fdtest.CloseTwice(t, ep)
	evs := make([]Event, 1)
	for name, err := range map[string]error{
		"Add":         ep.Add(efd, In, 0),
		"Modify":      ep.Modify(efd, In, 0),
		"Delete":      ep.Delete(efd),
		"Wait":        second(ep.Wait(evs, 0)),
		"Wait(-1)":    second(ep.Wait(evs, -1)),
		"WaitDl Mono": second(ep.WaitDeadline(evs, time.Now().Add(time.Second), Monotonic)),
		"WaitDl Real": second(ep.WaitDeadline(evs, time.Now().Add(time.Second), Realtime)),
		"WaitContext": second(ep.WaitContext(context.Background(), evs)),
		"SetBusyPoll": ep.SetBusyPoll(BusyPollParams{}),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

// Close wakes every kind of blocked wait, which then returns ErrClosed.
func TestCloseWakesBlockedWaits(t *testing.T) {
	fdtest.Check(t)
	waits := map[string]func(*Instance) error{
		"Wait(-1)": func(ep *Instance) error { return second(ep.Wait(make([]Event, 1), -1)) },
		"Wait(1h)": func(ep *Instance) error { return second(ep.Wait(make([]Event, 1), time.Hour)) },
		"PWait":    func(ep *Instance) error { return second(ep.PWait(make([]Event, 1), -1, &unix.Sigset_t{})) },
		"WaitDl Realtime": func(ep *Instance) error {
			return second(ep.WaitDeadline(make([]Event, 1), time.Now().Add(time.Hour), Realtime))
		},
		"WaitContext": func(ep *Instance) error {
			return second(ep.WaitContext(context.Background(), make([]Event, 1)))
		},
	}
	for name, wait := range waits {
		ep, err := New()
		if err != nil {
			t.Fatal(err)
		}
		res := make(chan error, 3)
		for i := 0; i < 3; i++ {
			go func() { res <- wait(ep) }()
		}
		time.Sleep(30 * time.Millisecond)
		closed := make(chan error, 1)
		go func() { closed <- ep.Close() }()
		for i := 0; i < 3; i++ {
			if err := fdtest.Within(t, res, 5*time.Second, name+" blocked during Close"); !errors.Is(err, ErrClosed) {
				t.Errorf("%s blocked during Close = %v, want ErrClosed", name, err)
			}
		}
		if err := <-closed; err != nil {
			t.Errorf("%s: Close = %v", name, err)
		}
	}
}

// Goroutines add, modify, delete, wait and close at once. Under -race this
// proves the reference counting; afterwards no descriptor is left open.
func TestConcurrentUseWithCloseIsSafe(t *testing.T) {
	fdtest.Check(t)
	dur := 2 * time.Second
	if testing.Short() {
		dur = 300 * time.Millisecond
	}
	var fds []int
	for i := 0; i < 16; i++ {
		fd, err := unix.Eventfd(1, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK) // always readable
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
	}
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	stop := time.Now().Add(dur)
	rounds := 0
	for time.Now().Before(stop) {
		rounds++
		ep, err := New()
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		worker := func(seed int64, f func(r *rand.Rand) error) {
			defer wg.Done()
			r := rand.New(rand.NewSource(seed))
			for {
				if err := f(r); errors.Is(err, ErrClosed) {
					return
				} else if err != nil && !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.ENOENT) {
					t.Errorf("unexpected error: %v", err)
					return
				}
			}
		}
		pick := func(r *rand.Rand) int { return fds[r.Intn(len(fds))] }
		wg.Add(6)
		go worker(1, func(r *rand.Rand) error { return ep.Add(pick(r), In, 1) })
		go worker(2, func(r *rand.Rand) error { return ep.Modify(pick(r), In|Edge, 2) })
		go worker(3, func(r *rand.Rand) error { return ep.Delete(pick(r)) })
		go worker(4, func(r *rand.Rand) error { return second(ep.Wait(make([]Event, 4), time.Millisecond)) })
		go worker(5, func(r *rand.Rand) error {
			return second(ep.WaitDeadline(make([]Event, 4), time.Now().Add(time.Millisecond), Realtime))
		})
		go worker(6, func(r *rand.Rand) error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
			defer cancel()
			_, err := ep.WaitContext(ctx, make([]Event, 4))
			if errors.Is(err, context.DeadlineExceeded) {
				err = nil
			}
			return err
		})
		time.Sleep(time.Duration(1+rounds%20) * time.Millisecond)
		var cw sync.WaitGroup
		for i := 0; i < 2; i++ { // two concurrent Closes
			cw.Add(1)
			go func() { defer cw.Done(); ep.Close() }()
		}
		cw.Wait()
		wg.Wait()
	}
	t.Logf("%d rounds of concurrent use and Close", rounds)
}

// TestClosingNestedInstanceDoesNotWakeParent: closing an instance that a
// parent watches, while nobody waits on the child, removes it as closing a
// raw epoll descriptor does: the parent's blocked waiter sees nothing. The
// child has waited with a timeout before (which once made it create and
// register the eventfd Close writes) and the parent's waiter is inside the
// kernel when the child closes; a second eventfd ends that wait afterwards,
// so whatever the waiter reports is its own.
func TestClosingNestedInstanceDoesNotWakeParent(t *testing.T) {
	closeNestedChildren(t, false)
}

// TestClosingNestedInstanceWithABlockedWaiterDoesNotWakeParent: the same,
// with a goroutine blocked in the child's own Wait when it is closed.
// Close must end that wait (it returns ErrClosed) without making anything
// ready in the child, so the parent, blocked at the same time, reports
// nothing for it. (With the wake eventfd the parent reported the child in
// most runs.)
func TestClosingNestedInstanceWithABlockedWaiterDoesNotWakeParent(t *testing.T) {
	closeNestedChildren(t, true)
}

// closeNestedChildren closes, 100 times, a child instance registered in a
// parent whose waiter is blocked in the kernel, and fails if the parent
// ever reports the child. With blockedChild a goroutine is also blocked in
// the child's own Wait, which Close must end with ErrClosed; without it the
// child has waited with a timeout before.
func closeNestedChildren(t *testing.T, blockedChild bool) {
	fdtest.Check(t)
	const runs = 100
	seen := 0
	for range runs {
		parent := newInstance(t)
		child, err := New()
		if err != nil {
			t.Fatal(err)
		}
		stop := fdtest.Eventfd(t)
		if parent.Add(child.Fd(), In, 1) != nil || parent.Add(stop, In, 2) != nil {
			t.Fatal("Add failed")
		}
		if !blockedChild {
			if n, err := child.Wait(make([]Event, 1), time.Microsecond); n != 0 || err != nil {
				t.Fatalf("child Wait = %d, %v", n, err)
			}
		}
		got := make(chan []Event, 1)
		go func() {
			evs := make([]Event, 2)
			n, err := parent.Wait(evs, -1)
			if err != nil {
				t.Error(err)
			}
			got <- evs[:n]
		}()
		ended := make(chan error, 1)
		if blockedChild {
			go func() {
				_, err := child.Wait(make([]Event, 1), -1)
				ended <- err
			}()
		}
		for parent.blocked.Load() == 0 || (blockedChild && child.blocked.Load() == 0) {
			time.Sleep(50 * time.Microsecond)
		}
		time.Sleep(200 * time.Microsecond) // from counted to inside the kernel
		if err := child.Close(); err != nil {
			t.Fatal(err)
		}
		if blockedChild {
			if err := fdtest.Within(t, ended, 10*time.Second, "the child's Wait blocked during Close"); !errors.Is(err, ErrClosed) {
				t.Fatalf("the child's blocked Wait returned %v; want ErrClosed", err)
			}
		}
		time.Sleep(time.Millisecond) // a wake-up the close caused has come by now
		fdtest.Signal(t, stop)
		for _, ev := range <-got {
			if ev.Data() == 1 {
				seen++
			}
		}
		parent.Close()
	}
	if seen != 0 {
		t.Fatalf("the parent reported the closed child in %d of %d runs, want 0", seen, runs)
	}
}

// TestCloseEndsAPWaitWhoseMaskBlocksSIGURG: a wait that keeps Close's
// signal out is ended by the wake eventfd instead, at once.
func TestCloseEndsAPWaitWhoseMaskBlocksSIGURG(t *testing.T) {
	fdtest.Check(t)
	ep, err := New()
	if err != nil {
		t.Fatal(err)
	}
	var mask unix.Sigset_t
	bit := uint(unix.SIGURG) - 1
	mask.Val[bit/64] |= 1 << (bit % 64)
	ended := make(chan error, 1)
	go func() {
		_, err := ep.PWait(make([]Event, 1), -1, &mask)
		ended <- err
	}()
	for ep.blocked.Load() == 0 {
		time.Sleep(50 * time.Microsecond)
	}
	time.Sleep(200 * time.Microsecond)
	start := time.Now()
	if err := ep.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fdtest.Within(t, ended, 10*time.Second, "PWait with SIGURG blocked, during Close"); !errors.Is(err, ErrClosed) {
		t.Fatalf("PWait returned %v; want ErrClosed", err)
	}
	t.Logf("Close took %v", time.Since(start))
}
