package harness

import (
	"sync"
	"sync/atomic"
	"time"
)

// Clock ends a run of worker threads. perf's main thread sleeps the
// runtime and raises a flag; in Go the sleeping goroutine needs a P to wake
// on time, and the workers may hold every P: pinned threads looping on raw
// system calls (epoll_ctl, nanosleep, a zero-timeout wait) give none back,
// so a time.Sleep of 5 s once ended 250 ms late and the run with it.
// Instead each worker reads the clock itself, every few operations, and the
// first to see the deadline stops them all; each worker's rate is its count
// over its own time from Start to its stop.
type Clock struct {
	Start, Deadline time.Time
	done            atomic.Bool
}

// NewClock starts a run of d.
func NewClock(d time.Duration) *Clock {
	now := time.Now()
	return &Clock{Start: now, Deadline: now.Add(d)}
}

// Expired reports whether the run is over, reading the clock only when
// check is true (a vDSO call, ~25 ns: the hottest loops ask every 16th
// operation).
func (c *Clock) Expired(check bool) bool {
	if c.done.Load() {
		return true
	}
	if check && !time.Now().Before(c.Deadline) {
		c.done.Store(true)
		return true
	}
	return false
}

// Stop ends the run now.
func (c *Clock) Stop() { c.done.Store(true) }

// Start runs n workers, each on a goroutine of its own: each runs
// prepare(i) (pinning its thread, registering its descriptors, say), and
// once every one has, a Clock of d starts and each runs work(i, clock), so
// that no worker's setup falls into another's measured time. Start returns
// at once with the clock and a channel closed when every worker has
// returned.
func Start(n int, d time.Duration, prepare func(i int), work func(i int, clock *Clock)) (*Clock, <-chan struct{}) {
	var ready, wg sync.WaitGroup
	start := make(chan struct{})
	var clock *Clock
	ready.Add(n)
	wg.Add(n)
	for i := range n {
		go func() {
			defer wg.Done()
			prepare(i)
			ready.Done()
			<-start
			work(i, clock)
		}()
	}
	ready.Wait()
	clock = NewClock(d)
	close(start)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return clock, done
}
