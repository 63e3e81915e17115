package epoll

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

func TestEmptyEventSliceIsAnErrorNotAHang(t *testing.T) {
	ep := newInstance(t)
	for name, f := range map[string]func() (int, error){
		"Wait":                   func() (int, error) { return ep.Wait(nil, -1) },
		"PWait":                  func() (int, error) { return ep.PWait([]Event{}, -1, nil) },
		"WaitDeadline Monotonic": func() (int, error) { return ep.WaitDeadline(nil, time.Now().Add(time.Hour), Monotonic) },
		"WaitDeadline Realtime":  func() (int, error) { return ep.WaitDeadline(nil, time.Now().Add(time.Hour), Realtime) },
		"WaitContext":            func() (int, error) { return ep.WaitContext(context.Background(), nil) },
	} {
		done := make(chan error, 1)
		go func() { _, err := f(); done <- err }()
		if err := fdtest.Within(t, done, 5*time.Second, name+"(empty)"); !errors.Is(err, unix.EINVAL) {
			t.Errorf("%s(empty) = %v, want EINVAL", name, err)
		}
	}
}

// measureWaits times n empty waits of d on a fresh instance.
func measureWaits(t *testing.T, ep *Instance, d time.Duration, n int) []time.Duration {
	evs := make([]Event, 1)
	out := make([]time.Duration, n)
	for i := range out {
		start := time.Now()
		got, err := ep.Wait(evs, d)
		out[i] = time.Since(start)
		if err != nil || got != 0 {
			t.Fatalf("empty Wait(%v) = %d, %v", d, got, err)
		}
	}
	return out
}

// The precision test in the style of smol-rs/polling's tests/precision.rs:
// a timed wait never returns before its timeout, and its best case lands
// close to it. Medians depend on the machine's load and are only logged.
func TestWaitNeverReturnsEarlyAndBestIsClose(t *testing.T) {
	for _, d := range []time.Duration{100 * time.Microsecond, time.Millisecond, 3100 * time.Microsecond} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			ep := newInstance(t)
			got := measureWaits(t, ep, d, 1000)
			early := 0
			for _, g := range got {
				if g < d {
					early++
				}
			}
			best := fdtest.Percentile(got, 0)
			t.Logf("Wait(%v) x1000: best %v, median %v, p99 %v", d, best, fdtest.Percentile(got, 0.5), fdtest.Percentile(got, 0.99))
			if early > 0 {
				t.Errorf("%d of 1000 waits of %v returned early (best %v)", early, d, best)
			}
			if best-d > 500*time.Microsecond {
				t.Errorf("best wait of %v overshot by %v, want within 500us", d, best-d)
			}
		})
	}
}

// The millisecond fallback rounds up: a 100 us request becomes a 1 ms wait,
// never a 0 ms poll, so it too never returns early.
func TestMillisecondFallbackNeverReturnsEarly(t *testing.T) {
	ep := newInstance(t, WithMillisecondWait())
	for _, d := range []time.Duration{100 * time.Microsecond, 1500 * time.Microsecond} {
		got := measureWaits(t, ep, d, 200)
		floor := (d + time.Millisecond - 1) / time.Millisecond * time.Millisecond
		short := 0
		for i, g := range got {
			if g < d {
				t.Fatalf("wait %d of %v returned early, after %v", i, d, g)
			}
			if g < floor {
				short++
			}
		}
		// A wait interrupted by a signal (the runtime's SIGURG) after the
		// requested time has passed rightly returns then, before the
		// rounded-up millisecond; every other wait lasts the whole of it.
		// Rounding down would make nearly all of them short.
		if short > len(got)/10 {
			t.Errorf("%d of %d waits of %v ended before %v: the fallback did not round up", short, len(got), d, floor)
		}
		t.Logf("ms fallback Wait(%v) x200: best %v, median %v", d, fdtest.Percentile(got, 0), fdtest.Percentile(got, 0.5))
	}
}

func TestWaitBlocksUntilEvent(t *testing.T) {
	ep, efd := watching(t, In, 5)
	fdtest.SignalAfter(t, efd, 20*time.Millisecond)
	start := time.Now()
	got := waitN(t, ep, -1)
	if len(got) != 1 || got[0].Data() != 5 {
		t.Fatalf("Wait(-1) = %v", got)
	}
	if el := time.Since(start); el < 15*time.Millisecond {
		t.Errorf("Wait(-1) returned after %v, before the event was written", el)
	}
}

// A signal that interrupts the wait restarts it with the time that remains:
// the caller sees neither EINTR nor a short wait.
func TestWaitRetriesEINTRWithRemainingTime(t *testing.T) {
	ep := newInstance(t)
	tidc := make(chan int)
	res := make(chan error, 1)
	var elapsed time.Duration
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tidc <- unix.Gettid()
		evs := make([]Event, 1)
		start := time.Now()
		n, err := ep.Wait(evs, 100*time.Millisecond)
		elapsed = time.Since(start)
		if err == nil && n != 0 {
			err = fmt.Errorf("got %d events from an empty instance", n)
		}
		res <- err
	}()
	tid := <-tidc
	for i := 0; i < 8; i++ {
		time.Sleep(5 * time.Millisecond)
		unix.Tgkill(os.Getpid(), tid, unix.SIGURG) // the runtime's own preemption signal
	}
	if err := <-res; err != nil {
		t.Fatalf("Wait interrupted by signals = %v, want 0, nil", err)
	}
	if elapsed < 100*time.Millisecond {
		t.Fatalf("Wait(100ms) interrupted by signals returned after %v", elapsed)
	}
}

// sigBlk reads the blocked-signal mask of thread tid.
func sigBlk(t *testing.T, tid int) uint64 {
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "SigBlk:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	t.Fatal("no SigBlk line")
	return 0
}

// PWait applies its mask for the duration of the wait only, as
// epoll_pwait2's sigmask does: visible in the thread's SigBlk while it is
// blocked, gone after.
func TestPWaitAppliesMaskOnlyDuringWait(t *testing.T) {
	ep, efd := watching(t, In, 0)
	const bit = 1 << (unix.SIGUSR2 - 1)
	var mask unix.Sigset_t
	mask.Val[0] = bit
	tidc := make(chan int)
	after := make(chan uint64, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid := unix.Gettid()
		if sigBlk(t, tid)&bit != 0 {
			t.Error("SIGUSR2 blocked before PWait began")
		}
		tidc <- tid
		evs := make([]Event, 1)
		if _, err := ep.PWait(evs, 5*time.Second, &mask); err != nil {
			t.Error(err)
		}
		after <- sigBlk(t, tid)
	}()
	tid := <-tidc
	var during uint64
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if during = sigBlk(t, tid); during&bit != 0 {
			break
		}
	}
	fdtest.Signal(t, efd)
	if during&bit == 0 {
		t.Errorf("SigBlk of the waiting thread never showed SIGUSR2 blocked: %#x", during)
	}
	if a := <-after; a&bit != 0 {
		t.Errorf("SIGUSR2 still blocked after PWait returned: %#x", a)
	}
}

func TestWaitDeadlineMonotonicNeverEarly(t *testing.T) {
	ep := newInstance(t)
	evs := make([]Event, 1)
	for _, d := range []time.Duration{200 * time.Microsecond, 2 * time.Millisecond} {
		for i := 0; i < 50; i++ {
			deadline := time.Now().Add(d)
			n, err := ep.WaitDeadline(evs, deadline, Monotonic)
			if err != nil || n != 0 {
				t.Fatalf("WaitDeadline = %d, %v", n, err)
			}
			if now := time.Now(); now.Before(deadline) {
				t.Fatalf("Monotonic deadline %v: returned %v early", d, deadline.Sub(now))
			}
		}
	}
}

func TestWaitDeadlineRealtimeEndsAtWallClockInstant(t *testing.T) {
	ep := newInstance(t)
	evs := make([]Event, 1)
	for _, d := range []time.Duration{300 * time.Microsecond, 3 * time.Millisecond, 20 * time.Millisecond} {
		for i := 0; i < 20; i++ {
			deadline := time.Now().Round(0).Add(d) // wall clock only
			n, err := ep.WaitDeadline(evs, deadline, Realtime)
			if err != nil || n != 0 {
				t.Fatalf("WaitDeadline = %d, %v", n, err)
			}
			if now := time.Now().Round(0); now.Before(deadline) {
				t.Fatalf("Realtime deadline %v: returned %v early", d, deadline.Sub(now))
			}
		}
	}
}

func TestWaitDeadlineReturnsEventsBeforeDeadline(t *testing.T) {
	for _, c := range []Clock{Monotonic, Realtime} {
		ep, efd := watching(t, In, 3)
		fdtest.SignalAfter(t, efd, 10*time.Millisecond)
		evs := make([]Event, 2)
		start := time.Now()
		n, err := ep.WaitDeadline(evs, time.Now().Add(10*time.Second), c)
		if err != nil || n != 1 || evs[0].Data() != 3 {
			t.Fatalf("%v: WaitDeadline = %d, %v, %v", c, n, err, evs[:n])
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Fatalf("%v: event took %v to be reported", c, el)
		}
	}
}

// Stepping the wall clock forward past a Realtime deadline ends the wait
// then, not after the interval that remained when the wait began. It steps
// the system clock (and steps it back), so it runs only when asked:
// EVENTPOLL_CLOCK_TESTS=1 as root (.ci/run does, alone).
func TestWaitDeadlineRealtimeFollowsClockStep(t *testing.T) {
	if os.Getenv("EVENTPOLL_CLOCK_TESTS") != "1" {
		t.Skip("steps the system clock; set EVENTPOLL_CLOCK_TESTS=1 to run")
	}
	waitThroughClockStep(t, newInstance(t))
}

// waitThroughClockStep waits 5 s on the wall clock and steps the clock 4 s
// forward a moment later: the wait must end about 1 s after it began, and
// not before the wall clock reached the deadline.
func waitThroughClockStep(t *testing.T, ep *Instance) {
	const step = 4 * time.Second
	deadline := time.Now().Round(0).Add(5 * time.Second)
	res := make(chan error, 1)
	var waited time.Duration
	go func() {
		evs := make([]Event, 1)
		start := time.Now()
		_, err := ep.WaitDeadline(evs, deadline, Realtime)
		waited = time.Since(start) // monotonic: unaffected by the step
		res <- err
	}()
	time.Sleep(100 * time.Millisecond)
	stepClock(t, step)
	defer stepClock(t, -step)
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	// Without following the step the wait would last 5 s of elapsed time;
	// following it, about 1 s. A loaded machine may add some.
	if waited > 3*time.Second {
		t.Fatalf("after the wall clock stepped %v forward, the wait lasted %v: it did not follow the clock", step, waited)
	}
	if time.Now().Round(0).Before(deadline) {
		t.Fatal("returned before the wall clock reached the deadline")
	}
	t.Logf("wait of 5 s with a %v step lasted %v", step, waited)
}

func stepClock(t *testing.T, d time.Duration) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &ts); err != nil {
		t.Fatal(err)
	}
	ts = unix.NsecToTimespec(ts.Nano() + int64(d))
	if err := unix.ClockSettime(unix.CLOCK_REALTIME, &ts); err != nil {
		t.Skipf("cannot step the clock: %v", err)
	}
}
