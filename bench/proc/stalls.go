package proc

import (
	"fmt"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// Stalls is what a thread that spins alone on one CPU saw of it: every gap
// between two consecutive reads of the clock longer than Over, time in
// which the thread did not run although it never gave up the CPU (an
// interrupt, a kernel thread, or on a virtual machine the hypervisor
// running something else). A latency percentile of a server on that CPU
// cannot resolve less than the gaps that fill that share of the time.
type Stalls struct {
	CPU    int           `json:"cpu"`
	Window time.Duration `json:"window_ns"`
	Over   time.Duration `json:"over_ns"` // the shortest gap counted
	Count  int           `json:"count"`
	Lost   time.Duration `json:"lost_ns"` // the gaps' sum
	Max    time.Duration `json:"max_ns"`
	// P99 is the 99th percentile of where the window's time went: 1 %
	// of the window lay in gaps at least this long (0 when the gaps
	// fill less than 1 %).
	P99 time.Duration `json:"p99_ns"`
}

// LostShare is the part of the window lost in gaps.
func (s Stalls) LostShare() float64 {
	if s.Window <= 0 {
		return 0
	}
	return float64(s.Lost) / float64(s.Window)
}

// String gives the CPU, the count, the share of the window lost, the
// longest gap and the p99, in a line.
func (s Stalls) String() string {
	p99 := "under 1% of the time in gaps"
	if s.P99 > 0 {
		p99 = fmt.Sprintf("1%% of the time in gaps of %v or more", s.P99.Round(time.Microsecond))
	}
	return fmt.Sprintf("CPU %d: %d gaps over %v in %v, %.2f%% of the time, the longest %v; %s",
		s.CPU, s.Count, s.Over, s.Window, 100*s.LostShare(), s.Max.Round(time.Microsecond), p99)
}

// MeasureStalls spins for window on a thread of its own pinned to cpu,
// reading the clock, and returns the gaps longer than over. The thread is
// given back to the runtime only by exiting: its affinity dies with it.
func MeasureStalls(cpu int, window, over time.Duration) (Stalls, error) {
	if window <= 0 || over <= 0 {
		return Stalls{}, fmt.Errorf("stalls: window %v, threshold %v: both must be positive", window, over)
	}
	type result struct {
		s   Stalls
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: the goroutine's end takes the pinned thread with it.
		runtime.LockOSThread()
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			done <- result{err: fmt.Errorf("stalls: sched_setaffinity CPU %d: %w", cpu, err)}
			return
		}
		done <- result{s: spin(cpu, window, over)}
	}()
	r := <-done
	return r.s, r.err
}

func spin(cpu int, window, over time.Duration) Stalls {
	s := Stalls{CPU: cpu, Window: window, Over: over}
	var gaps []time.Duration
	start := time.Now()
	last := start
	for {
		now := time.Now()
		if g := now.Sub(last); g > over {
			gaps = append(gaps, g)
			s.Count++
			s.Lost += g
			s.Max = max(s.Max, g)
		}
		last = now
		if now.Sub(start) >= window {
			break
		}
	}
	s.P99 = stallP99(gaps, window)
	return s
}

// stallP99 is the length L such that the gaps of at least L fill 1 % of
// the window: the time-weighted 99th percentile of where the time went.
func stallP99(gaps []time.Duration, window time.Duration) time.Duration {
	want := window / 100
	var sum time.Duration
	sorted := slices.Clone(gaps)
	slices.Sort(sorted)
	slices.Reverse(sorted) // longest first
	for _, g := range sorted {
		sum += g
		if sum >= want {
			return g
		}
	}
	return 0
}
