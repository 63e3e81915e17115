package main

import (
	"math"
	"sync/atomic"
	"time"
)

// perfStats computes what perf's util/stat.c prints: the mean, and the
// standard deviation of the mean (not of the sample) as a percentage of
// the mean, which is what "(+- x%)" means in perf's output.
func perfStats(xs []float64) (avg, relStddevPct float64) {
	n := float64(len(xs))
	if n == 0 {
		return 0, 0
	}
	var mean, m2 float64
	for i, x := range xs {
		d := x - mean
		mean += d / float64(i+1)
		m2 += d * (x - mean)
	}
	if n < 2 || mean == 0 {
		return mean, 0
	}
	stddevMean := math.Sqrt(m2 / (n - 1) / n)
	return mean, 100 * stddevMean / mean
}

// runClock ends a run. perf's main thread sleeps the runtime and raises a
// flag; in Go the sleeping goroutine needs a P to wake on time, and the
// workers may hold every P: pinned threads looping on raw system calls
// (epoll_ctl, nanosleep, a zero-timeout wait) give none back, so a
// time.Sleep of 5 s once ended 250 ms late and the run with it. Instead
// each worker reads the clock itself, every few operations, and the first to
// see the deadline stops them all; each worker's rate is its count over its
// own time from the common start to its stop.
type runClock struct {
	start, deadline time.Time
	done            atomic.Bool
}

func newRunClock(d time.Duration) *runClock {
	now := time.Now()
	return &runClock{start: now, deadline: now.Add(d)}
}

// expired reports whether the run is over, reading the clock only when
// check is true (a vDSO call, ~25 ns: the hottest loops ask every 16th
// operation).
func (c *runClock) expired(check bool) bool {
	if c.done.Load() {
		return true
	}
	if check && !time.Now().Before(c.deadline) {
		c.done.Store(true)
		return true
	}
	return false
}
