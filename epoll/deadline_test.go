package epoll

import (
	"errors"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// threadCPU returns the CPU time the calling thread has used.
func threadCPU() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// waitIdly runs wait on a thread of its own while efd is made readable
// after 150 ms, and reports its results and how much CPU the thread used:
// a wait that sleeps uses next to none, one that spins uses the whole time.
func waitIdly(t *testing.T, efd int, wait func() (int, error)) (cpu time.Duration, n int, err error) {
	t.Helper()
	type result struct {
		n   int
		err error
		cpu time.Duration
	}
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		start := threadCPU()
		n, err := wait()
		res <- result{n, err, threadCPU() - start}
	}()
	time.Sleep(150 * time.Millisecond)
	fdtest.Signal(t, efd)
	r := <-res
	fdtest.Drain(efd)
	return r.cpu, r.n, r.err
}

// farDeadlines are beyond what an int64 of nanoseconds since 1970 holds
// (the year 2262), where a conversion through UnixNano wraps.
var farDeadlines = []time.Time{
	time.Date(2263, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(2600, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	time.Unix(1<<62, 0),
}

// TestFarDeadlineWaitsWithoutSpinning: a deadline past 2262 means wait
// (practically) forever on either clock: the wait sleeps until an event
// comes, neither failing nor returning at once nor spinning.
func TestFarDeadlineWaitsWithoutSpinning(t *testing.T) {
	ep, efd := watching(t, In, 4)
	evs := make([]Event, 2)
	for _, c := range []Clock{Monotonic, Realtime} {
		for _, dl := range farDeadlines {
			cpu, n, err := waitIdly(t, efd, func() (int, error) { return ep.WaitDeadline(evs, dl, c) })
			if n != 1 || err != nil || evs[0].Data() != 4 {
				t.Errorf("%v deadline %v = %d, %v; want the event that came after 150 ms", c, dl, n, err)
			}
			if cpu > 50*time.Millisecond {
				t.Errorf("%v deadline %v: the waiting thread used %v of CPU in 150 ms: it spun", c, dl, cpu)
			}
		}
	}
}

// TestHugeTimeoutWaitsWithoutSpinning: Wait's timeout may be any Duration,
// math.MaxInt64 included, with either system call; Close still ends it.
func TestHugeTimeoutWaitsWithoutSpinning(t *testing.T) {
	for _, opts := range [][]Option{nil, {WithMillisecondWait()}} {
		ep := newInstance(t, opts...)
		efd := fdtest.Eventfd(t)
		if err := ep.Add(efd, In, 4); err != nil {
			t.Fatal(err)
		}
		evs := make([]Event, 2)
		for _, d := range []time.Duration{math.MaxInt64, math.MaxInt64 - 1, math.MaxInt32 * time.Millisecond} {
			cpu, n, err := waitIdly(t, efd, func() (int, error) { return ep.Wait(evs, d) })
			if n != 1 || err != nil || evs[0].Data() != 4 {
				t.Errorf("Wait(%d) (%d options) = %d, %v; want the event that came after 150 ms", d, len(opts), n, err)
			}
			if cpu > 50*time.Millisecond {
				t.Errorf("Wait(%d): the waiting thread used %v of CPU in 150 ms", d, cpu)
			}
		}
		res := make(chan error, 1)
		go func() { _, err := ep.Wait(evs, math.MaxInt64); res <- err }()
		for ep.blocked.Load() == 0 {
			time.Sleep(100 * time.Microsecond)
		}
		ep.Close()
		if err := <-res; !errors.Is(err, ErrClosed) {
			t.Errorf("Close during Wait(MaxInt64) = %v, want ErrClosed", err)
		}
	}
}

// TestPastDeadlinePollsOnEveryClock: a deadline at or before now polls, on
// both clocks alike, for the zero Time and times before 1970 too; Boottime
// and unknown clocks are refused with EINVAL.
func TestPastDeadlinePollsOnEveryClock(t *testing.T) {
	ep, efd := watching(t, In, 1)
	evs := make([]Event, 1)
	past := []time.Time{{}, time.Unix(-1, 0), time.Unix(-1<<40, 0), time.Unix(0, 0), time.Now().Add(-time.Hour)}
	for _, c := range []Clock{Monotonic, Realtime} {
		for _, dl := range past {
			start := time.Now()
			if n, err := ep.WaitDeadline(evs, dl, c); n != 0 || err != nil {
				t.Errorf("%v: past deadline %v, nothing ready = %d, %v; want 0, nil", c, dl, n, err)
			}
			fdtest.Signal(t, efd)
			if n, err := ep.WaitDeadline(evs, dl, c); n != 1 || err != nil {
				t.Errorf("%v: past deadline %v, one ready = %d, %v; want 1, nil", c, dl, n, err)
			}
			fdtest.Drain(efd)
			if el := time.Since(start); el > time.Second {
				t.Errorf("%v: past deadline %v blocked for %v", c, dl, el)
			}
		}
	}
	for _, c := range []Clock{Boottime, Clock(99)} {
		if _, err := ep.WaitDeadline(evs, time.Now(), c); !errors.Is(err, unix.EINVAL) {
			t.Errorf("WaitDeadline on %v = %v, want EINVAL", c, err)
		}
	}
}
