package proc

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestStallP99IsWhereTheLastPercentOfTheTimeWent(t *testing.T) {
	ms := time.Millisecond
	// 1 s window: 1 % is 10 ms. Gaps 8 ms + 3 ms reach it at the 3 ms gap.
	if got := stallP99([]time.Duration{ms / 10, 3 * ms, 8 * ms, ms}, time.Second); got != 3*ms {
		t.Errorf("p99 %v, want 3ms", got)
	}
	// Gaps summing under 1 %: no p99 stall.
	if got := stallP99([]time.Duration{ms, 2 * ms}, time.Second); got != 0 {
		t.Errorf("p99 %v with 3 ms of gaps in 1 s, want 0", got)
	}
}

func TestMeasureStallsSeesAThreadSharingTheCPU(t *testing.T) {
	cpus, err := CPUs()
	if err != nil {
		t.Fatal(err)
	}
	cpu := cpus[len(cpus)-1]
	// A second thread spins on the same CPU: the scheduler shares it
	// between the two, and the measuring thread loses about half the
	// window in gaps of the scheduler's slices.
	var stop atomic.Bool
	ready := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		var set unix.CPUSet
		set.Set(cpu)
		ready <- unix.SchedSetaffinity(0, &set)
		for !stop.Load() {
		}
	}()
	if err := <-ready; err != nil {
		stop.Store(true)
		t.Fatal(err)
	}
	s, err := MeasureStalls(cpu, 300*time.Millisecond, 50*time.Microsecond)
	stop.Store(true)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(s)
	if s.Window != 300*time.Millisecond || s.Count == 0 || s.LostShare() < 0.2 || s.Max < 500*time.Microsecond || s.P99 < s.Over {
		t.Fatalf("%v, p99 %v: a thread spinning on the same CPU should cost a fifth of the window or more, in gaps of a scheduler slice", s, s.P99)
	}
}

func TestMeasureStallsRefusesBadArguments(t *testing.T) {
	for _, c := range [][2]time.Duration{{0, time.Microsecond}, {time.Millisecond, 0}, {-1, -1}} {
		if _, err := MeasureStalls(0, c[0], c[1]); err == nil {
			t.Errorf("window %v, threshold %v: accepted", c[0], c[1])
		}
	}
	if _, err := MeasureStalls(1<<20, time.Millisecond, time.Microsecond); err == nil {
		t.Error("a CPU past the set's size: accepted")
	}
}
