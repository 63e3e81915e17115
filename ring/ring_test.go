package ring

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/fdtest"
	"github.com/eventpoll/eventpoll/internal/uring"
	"golang.org/x/sys/unix"
)

// Generous ceilings for a loaded 2-core machine; tests never wait this long
// when they pass.
const (
	arrive = 5 * time.Second        // an event that must come
	quiet  = 100 * time.Millisecond // a span in which no event may come
)

func TestFdReadyBeforeAddIsReported(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		r := newTestRing(t, 4, WithEngine(e))
		fd := fdtest.Eventfd(t)
		fdtest.Signal(t, fd)
		if err := r.Add(fd, epoll.In|epoll.Edge, 42); err != nil {
			t.Fatal(err)
		}
		got := waitN(t, r, 1, arrive)
		if len(got) != 1 || got[0].Data() != 42 || got[0].Events&epoll.In == 0 {
			t.Fatalf("events = %v, want one IN with data 42", got)
		}
	})
}

func TestEdgeTriggeredReportsOncePerChange(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		r := newTestRing(t, 4, WithEngine(e))
		fd := fdtest.Eventfd(t)
		if err := r.Add(fd, epoll.In|epoll.Edge, 7); err != nil {
			t.Fatal(err)
		}
		evs := make([]epoll.Event, 8)
		if n, err := r.Wait(evs, quiet); n != 0 || err != nil {
			t.Fatalf("Wait on an idle fd = %d, %v; want 0, nil", n, err)
		}
		fdtest.Signal(t, fd)
		if got := waitN(t, r, 1, arrive); len(got) != 1 || got[0].Data() != 7 {
			t.Fatalf("after one write: %v, want one event", got)
		}
		// Still readable (not drained), but no new change: no new event.
		if n, err := r.Wait(evs, quiet); n != 0 || err != nil {
			t.Fatalf("Wait without a new change = %d, %v; want 0, nil", n, err)
		}
		// Two changes before the consumer looks: one Event.
		fdtest.Signal(t, fd)
		fdtest.Signal(t, fd)
		time.Sleep(quiet)
		if n := r.Poll(evs); n != 1 || evs[0].Data() != 7 {
			t.Fatalf("Poll after two writes = %d (%v), want 1 merged event", n, evs[:n])
		}
		if n := r.Poll(evs); n != 0 {
			t.Fatalf("second Poll = %d, want 0", n)
		}
	})
}

func TestAddBeyondMaxItemsFailsWithENOSPC(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		const max = 3
		r := newTestRing(t, max, WithEngine(e))
		fds := make([]int, max+1)
		for i := range fds {
			fds[i] = fdtest.Eventfd(t)
		}
		for i := range max {
			if err := r.Add(fds[i], epoll.In, uint64(i)); err != nil {
				t.Fatalf("Add #%d: %v", i, err)
			}
		}
		err := r.Add(fds[max], epoll.In, max)
		if !errors.Is(err, unix.ENOSPC) {
			t.Fatalf("Add #%d = %v, want ENOSPC", max, err)
		}
		if r.Len() != max {
			t.Fatalf("Len = %d, want %d", r.Len(), max)
		}
		if err := r.Delete(fds[0]); err != nil {
			t.Fatal(err)
		}
		if err := r.Add(fds[max], epoll.In, max); err != nil {
			t.Fatalf("Add after Delete freed a slot: %v", err)
		}
		fdtest.Signal(t, fds[max])
		if got := waitN(t, r, 1, arrive); len(got) != 1 || got[0].Data() != max {
			t.Fatalf("events = %v, want one with data %d", got, max)
		}
	})
}

// A writer floods every fd while a deleter removes them one by one and a
// consumer waits: once Delete has returned, no Wait that starts afterwards
// may return an event carrying that registration's data, although the
// kernel keeps posting completions for it until the removal lands.
func TestNoEventAfterDeleteUnderConcurrentFlood(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		const n = 32
		r := newTestRing(t, n, WithEngine(e), WithCQEntries(16))
		fds := make([]int, n)
		for i := range fds {
			fds[i] = fdtest.Eventfd(t)
			if err := r.Add(fds[i], epoll.In|epoll.Edge, uint64(i)); err != nil {
				t.Fatal(err)
			}
		}
		var deleted [n]atomic.Bool
		var stop atomic.Bool
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { // writer
			defer wg.Done()
			for !stop.Load() {
				for _, fd := range fds {
					unix.Write(fd, one)
				}
			}
		}()
		go func() { // deleter
			defer wg.Done()
			for i, fd := range fds {
				time.Sleep(2 * time.Millisecond)
				if err := r.Delete(fd); err != nil {
					t.Errorf("Delete(%d): %v", fd, err)
				}
				deleted[i].Store(true)
			}
		}()
		evs := make([]epoll.Event, 16)
		var before [n]bool
		delivered := 0
		for !deleted[n-1].Load() {
			for i := range before {
				before[i] = deleted[i].Load()
			}
			k, err := r.Wait(evs, 10*time.Millisecond)
			if err != nil {
				t.Fatalf("Wait: %v", err)
			}
			for _, ev := range evs[:k] {
				if i := ev.Data(); before[i] {
					t.Errorf("event %v for registration %d after its Delete returned", ev.Events, i)
				}
			}
			delivered += k
		}
		stop.Store(true)
		wg.Wait()
		// Everything is deleted now: nothing at all may come.
		if k, err := r.Wait(evs, quiet); k != 0 || err != nil {
			t.Errorf("Wait after every Delete = %d, %v; want 0, nil", k, err)
		}
		st := r.Stats()
		t.Logf("delivered %d events, dropped %d stale completions, re-armed %d", delivered, st.Stale, st.Rearmed)
		if st.Rebuilt != 0 || st.Lost != 0 {
			// Every Delete found its file: nothing was lost, nothing to shed.
			t.Errorf("Rebuilt %d, Lost %d; want 0, 0", st.Rebuilt, st.Lost)
		}
		if delivered == 0 {
			t.Errorf("the flood delivered no event before the deletes: the test exercised nothing")
		}
	})
}

// More ready fds than the completion queue has entries: the kernel holds
// the completions that do not fit and ends the multishot requests it could
// not post for; every fd must still be reported, and reported again after a
// new write, which proves its request was re-armed.
func TestFloodBeyondCQLosesNoReadiness(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		const n, cq = 200, 16
		r := newTestRing(t, n, WithEngine(e), WithCQEntries(cq))
		if e == EngineMultishot && r.u.CQEntries() != cq {
			t.Fatalf("CQ has %d entries, want %d", r.u.CQEntries(), cq)
		}
		fds := make([]int, n)
		for i := range fds {
			fds[i] = fdtest.Eventfd(t)
			if err := r.Add(fds[i], epoll.In|epoll.Edge, uint64(i)); err != nil {
				t.Fatal(err)
			}
		}
		for round := range 2 {
			for _, fd := range fds {
				fdtest.Signal(t, fd)
			}
			seen := make([]bool, n)
			left := n
			evs := make([]epoll.Event, 8) // smaller than the CQ as well
			deadline := time.Now().Add(arrive)
			for left > 0 && time.Now().Before(deadline) {
				k, err := r.Wait(evs, time.Until(deadline))
				if err != nil {
					t.Fatal(err)
				}
				for _, ev := range evs[:k] {
					i := ev.Data()
					fdtest.Drain(fds[i])
					if !seen[i] {
						seen[i] = true
						left--
					}
				}
			}
			if left > 0 {
				t.Fatalf("round %d: %d of %d ready fds never reported", round, left, n)
			}
			// Let re-armed requests report what they found, then go quiet.
			for {
				k, err := r.Wait(evs, quiet)
				if err != nil {
					t.Fatal(err)
				}
				if k == 0 {
					break
				}
			}
		}
		if lost := r.u.CQOverflow(); lost != 0 {
			t.Errorf("kernel reports %d completions lost", lost)
		}
		st := r.Stats()
		t.Logf("stats %+v", st)
		if e == EngineMultishot && st.Rearmed == 0 {
			t.Errorf("no multishot request was ended by the kernel: the flood did not overflow the CQ")
		}
	})
}

// The kernel ends a multishot poll when it cannot post to a full CQ; the
// ring must re-arm it so that the registration keeps reporting.
func TestMultishotEndedByKernelIsRearmed(t *testing.T) {
	const n, cq = 40, 8
	r := newTestRing(t, n, WithCQEntries(cq))
	fds := make([]int, n)
	for i := range fds {
		fds[i] = fdtest.Eventfd(t)
		if err := r.Add(fds[i], epoll.In|epoll.Edge, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, fd := range fds {
		fdtest.Signal(t, fd)
	}
	time.Sleep(quiet) // let every wake-up post, or end its request
	got := waitN(t, r, n, arrive)
	if st := r.Stats(); st.Rearmed == 0 {
		t.Fatalf("no request ended with %d ready fds and %d CQ entries (stats %+v)", n, cq, st)
	}
	for _, fd := range fds {
		fdtest.Drain(fd)
	}
	for k := -1; k != 0; {
		var err error
		if k, err = r.Wait(make([]epoll.Event, 64), quiet); err != nil {
			t.Fatal(err)
		}
	}
	_ = got
	// Each registration, re-armed or not, reports a new change exactly once.
	for i, fd := range fds {
		fdtest.Signal(t, fd)
		evs := waitN(t, r, 1, arrive)
		if len(evs) != 1 || evs[0].Data() != uint64(i) {
			t.Fatalf("fd #%d after re-arm: events %v, want one with data %d", i, evs, i)
		}
		fdtest.Drain(fd)
	}
}

func TestOneShotReportsOnceUntilModifyRearms(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		r := newTestRing(t, 4, WithEngine(e))
		fd := fdtest.Eventfd(t)
		if err := r.Add(fd, epoll.In|epoll.Edge|epoll.OneShot, 1); err != nil {
			t.Fatal(err)
		}
		fdtest.Signal(t, fd)
		if got := waitN(t, r, 1, arrive); len(got) != 1 || got[0].Data() != 1 {
			t.Fatalf("first event: %v", got)
		}
		fdtest.Signal(t, fd)
		evs := make([]epoll.Event, 4)
		if n, _ := r.Wait(evs, quiet); n != 0 {
			t.Fatalf("disarmed OneShot reported %v", evs[:n])
		}
		// Re-armed while still readable: reported at once, with the new data.
		if err := r.Modify(fd, epoll.In|epoll.Edge|epoll.OneShot, 2); err != nil {
			t.Fatal(err)
		}
		if got := waitN(t, r, 1, arrive); len(got) != 1 || got[0].Data() != 2 {
			t.Fatalf("after Modify: %v, want one event with data 2", got)
		}
		if n, _ := r.Wait(evs, quiet); n != 0 {
			t.Fatalf("OneShot reported twice after re-arm: %v", evs[:n])
		}
	})
}

func TestModifyDropsQueuedEventsAndReportsNewData(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		r := newTestRing(t, 4, WithEngine(e))
		fd := fdtest.Eventfd(t)
		if err := r.Add(fd, epoll.In|epoll.Edge, 1); err != nil {
			t.Fatal(err)
		}
		fdtest.Signal(t, fd)
		time.Sleep(quiet) // the completion with data 1's tag is in the ring now
		if err := r.Modify(fd, epoll.In|epoll.Edge, 2); err != nil {
			t.Fatal(err)
		}
		got := waitN(t, r, 1, arrive)
		for _, ev := range got {
			if ev.Data() != 2 {
				t.Fatalf("event with data %d after Modify set 2", ev.Data())
			}
		}
		if len(got) != 1 {
			t.Fatalf("events %v, want the current readiness reported once", got)
		}
	})
}

func TestLevelTriggeredWithEpollWaitEngine(t *testing.T) {
	r := newTestRing(t, 4, WithEngine(EngineEpollWait))
	fd := fdtest.Eventfd(t)
	if err := r.Add(fd, epoll.In, 9); err != nil {
		t.Fatal(err)
	}
	fdtest.Signal(t, fd)
	for i := range 3 {
		if got := waitN(t, r, 1, arrive); len(got) != 1 || got[0].Data() != 9 {
			t.Fatalf("wait %d on a readable level-triggered fd: %v", i, got)
		}
	}
	fdtest.Drain(fd)
	evs := make([]epoll.Event, 4)
	// The batch fetched before the drain may still hold one report.
	r.Poll(evs)
	if n, _ := r.Wait(evs, quiet); n != 0 {
		t.Fatalf("drained fd still reported: %v", evs[:n])
	}
}

func TestExclusiveOnlyWithEpollWaitEngine(t *testing.T) {
	fd := fdtest.Eventfd(t)
	r := newTestRing(t, 4)
	if err := r.Add(fd, epoll.In|epoll.Exclusive, 0); !errors.Is(err, unix.EINVAL) {
		t.Errorf("multishot Add(Exclusive) = %v, want EINVAL", err)
	}
	re := newTestRing(t, 4, WithEngine(EngineEpollWait))
	if err := re.Add(fd, epoll.In|epoll.Exclusive, 0); err != nil {
		t.Errorf("epoll-wait Add(Exclusive) = %v", err)
	}
}

func TestCloseWhileWaitBlockedReturnsErrClosed(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		r := newTestRing(t, 4, WithEngine(e))
		fd := fdtest.Eventfd(t)
		if err := r.Add(fd, epoll.In, 0); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := r.Wait(make([]epoll.Event, 4), -1)
			done <- err
		}()
		time.Sleep(quiet) // let it block in io_uring_enter
		select {
		case err := <-done:
			t.Fatalf("Wait returned before Close: %v", err)
		default:
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if err := fdtest.Within(t, done, arrive, "a Wait blocked during Close"); !errors.Is(err, ErrClosed) {
			t.Fatalf("blocked Wait returned %v, want ErrClosed", err)
		}
	})
}

func TestCallsAfterCloseReturnErrClosed(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		r := newTestRing(t, 4, WithEngine(e))
		fd := fdtest.Eventfd(t)
		if err := r.Add(fd, epoll.In, 0); err != nil {
			t.Fatal(err)
		}
		fdtest.CloseTwice(t, r)
		evs := make([]epoll.Event, 4)
		for name, err := range map[string]error{
			"Add":    r.Add(fdtest.Eventfd(t), epoll.In, 0),
			"Modify": r.Modify(fd, epoll.In, 0),
			"Delete": r.Delete(fd),
			"Wait":   func() error { _, err := r.Wait(evs, 0); return err }(),
		} {
			if !errors.Is(err, ErrClosed) {
				t.Errorf("%s after Close = %v, want ErrClosed", name, err)
			}
		}
		if n := r.Poll(evs); n != 0 {
			t.Errorf("Poll after Close = %d", n)
		}
	})
}

func TestBadArgumentsFailWithNamedErrors(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		r := newTestRing(t, 4, WithEngine(e))
		fd := fdtest.Eventfd(t)
		file := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		devNull, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer devNull.Close()
		if err := r.Add(fd, epoll.In, 0); err != nil {
			t.Fatal(err)
		}
		// Opened last and nothing opened after it, so its number stays free.
		closedFd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(closedFd)
		cases := []struct {
			name string
			err  error
			want error
		}{
			{"Add negative fd", r.Add(-1, epoll.In, 0), unix.EBADF},
			{"Add unknown bits", r.Add(fd, epoll.Events(1<<20), 0), unix.EINVAL},
			{"Add twice", r.Add(fd, epoll.In, 0), unix.EEXIST},
			{"Add closed fd", r.Add(closedFd, epoll.In, 0), unix.EBADF},
			{"Add regular file", r.Add(int(f.Fd()), epoll.In, 0), epoll.ErrNotPollable},
			{"Add regular file errno", r.Add(int(f.Fd()), epoll.In, 0), unix.EPERM},
			{"Add /dev/null", r.Add(int(devNull.Fd()), epoll.In, 0), epoll.ErrNotPollable},
			{"Modify unknown fd", r.Modify(closedFd, epoll.In, 0), unix.ENOENT},
			{"Modify Exclusive", r.Modify(fd, epoll.In|epoll.Exclusive, 0), unix.EINVAL},
			{"Delete unknown fd", r.Delete(closedFd), unix.ENOENT},
			{"Delete negative fd", r.Delete(-5), unix.EBADF},
		}
		for _, c := range cases {
			if !errors.Is(c.err, c.want) {
				t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
			} else if !strings.Contains(c.err.Error(), "ring: ") && !strings.Contains(c.err.Error(), "epoll: ") {
				t.Errorf("%s: %q does not name the call", c.name, c.err)
			}
		}
		if r.Len() != 1 {
			t.Errorf("failed calls changed the interest set: Len = %d", r.Len())
		}
	})
}

func TestNewRejectsBadArguments(t *testing.T) {
	for name, err := range map[string]error{
		"maxItems 0":     func() error { _, err := New(0); return err }(),
		"maxItems huge":  func() error { _, err := New(MaxItems + 1); return err }(),
		"unknown engine": func() error { _, err := New(4, WithEngine(9)); return err }(),
		"negative CQ":    func() error { _, err := New(4, WithCQEntries(-1)); return err }(),
	} {
		if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "ring: New") {
			t.Errorf("%s: %v, want EINVAL naming ring: New", name, err)
		}
	}
}

func TestNewWithoutUringSaysWhyAndWrapsErrUnsupported(t *testing.T) {
	t.Cleanup(uring.ForceUnsupported())
	fdtest.Check(t)
	r, err := New(4)
	if err == nil {
		r.Close()
		t.Fatal("New succeeded with io_uring forced off")
	}
	if !errors.Is(err, errors.ErrUnsupported) || !errors.Is(err, uring.ErrUnsupported) {
		t.Errorf("error %v does not wrap errors.ErrUnsupported", err)
	}
	if !strings.Contains(err.Error(), "forced off") || !strings.Contains(err.Error(), "epoll.Instance") {
		t.Errorf("error %q does not say why and what to use instead", err)
	}
}

func TestTimedWaitNeverReturnsEarly(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		r := newTestRing(t, 4, WithEngine(e))
		fd := fdtest.Eventfd(t)
		if err := r.Add(fd, epoll.In, 0); err != nil {
			t.Fatal(err)
		}
		evs := make([]epoll.Event, 4)
		const d = 300 * time.Microsecond
		best := time.Hour
		for range 50 {
			start := time.Now()
			n, err := r.Wait(evs, d)
			took := time.Since(start)
			if n != 0 || err != nil {
				t.Fatalf("Wait on an idle fd = %d, %v", n, err)
			}
			if took < d {
				t.Fatalf("Wait(%v) returned after %v", d, took)
			}
			best = min(best, took)
		}
		if best > 100*time.Millisecond {
			t.Errorf("best of 50 waits of %v took %v", d, best)
		}
	})
}

func TestSpinningWaitReportsEventsAndWakesOnClose(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		r := newTestRing(t, 4, WithEngine(e), WithSpin(time.Millisecond))
		fd := fdtest.Eventfd(t)
		if err := r.Add(fd, epoll.In|epoll.Edge, 5); err != nil {
			t.Fatal(err)
		}
		go func() {
			time.Sleep(200 * time.Microsecond) // inside the spin, most likely
			unix.Write(fd, one)
		}()
		if got := waitN(t, r, 1, arrive); len(got) != 1 || got[0].Data() != 5 {
			t.Fatalf("events %v, want one with data 5", got)
		}
		done := make(chan error, 1)
		go func() {
			_, err := r.Wait(make([]epoll.Event, 4), -1)
			done <- err
		}()
		time.Sleep(quiet)
		r.Close()
		if err := fdtest.Within(t, done, arrive, "a Wait during Close"); !errors.Is(err, ErrClosed) {
			t.Fatalf("Wait = %v, want ErrClosed", err)
		}
	})
}

// Add, Modify and Delete from other goroutines while the consumer sleeps
// in Wait: each registration's events arrive, and -race sees no conflict.
func TestControlFromOtherGoroutinesWhileWaitSleeps(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		const n = 16
		r := newTestRing(t, n, WithEngine(e))
		fds := make([]int, n)
		for i := range fds {
			fds[i] = fdtest.Eventfd(t)
		}
		got := make(chan uint64, 4*n)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			evs := make([]epoll.Event, 8)
			for {
				k, err := r.Wait(evs, -1)
				if err != nil {
					return
				}
				for _, ev := range evs[:k] {
					select {
					case got <- ev.Data():
					case <-stop:
						return
					}
				}
			}
		}()
		var cw sync.WaitGroup
		for i, fd := range fds {
			cw.Add(1)
			go func() {
				defer cw.Done()
				if err := r.Add(fd, epoll.In|epoll.Edge, uint64(i)); err != nil {
					t.Error(err)
					return
				}
				if err := r.Modify(fd, epoll.In|epoll.Edge, uint64(100+i)); err != nil {
					t.Error(err)
				}
				fdtest.Signal(t, fd)
			}()
		}
		cw.Wait()
		seen := map[uint64]bool{}
		deadline := time.After(arrive)
		for len(seen) < n {
			select {
			case d := <-got:
				if d < 100 {
					t.Errorf("event with data %d from before Modify", d)
				}
				seen[d] = true
			case <-deadline:
				t.Fatalf("saw %d of %d registrations", len(seen), n)
			}
		}
		for _, fd := range fds {
			if err := r.Delete(fd); err != nil {
				t.Error(err)
			}
		}
		close(stop)
		r.Close()
		wg.Wait()
	})
}

// The kernel runs a poll request's completion work on the thread that
// submitted it. A goroutine that locks its thread and returns without
// unlocking makes the Go runtime end that thread: the registration it
// added must keep reporting all the same.
func TestRegistrationSurvivesExitOfSubmittingThread(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		r := newTestRing(t, 4, WithEngine(e))
		fd := fdtest.Eventfd(t)
		errc := make(chan error)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
			errc <- r.Add(fd, epoll.In|epoll.Edge, 3)
		}()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		time.Sleep(quiet) // let the thread exit
		for i := range 3 {
			fdtest.Signal(t, fd)
			if got := waitN(t, r, 1, arrive); len(got) != 1 || got[0].Data() != 3 {
				t.Fatalf("write %d after the submitting thread exited: events %v", i, got)
			}
		}
		t.Logf("stats %+v", r.Stats())
	})
}

// A multishot request cancelled by someone other than the ring ends with
// -ECANCELED under its current tag; the ring re-arms it, and the
// registration keeps reporting.
func TestMultishotCancelledUnderTheRingIsRearmed(t *testing.T) {
	r := newTestRing(t, 4)
	fd := fdtest.Eventfd(t)
	if err := r.Add(fd, epoll.In|epoll.Edge, 11); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	tok := r.byFd[int32(fd)]
	sqe := r.u.GetSQE()
	sqe.PrepAsyncCancel(uint64(tok), 0)
	sqe.UserData = tagRemove
	_, err := r.u.Submit()
	r.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	evs := make([]epoll.Event, 4)
	if n, err := r.Wait(evs, quiet); n != 0 || err != nil {
		t.Fatalf("Wait after the cancel = %d (%v), %v; want no event", n, evs[:n], err)
	}
	if st := r.Stats(); st.Rearmed != 1 {
		t.Fatalf("Rearmed = %d, want 1", st.Rearmed)
	}
	fdtest.Signal(t, fd)
	if got := waitN(t, r, 1, arrive); len(got) != 1 || got[0].Data() != 11 {
		t.Fatalf("after re-arm: %v, want one event with data 11", got)
	}
}
