package timeout

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness/harnesstest"
	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

func TestReportQuickNeverReturnsEarly(t *testing.T) {
	fdtest.Check(t)
	sec := harnesstest.Quick(t, Experiment)
	res := sec.Raw.(*result)
	for _, s := range res.Stats {
		if s.Mech == mechC {
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
	if s, ok := res.stat(mechEpollWait, 10*time.Microsecond); !ok || s.Min < 900*time.Microsecond {
		t.Errorf("epoll_wait (ms) for 10us: min overshoot %v, want about 1ms of rounding", s.Min)
	}
	if len(res.QEMU) != 3*len(qemuMechs) {
		t.Fatalf("QEMU loop: %d points, want %d", len(res.QEMU), 3*len(qemuMechs))
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
			if r.Ref != 0 || r.RefNote == "" || r.Target == nil || r.Target.Verdict != harness.NotJudged {
				t.Errorf("quick target row: ref %v, note %q, target %+v; want no C figure, a note saying why and the target not judged", r.Ref, r.RefNote, r.Target)
			}
		}
	}
	if !found {
		t.Error("no target row for Wait(100us)")
	}
}

func TestRunPrintsTable(t *testing.T) {
	harnesstest.Prints(t, Experiment, []string{"-req", "50us", "-samples", "5", "-mech", "ppoll,Wait (epoll_pwait2)", "-qemu-fds", "4", "-qemu-d", "50ms"},
		"timer slack", "ppoll", "Wait (epoll_pwait2)", "QEMU loop", "50µs")
}

func TestRunRejectsBadFlags(t *testing.T) {
	harnesstest.Refuses(t, Experiment,
		[]string{"-req", "0s"},
		[]string{"-req", "soon"},
		[]string{"-samples", "0"},
		[]string{"-rounds", "0"},
		[]string{"-mech", "sleep"},
		[]string{"-slack", "-1us"},
		[]string{"-qemu-fds", "x"},
		[]string{"-qemu-d", "0s"},
		[]string{"-req", "1h"},                        // 20 samples of an hour against a 2 s budget
		[]string{"-req", "2562047h", "-budget", "1h"}) // near the largest duration: must not overflow into a pass
}

// When the device's write fails the run fails with that error, and the
// error is read only after the device goroutine has stopped: once it was
// read while the goroutine could still be writing it, a data race the race
// detector reports here.
func TestQEMULoopReturnsTheDeviceFailure(t *testing.T) {
	fdtest.Check(t)
	l, err := newQEMULoop(4)
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
	_, err = l.run(mechWait, 50*time.Millisecond, 0)
	if !errors.Is(err, unix.EPIPE) || !strings.Contains(err.Error(), "device write") {
		t.Fatalf("run with a broken device: err = %v, want the device's EPIPE", err)
	}
}
