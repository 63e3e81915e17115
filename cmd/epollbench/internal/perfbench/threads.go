package perfbench

import (
	"fmt"
	"io"
	"time"
	"unsafe"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
)

// Thread is one worker thread of a run: its number, its map of eventfds,
// how long it ran, and what stopped it early.
type Thread struct {
	Tid     int
	Fdmap   []int
	Elapsed time.Duration
	Err     error
}

// Start runs threads, each on a goroutine of its own, as harness.Start
// does: prepare(i) first on each (pinning it, registering its
// descriptors), then, once all have, work(i, clock) until the clock of
// runtime runs out. Each thread's Err is the first error of the two; its
// Elapsed is its time from the clock's start to its stop. Start returns at
// once with the clock and a channel closed when every thread has returned.
func Start(threads []*Thread, runtime time.Duration, prepare func(i int) error, work func(i int, clock *harness.Clock) error) (*harness.Clock, <-chan struct{}) {
	return harness.Start(len(threads), runtime,
		func(i int) { threads[i].Err = prepare(i) },
		func(i int, clock *harness.Clock) {
			t := threads[i]
			if t.Err == nil {
				t.Err = work(i, clock)
			}
			t.Elapsed = time.Since(clock.Start)
		})
}

// Tally is a run's figures as perf prints them: each thread's operations
// per second over its own time, their mean and relative deviation, and the
// longest thread's time.
type Tally struct {
	Elapsed   float64   `json:"elapsed_s"`
	PerThread []float64 `json:"ops_per_s"`      // per thread
	Avg       float64   `json:"avg_ops_per_s"`  // mean of PerThread
	RelStddev float64   `json:"rel_stddev_pct"` // perf's "+- x%"
	fdmaps    [][]int
}

// Count records the next thread, t, which made ops operations.
func (ty *Tally) Count(t *Thread, ops uint64) {
	ty.Elapsed = max(ty.Elapsed, t.Elapsed.Seconds())
	ty.PerThread = append(ty.PerThread, float64(ops)/t.Elapsed.Seconds())
	ty.fdmaps = append(ty.fdmaps, t.Fdmap)
	ty.Avg, ty.RelStddev = harness.MeanRelStddev(ty.PerThread)
}

// PrintThreads writes perf's line per thread: its number, the addresses
// of its fdmap's first and last entries (only the first for a map of one),
// and counts(i, one) between perf's brackets, one telling a map of one.
func (ty *Tally) PrintThreads(w io.Writer, counts func(i int, one bool) string) {
	for i, m := range ty.fdmaps {
		if len(m) == 1 {
			fmt.Fprintf(w, "[thread %2d] fdmap: %p [ %s ]\n", i, unsafe.Pointer(&m[0]), counts(i, true))
		} else {
			fmt.Fprintf(w, "[thread %2d] fdmap: %p ... %p [ %s ]\n", i,
				unsafe.Pointer(&m[0]), unsafe.Pointer(&m[len(m)-1]), counts(i, false))
		}
	}
}
