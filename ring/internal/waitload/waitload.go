// Package waitload is the workload of `perf bench epoll wait`, in Go, with
// a choice of consumer: one writer goroutine writes 1 into every eventfd in
// turn, sleeping with nanosleep(2) between rounds as the C benchmark does;
// each consumer waits for an event on its own set of eventfds and then
// reads the eventfd (one read(2) per event, part of the workload in C too).
//
// Consumers:
//
//	ring        ring.Ring, EngineMultishot, Wait with a batch of events
//	ring-epoll  ring.Ring, EngineEpollWait
//	epoll       epoll.Instance.Wait with one event per call, level-triggered,
//	            as the C benchmark calls epoll_wait
package waitload

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/ring"
	"golang.org/x/sys/unix"
)

// Config describes one run.
type Config struct {
	Consumer string        // "ring", "ring-epoll" or "epoll"
	Threads  int           // consumers, each with its own instance (perf's --multiq)
	Fds      int           // eventfds per consumer
	Duration time.Duration // stop after this long, or
	Ops      int64         // after this many operations (whichever is set)
	Sleep    time.Duration // writer's nanosleep between rounds; perf uses 500ns
	Batch    int           // events per Wait for the ring consumers
	Spin     time.Duration // ring.WithSpin for the ring consumers
	Lock     bool          // consumers call runtime.LockOSThread
	CQ       int           // ring.WithCQEntries for the ring consumers (0: default)
}

// Result is what a run did. An operation is an event followed by a read
// that returned data, as in the C benchmark.
type Result struct {
	Ops       int64 // events whose read returned data
	Events    int64 // events delivered (Ops + Empty)
	Empty     int64 // events whose read found the counter already drained (EAGAIN)
	Writes    int64
	Elapsed   time.Duration
	RingStats ring.Stats // summed over the ring consumers
}

// OpsPerSec returns the total throughput.
func (r Result) OpsPerSec() float64 { return float64(r.Ops) / r.Elapsed.Seconds() }

type waiter interface {
	Add(fd int, ev epoll.Events, data uint64) error
	Wait(evs []epoll.Event, timeout time.Duration) (int, error)
	Close() error
}

// Run runs the workload and returns its counts.
func Run(c Config) (res Result, err error) {
	if c.Threads < 1 || c.Fds < 1 {
		return res, errors.New("waitload: Threads and Fds must be positive")
	}
	if c.Batch < 1 {
		c.Batch = 64
	}
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	ws := make([]waiter, c.Threads)
	rings := make([]*ring.Ring, 0, c.Threads)
	perThread := make([][]int, c.Threads)
	for i := range ws {
		switch c.Consumer {
		case "ring", "ring-epoll":
			e := ring.EngineMultishot
			if c.Consumer == "ring-epoll" {
				e = ring.EngineEpollWait
			}
			var opts []ring.Option
			opts = append(opts, ring.WithEngine(e))
			if c.CQ > 0 {
				opts = append(opts, ring.WithCQEntries(c.CQ))
			}
			if c.Spin > 0 {
				opts = append(opts, ring.WithSpin(c.Spin))
			}
			r, err := ring.New(c.Fds, opts...)
			if err != nil {
				return res, err
			}
			ws[i] = r
			rings = append(rings, r)
		case "epoll":
			ep, err := epoll.New()
			if err != nil {
				return res, err
			}
			ws[i] = ep
		default:
			return res, fmt.Errorf("waitload: unknown consumer %q", c.Consumer)
		}
		defer ws[i].Close()
		for range c.Fds {
			fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
			if err != nil {
				return res, err
			}
			fds = append(fds, fd)
			perThread[i] = append(perThread[i], fd)
		}
	}
	ev := epoll.In // level-triggered, as perf's default
	if c.Consumer == "ring" {
		ev |= epoll.Edge
	}
	// Each consumer registers its own fds, from its own goroutine, as an
	// event loop does: io_uring runs a poll request's completion work on
	// the thread that submitted it, and that should be the consumer's.
	ready := make(chan error, len(ws))
	register := func(i int) {
		for _, fd := range perThread[i] {
			if err := ws[i].Add(fd, ev, uint64(fd)); err != nil {
				ready <- err
				return
			}
		}
		ready <- nil
	}

	var ops, events, empty, writes atomic.Int64
	var stop atomic.Bool
	done := make(chan struct{})
	var once sync.Once
	finish := func() { once.Do(func() { stop.Store(true); close(done) }) }
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.Lock {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
			}
			register(i)
			if c.Consumer == "epoll" {
				consumeOne(w, &stop, &ops, &events, c.Ops, finish)
			} else {
				consumeBatch(w, c.Batch, &ops, &events, &empty, c.Ops, finish)
			}
		}()
	}
	for range ws {
		if err := <-ready; err != nil {
			finish()
			for _, w := range ws {
				w.Close()
			}
			wg.Wait()
			return res, err
		}
	}
	start := time.Now()
	var wwg sync.WaitGroup
	wwg.Add(1)
	go func() {
		defer wwg.Done()
		val := []byte{1, 0, 0, 0, 0, 0, 0, 0}
		ts := unix.NsecToTimespec(int64(c.Sleep))
		n := int64(0)
		for !stop.Load() {
			for _, fd := range fds {
				for {
					_, err := unix.Write(fd, val)
					if err != unix.EAGAIN || stop.Load() {
						break
					}
				}
			}
			n += int64(len(fds))
			if c.Sleep > 0 {
				unix.Nanosleep(&ts, nil)
			}
		}
		writes.Store(n)
	}()
	if c.Duration > 0 {
		select {
		case <-time.After(c.Duration):
		case <-done:
		}
	} else {
		<-done
	}
	finish()
	res.Elapsed = time.Since(start)
	wwg.Wait()
	// Closing wakes consumers blocked in Wait with ErrClosed: the ring's
	// Close-while-waiting guarantee is what ends the run.
	for _, r := range rings {
		st := r.Stats()
		res.RingStats.Rearmed += st.Rearmed
		res.RingStats.Stale += st.Stale
		res.RingStats.Submits += st.Submits
		res.RingStats.Waits += st.Waits
		res.RingStats.Delivered += st.Delivered
	}
	for _, w := range ws {
		w.Close()
	}
	wg.Wait()
	res.Ops, res.Events, res.Empty, res.Writes = ops.Load(), events.Load(), empty.Load(), writes.Load()
	return res, nil
}

// consumeOne is perf's worker: epoll_wait for one event, then read until
// the read returns data.
func consumeOne(w waiter, stop *atomic.Bool, ops, events *atomic.Int64, limit int64, finish func()) {
	evs := make([]epoll.Event, 1)
	var b [8]byte
	var local int64
	defer func() { ops.Add(local); events.Add(local) }()
	for {
		n, err := w.Wait(evs, -1)
		if err != nil {
			return
		}
		if n == 0 {
			continue
		}
		fd := int(evs[0].Data())
		for {
			_, err := unix.Read(fd, b[:])
			if err != unix.EAGAIN || stop.Load() {
				break
			}
		}
		local++
		if limit > 0 && local&1023 == 0 && ops.Add(local) >= limit {
			events.Add(local)
			local = 0
			finish()
		} else if limit > 0 && local&1023 == 0 {
			events.Add(local)
			local = 0
		}
	}
}

// consumeBatch takes a batch of events per Wait and reads each eventfd.
// An edge-triggered event can find the counter already drained (two writes,
// two completions, one read took both): that read is counted as empty, not
// as an operation, and not retried.
func consumeBatch(w waiter, batch int, ops, events, empty *atomic.Int64, limit int64, finish func()) {
	evs := make([]epoll.Event, batch)
	var b [8]byte
	var lops, lev, lempty int64
	defer func() { ops.Add(lops); events.Add(lev); empty.Add(lempty) }()
	for {
		n, err := w.Wait(evs, -1)
		if err != nil {
			return
		}
		lev += int64(n)
		for _, ev := range evs[:n] {
			if _, err := unix.Read(int(ev.Data()), b[:]); err == nil {
				lops++
			} else {
				lempty++
			}
		}
		if limit > 0 && lops >= 1024 {
			total := ops.Add(lops)
			events.Add(lev)
			empty.Add(lempty)
			lops, lev, lempty = 0, 0, 0
			if total >= limit {
				finish()
			}
		}
	}
}
