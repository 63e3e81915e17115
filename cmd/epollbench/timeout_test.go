package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

func TestTimeoutReportQuickNeverReturnsEarly(t *testing.T) {
	fdtest.Check(t)
	sec, err := timeoutReport(reportOptions{Quick: true, Progress: pipetestQuietProgress(t)})
	if err != nil {
		t.Fatal(err)
	}
	pipetestCheckSection(t, sec, "timeout")
	res := sec.Raw.(*timeoutResult)
	for _, s := range res.Stats {
		if s.Mech == timeoutMechC {
			t.Errorf("quick run measured the C reference: the report's -quick builds no C")
		}
		if s.Samples == 0 {
			t.Errorf("%s %v: no samples (%s)", s.Mech, s.Request, s.Note)
			continue
		}
		// A timed wait never ends before its timeout: the one property of
		// every mechanism that holds however loaded the machine is.
		if s.Early != 0 || s.Min < 0 {
			t.Errorf("%s %v: %d of %d waits returned early (min overshoot %v)", s.Mech, s.Request, s.Early, s.Samples, s.Min)
		}
		if s.Median < s.Min || s.P99 < s.Median || s.Max < s.P99 {
			t.Errorf("%s %v: min %v median %v p99 %v max %v out of order", s.Mech, s.Request, s.Min, s.Median, s.P99, s.Max)
		}
	}
	// epoll_wait cannot wait less than a millisecond: that is the point.
	if s, ok := res.stat(timeoutMechEpollWait, 10*time.Microsecond); !ok || s.Min < 900*time.Microsecond {
		t.Errorf("epoll_wait (ms) for 10us: min overshoot %v, want about 1ms of rounding", s.Min)
	}
	if len(res.QEMU) != 3*len(timeoutQEMUMechs) {
		t.Fatalf("QEMU loop: %d points, want %d", len(res.QEMU), 3*len(timeoutQEMUMechs))
	}
	for _, p := range res.QEMU {
		if p.Requests == 0 || p.Timers == 0 || p.LatencyMin < 0 {
			t.Errorf("QEMU loop %s %d fds: %d requests, %d timers, min latency %v", p.Mech, p.Fds, p.Requests, p.Timers, p.LatencyMin)
		}
	}
	found := false
	for _, r := range sec.Rows {
		if strings.HasPrefix(r.Case, "target: Wait(100us)") {
			found = true
			if r.Ref != 0 || r.RefNote == "" {
				t.Errorf("quick target row: ref %v, note %q; want no C figure and a note saying why", r.Ref, r.RefNote)
			}
		}
	}
	if !found {
		t.Error("no target row for Wait(100us)")
	}
}

func TestTimeoutPercentileIsNearestRank(t *testing.T) {
	s := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5}, {0.99, 10}, {0.1, 1}, {0, 1}, {1, 10}} {
		if got := timeoutPercentile(s, c.q); got != c.want {
			t.Errorf("percentile %v = %v, want %v", c.q, got, c.want)
		}
	}
	if got := timeoutPercentile(nil, 0.5); got != 0 {
		t.Errorf("percentile of nothing = %v, want 0", got)
	}
}

func TestTimeoutRunPrintsTable(t *testing.T) {
	out, err := captureStdout(t, func() error {
		return timeoutRun([]string{"-req", "50us", "-samples", "5", "-mech", "ppoll,Wait (epoll_pwait2)", "-qemu-fds", "4", "-qemu-d", "50ms"})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"timer slack", "ppoll", "Wait (epoll_pwait2)", "QEMU loop", "50µs"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestTimeoutRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-req", "0s"},
		{"-req", "soon"},
		{"-samples", "0"},
		{"-rounds", "0"},
		{"-mech", "sleep"},
		{"-slack", "-1us"},
		{"-qemu-fds", "x"},
		{"-qemu-d", "0s"},
		{"-req", "1h"},                        // 20 samples of an hour against a 2 s budget
		{"-req", "2562047h", "-budget", "1h"}, // near the largest duration: must not overflow into a pass
	} {
		if err := timeoutRun(args); err == nil {
			t.Errorf("timeout %v: no error", args)
		}
	}
}

// When the device's write fails the run fails with that error, and the
// error is read only after the device goroutine has stopped: once it was
// read while the goroutine could still be writing it, a data race the race
// detector reports here.
func TestTimeoutQEMULoopReturnsTheDeviceFailure(t *testing.T) {
	fdtest.Check(t)
	l, err := newTimeoutQEMULoop(4)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	// The device writes into another pipe, which nobody can read: EPIPE.
	// The loop's pipe keeps its writer, so the loop sees no hang-up and
	// reads nothing (a read would order the two goroutines by itself).
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	unix.Close(p[0])
	writer := l.dev[1]
	defer unix.Close(writer)
	l.dev[1] = p[1] // closed by l.close
	_, err = l.run(timeoutMechWait, 50*time.Millisecond, 0)
	if !errors.Is(err, unix.EPIPE) || !strings.Contains(err.Error(), "device write") {
		t.Fatalf("run with a broken device: err = %v, want the device's EPIPE", err)
	}
}
