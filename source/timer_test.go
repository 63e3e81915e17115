package source

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

func newTimer(t testing.TB, c Clock) *Timer {
	t.Helper()
	return fdtest.New(t, func() (*Timer, error) { return NewTimer(c) })
}

func TestTimerExpiryIsReportedByEpollOnEveryClock(t *testing.T) {
	fdtest.Check(t)
	onEveryClock(t, 7, func(t *testing.T, c Clock, ep *epoll.Instance, tm *Timer) {
		if _, err := tm.Expirations(); !errors.Is(err, unix.EAGAIN) {
			t.Fatalf("unarmed timer: Expirations = %v, want EAGAIN", err)
		}
		start := time.Now()
		if err := tm.Arm(5*time.Millisecond, 0); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, ep, 7, 5*time.Second)
		if el := time.Since(start); el < 5*time.Millisecond {
			t.Fatalf("fired after %v, before its 5ms", el)
		}
		n, err := tm.Expirations()
		if err != nil || n != 1 {
			t.Fatalf("Expirations = %d, %v; want 1", n, err)
		}
		_, err = tm.Expirations()
		wantAgain(t, "second Expirations", err)
		expectNoEvent(t, ep)
	})
}

func TestTimerDescriptorIsNonblockingAndCloexec(t *testing.T) {
	tm := newTimer(t, Monotonic)
	nb, ce := fdFlags(t, tm.Fd())
	if !nb || !ce {
		t.Fatalf("timerfd nonblock=%v cloexec=%v, want both", nb, ce)
	}
}

func TestPeriodicTimerCountsMissedTicks(t *testing.T) {
	tm := newTimer(t, Monotonic)
	const period = time.Millisecond
	armStart := time.Now()
	if err := tm.Arm(period, period); err != nil {
		t.Fatal(err)
	}
	armed := time.Now()
	time.Sleep(30 * time.Millisecond)
	lo := time.Since(armed) // the kernel's elapsed time at the read is at least this
	n, err := tm.Expirations()
	hi := time.Since(armStart) // and at most this
	if err != nil {
		t.Fatal(err)
	}
	// Expirations at period, 2*period, ...: floor(elapsed/period) of them.
	min, max := uint64(lo/period), uint64(hi/period)
	if n < min || n > max {
		t.Fatalf("Expirations = %d after %v..%v of a %v period: want %d..%d (no tick lost, none invented)", n, lo, hi, period, min, max)
	}
	t.Logf("%d expirations counted while nobody read for %v", n, lo)
}

// TestTimerNeverFiresEarly arms 1,000 one-shot 100 us timers in turn and
// checks each against the kernel's own clock: the wait never ends before
// the expiry. It reports the lateness; the ceiling is generous, for a
// loaded 2-core machine under -race.
func TestTimerNeverFiresEarly(t *testing.T) {
	ep := newInstance(t)
	tm := newTimer(t, Monotonic)
	watch(t, ep, tm, 1)
	const d = 100 * time.Microsecond
	const runs = 1000
	late := make([]time.Duration, 0, runs)
	for i := 0; i < runs; i++ {
		start, err := Monotonic.Now()
		if err != nil {
			t.Fatal(err)
		}
		if err := tm.Arm(d, 0); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, ep, 1, 10*time.Second)
		end, _ := Monotonic.Now()
		if n, err := tm.Expirations(); err != nil || n != 1 {
			t.Fatalf("run %d: Expirations = %d, %v", i, n, err)
		}
		if end-start < d {
			t.Fatalf("run %d: timer of %v reported after %v: early", i, d, end-start)
		}
		late = append(late, end-start-d)
	}
	p50, p99 := fdtest.Percentile(late, 0.5), fdtest.Percentile(late, 0.99)
	t.Logf("%d one-shot %v timers: lateness median %v, p99 %v, max %v", runs, d, p50, p99, fdtest.Percentile(late, 1))
	if p50 > 20*time.Millisecond {
		t.Fatalf("median lateness %v exceeds the generous ceiling of 20ms", p50)
	}
}

func TestTimerAbsoluteFiresNotBeforeItsTime(t *testing.T) {
	onEveryClock(t, 3, func(t *testing.T, c Clock, ep *epoll.Instance, tm *Timer) {
		now, err := c.Now()
		if err != nil {
			t.Fatal(err)
		}
		at := now + 3*time.Millisecond
		if err := tm.ArmAbsolute(at, 0); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, ep, 3, 5*time.Second)
		if after, _ := c.Now(); after < at {
			t.Fatalf("fired at %v on %v, before %v", after, c, at)
		}
		if n, err := tm.Expirations(); err != nil || n != 1 {
			t.Fatalf("Expirations = %d, %v", n, err)
		}
	})
}

func TestTimerArmAtConvertsDeadlineToTheTimersClock(t *testing.T) {
	onEveryClock(t, 4, func(t *testing.T, c Clock, ep *epoll.Instance, tm *Timer) {
		deadline := time.Now().Add(4 * time.Millisecond)
		if err := tm.ArmAt(deadline, 0); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, ep, 4, 5*time.Second)
		if now := time.Now(); now.Before(deadline) {
			t.Fatalf("fired %v before the deadline", deadline.Sub(now))
		}
		// A deadline in the past fires at once.
		if err := tm.ArmAt(time.Now().Add(-time.Hour), 0); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, ep, 4, 5*time.Second)
	})
}

func TestTimerStopDisarmsAndDiscardsExpirations(t *testing.T) {
	ep := newInstance(t)
	tm := newTimer(t, Monotonic)
	watch(t, ep, tm, 1)
	if err := tm.Arm(time.Millisecond, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	next, iv, err := tm.Remaining()
	if err != nil || next <= 0 || next > time.Millisecond || iv != time.Millisecond {
		t.Fatalf("Remaining = %v, %v, %v; want (0,1ms], 1ms", next, iv, err)
	}
	time.Sleep(5 * time.Millisecond)
	if err := tm.Stop(); err != nil {
		t.Fatal(err)
	}
	expectNoEvent(t, ep)
	_, err = tm.Expirations()
	wantAgain(t, "Expirations after Stop", err)
	if next, iv, _ := tm.Remaining(); next != 0 || iv != 0 {
		t.Fatalf("Remaining after Stop = %v, %v; want 0, 0", next, iv)
	}
}

func TestTimerRejectsInvalidArgumentsWithoutLeaking(t *testing.T) {
	fdtest.Check(t)
	for _, c := range []Clock{-1, 2 /* CLOCK_PROCESS_CPUTIME_ID */, 4 /* MONOTONIC_RAW */, 99} {
		tm, err := NewTimer(c)
		if tm != nil {
			t.Fatalf("NewTimer(%v) returned a timer", c)
		}
		wantCallError(t, err, unix.EINVAL, "timerfd_create")
		if _, err := c.Now(); !errors.Is(err, unix.EINVAL) {
			t.Fatalf("Clock(%d).Now() = %v, want EINVAL", c, err)
		}
	}
	tm := newTimer(t, Monotonic)
	cases := []struct {
		name     string
		arm      func() error
		contains string
	}{
		{"negative interval", func() error { return tm.Arm(time.Millisecond, -1) }, "negative interval"},
		{"negative initial", func() error { return tm.Arm(-time.Millisecond, 0) }, "negative initial"},
		{"zero initial", func() error { return tm.Arm(0, time.Millisecond) }, "disarm"},
		{"zero absolute", func() error { return tm.ArmAbsolute(0, 0) }, "disarm"},
		{"negative absolute", func() error { return tm.ArmAbsolute(-5, 0) }, "negative absolute"},
	}
	for _, c := range cases {
		err := c.arm()
		wantCallError(t, err, unix.EINVAL, "timerfd_settime")
		wantCallError(t, err, unix.EINVAL, c.contains)
	}
}

// TestTimerRealtimeAbsoluteReportsClockStep steps the wall clock, so it runs
// only as root with EVENTPOLL_CLOCK_TESTS=1 (CI runs it alone).
func TestTimerRealtimeAbsoluteReportsClockStep(t *testing.T) {
	if os.Getenv("EVENTPOLL_CLOCK_TESTS") != "1" {
		t.Skip("steps the system clock: set EVENTPOLL_CLOCK_TESTS=1 and run as root, alone")
	}
	ep := newInstance(t)
	tm := newTimer(t, Realtime)
	watch(t, ep, tm, 9)
	if err := tm.ArmAt(time.Now().Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	expectNoEvent(t, ep)
	// Step the clock by +1ms and back, net zero.
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_REALTIME, &ts)
	ts = unix.NsecToTimespec(ts.Nano() + int64(time.Millisecond))
	if err := unix.ClockSettime(unix.CLOCK_REALTIME, &ts); err != nil {
		t.Skipf("cannot set CLOCK_REALTIME: %v", err)
	}
	unix.ClockGettime(unix.CLOCK_REALTIME, &ts)
	ts = unix.NsecToTimespec(ts.Nano() - int64(time.Millisecond))
	unix.ClockSettime(unix.CLOCK_REALTIME, &ts)
	waitEvent(t, ep, 9, 5*time.Second)
	_, err := tm.Expirations()
	if !errors.Is(err, ErrClockChanged) || !errors.Is(err, unix.ECANCELED) {
		t.Fatalf("Expirations after a clock step = %v, want ErrClockChanged (ECANCELED)", err)
	}
	_, err = tm.Expirations()
	wantAgain(t, "Expirations after the step was reported", err)
}

func TestTimerCallsAfterCloseReturnErrClosed(t *testing.T) {
	tm, err := NewTimer(Monotonic)
	if err != nil {
		t.Fatal(err)
	}
	fdtest.CloseTwice(t, tm)
	if err := tm.Arm(time.Second, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Arm after Close = %v", err)
	}
	if _, err := tm.Expirations(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Expirations after Close = %v", err)
	}
	if err := tm.Stop(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Stop after Close = %v", err)
	}
}

func TestTimerDrainAllocatesNothing(t *testing.T) {
	tm := newTimer(t, Monotonic)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := tm.Expirations(); err == nil {
			t.Fatal("unarmed timer had expirations")
		}
	})
	if allocs != 0 {
		t.Fatalf("Expirations to EAGAIN allocates %v times per call", allocs)
	}
}

// onEveryClock runs f as a subtest per clock with a new timer on it,
// registered in a new instance with data.
func onEveryClock(t *testing.T, data uint64, f func(t *testing.T, c Clock, ep *epoll.Instance, tm *Timer)) {
	for _, c := range []Clock{Monotonic, Realtime, Boottime} {
		t.Run(c.String(), func(t *testing.T) {
			ep := newInstance(t)
			tm := newTimer(t, c)
			watch(t, ep, tm, data)
			f(t, c, ep, tm)
		})
	}
}

// twoCenturies is less than what is left of the kernel's range on every
// clock (its end is the year 2262 on Realtime, ~292 years of uptime on the
// others) and far more than any wrapped-around time could leave.
const twoCenturies = 200 * 365 * 24 * time.Hour

// expectNoEventWithin fails if ep reports anything within d.
func expectNoEventWithin(t testing.TB, ep *epoll.Instance, d time.Duration, what string) {
	t.Helper()
	evs := make([]epoll.Event, 1)
	if n, err := ep.Wait(evs, d); err != nil || n != 0 {
		t.Fatalf("%s: Wait = %d, %v; want no event within %v", what, n, err, d)
	}
}

// TestTimerFarDeadlineNeverFiresOnEveryClock arms deadlines past the
// kernel's range (the year 2600, 9999, 100000) and the largest durations:
// each saturates to the end of the range instead of wrapping into the past,
// so the timer stays armed for centuries and does not fire, on every clock.
func TestTimerFarDeadlineNeverFiresOnEveryClock(t *testing.T) {
	onEveryClock(t, 1, func(t *testing.T, c Clock, ep *epoll.Instance, tm *Timer) {
		arms := []struct {
			name string
			arm  func() error
		}{
			{"ArmAt(2600)", func() error { return tm.ArmAt(time.Date(2600, 1, 1, 0, 0, 0, 0, time.UTC), 0) }},
			{"ArmAt(9999)", func() error { return tm.ArmAt(time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), time.Second) }},
			{"ArmAt(100000)", func() error { return tm.ArmAt(time.Date(100000, 1, 1, 0, 0, 0, 0, time.UTC), 0) }},
			{"Arm(max, 0)", func() error { return tm.Arm(maxDuration, 0) }},
			{"Arm(max, max)", func() error { return tm.Arm(maxDuration, maxDuration) }},
			{"ArmAbsolute(max, 0)", func() error { return tm.ArmAbsolute(maxDuration, 0) }},
		}
		for _, a := range arms {
			if err := a.arm(); err != nil {
				t.Fatalf("%s: %v", a.name, err)
			}
			if next, _, err := tm.Remaining(); err != nil || next < twoCenturies {
				t.Fatalf("%s: Remaining = %v, %v; want the end of the kernel's range, centuries away", a.name, next, err)
			}
			expectNoEventWithin(t, ep, 20*time.Millisecond, a.name)
			_, err := tm.Expirations()
			wantAgain(t, a.name+": Expirations", err)
		}
	})
}

// TestTimerPastDeadlineFiresAtOnceOnEveryClock arms deadlines in the past,
// down to the zero time.Time and times before 1970: each fires at once with
// one expiration on every clock, never an EINVAL on one clock where another
// fires.
func TestTimerPastDeadlineFiresAtOnceOnEveryClock(t *testing.T) {
	past := map[string]time.Time{
		"zero time":   {},
		"1960":        time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC),
		"year -5000":  time.Date(-5000, 1, 1, 0, 0, 0, 0, time.UTC),
		"1970":        time.Unix(0, 0),
		"1970+1ns":    time.Unix(0, 1),
		"an hour ago": time.Now().Add(-time.Hour),
	}
	onEveryClock(t, 2, func(t *testing.T, c Clock, ep *epoll.Instance, tm *Timer) {
		for name, deadline := range past {
			if err := tm.ArmAt(deadline, 0); err != nil {
				t.Fatalf("ArmAt(%s): %v", name, err)
			}
			waitEvent(t, ep, 2, 5*time.Second)
			if n, err := tm.Expirations(); err != nil || n != 1 {
				t.Fatalf("ArmAt(%s): Expirations = %d, %v; want 1", name, n, err)
			}
		}
	})
}

// TestTimerHugeIntervalFiresOnceThenPracticallyNever: a period of the
// largest Duration saturates in the kernel; the first expiry comes, the next
// is centuries away.
func TestTimerHugeIntervalFiresOnceThenPracticallyNever(t *testing.T) {
	onEveryClock(t, 3, func(t *testing.T, c Clock, ep *epoll.Instance, tm *Timer) {
		if err := tm.Arm(time.Millisecond, maxDuration); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, ep, 3, 5*time.Second)
		if n, err := tm.Expirations(); err != nil || n != 1 {
			t.Fatalf("Expirations = %d, %v; want 1", n, err)
		}
		next, iv, err := tm.Remaining()
		if err != nil || next < twoCenturies || iv != maxDuration {
			t.Fatalf("Remaining = %v, %v, %v; want the next expiry centuries away and the interval kept", next, iv, err)
		}
		expectNoEventWithin(t, ep, 20*time.Millisecond, "after the first expiry")
	})
}
