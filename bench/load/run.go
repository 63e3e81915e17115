// Package load drives the servers of this module: closed-loop generators for
// echo and HTTP that verify every byte they get back, an open-loop one
// (Paced) that sends at a fixed offered rate, an idle-connection
// holder for memory measurements, a connection-rate generator, a
// correctness check run before anything is timed, and a runner for wrk as a
// cross-check. Each generator runs for a bounded time and reports throughput
// and latency percentiles from a Histogram.
//
// Closed loop: a connection sends a batch (one message or request, or Depth
// of them pipelined), waits for every reply, verifies it, and only then sends
// the next. A reply that differs from what the server must send ends the run
// at once with an error saying which connection, which message and which
// byte: no server is measured doing less than the others. A closed loop
// runs each server at its own rate; Paced runs every server at the same
// rate, so that their latencies compare at the same load.
package load

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Result is what one generator run measured.
type Result struct {
	Conns  int
	Ops    int64         // messages echoed or responses received in the window
	Bytes  int64         // payload bytes of those ops, received
	Window time.Duration // the measured time: after the warm-up, until sending stopped
	// Latency of the ops in the window, from the write of the op's batch
	// to the op's last byte; nil for wrk, which reports P50/P99 only.
	Latency *Histogram
	P50     time.Duration
	P99     time.Duration
	P999    time.Duration // 0 when the generator cannot tell (wrk)
	// Paced is the open-loop run's schedule and whether the server kept
	// up; nil for the closed-loop generators. In an open-loop run, Ops
	// are the replies received in the window (Rate is the achieved
	// rate) and Latency runs from each request's due time.
	Paced *Pacing
}

// Rate returns ops per second in the window.
func (r *Result) Rate() float64 {
	if r.Window <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Window.Seconds()
}

func (r *Result) summarize() {
	if r.Latency != nil {
		r.P50, r.P99, r.P999 = r.Latency.Quantile(0.5), r.Latency.Quantile(0.99), r.Latency.Quantile(0.999)
	}
}

// Timing bounds a run: Warmup runs unmeasured, then Duration is measured.
// A reply still missing Grace after the end (10 s when zero) fails the run:
// the server stalled.
type Timing struct {
	Warmup   time.Duration
	Duration time.Duration
	Grace    time.Duration
	// Probe, when set, is called twice: as the measured window opens
	// and as it closes, from a goroutine of its own woken by a timer, so
	// a little after each. A run that ends without failing returns after
	// both calls have returned; a failed run calls it no more. The
	// driver reads the server's CPU time with it.
	Probe func()
}

// probe calls tm.Probe at from and at to. The function it returns waits
// for those calls to have been made, or, when the run failed, for the
// one being made to return.
func (tm Timing) probe(from, to time.Time) (wait func(failed bool)) {
	if tm.Probe == nil {
		return func(bool) {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for _, at := range []time.Time{from, to} {
			t := time.NewTimer(time.Until(at))
			select {
			case <-t.C:
			case <-quit:
				t.Stop()
				return
			}
			tm.Probe()
		}
	}()
	return func(failed bool) {
		if failed {
			close(quit)
		}
		<-done
	}
}

func (tm Timing) grace() time.Duration {
	if tm.Grace > 0 {
		return tm.Grace
	}
	return 10 * time.Second
}

// recorder is one connection's tally.
type recorder struct {
	from, to time.Time // the measured window
	hist     Histogram
	ops      int64
	bytes    int64
}

// done counts one op sent at sent and completed at now, if now falls in the
// window.
func (r *recorder) done(sent, now time.Time, bytes int) {
	if now.Before(r.from) || now.After(r.to) {
		return
	}
	r.ops++
	r.bytes += int64(bytes)
	r.hist.Record(now.Sub(sent))
}

// session runs one worker per connection, all started together after every
// connection is open, and stops them all at the first failure.
type session struct {
	conns   []net.Conn
	failed  atomic.Bool
	errOnce sync.Once
	err     error
}

// fail records the first error and closes every connection, so the other
// workers return at once; their errors, caused by the closing, are dropped.
func (s *session) fail(err error) {
	s.errOnce.Do(func() {
		s.err = err
		s.failed.Store(true)
		for _, c := range s.conns {
			c.Close()
		}
	})
}

// measure runs work on every connection for the given timing and merges
// what they recorded. work loops until its recorder's window has passed.
func (s *session) measure(ctx context.Context, tm Timing, work func(i int, c net.Conn, r *recorder) error) (*Result, error) {
	start := time.Now()
	recs := make([]recorder, len(s.conns))
	for i := range recs {
		recs[i].from, recs[i].to = start.Add(tm.Warmup), start.Add(tm.Warmup+tm.Duration)
	}
	end := start.Add(tm.Warmup + tm.Duration)
	probed := tm.probe(start.Add(tm.Warmup), end)
	watchdog := time.AfterFunc(time.Until(end)+tm.grace(), func() {
		s.fail(fmt.Errorf("server stalled: replies still missing %v after the run's end", tm.grace()))
	})
	defer watchdog.Stop()
	stop := context.AfterFunc(ctx, func() { s.fail(ctx.Err()) })
	defer stop()

	var wg sync.WaitGroup
	for i, c := range s.conns {
		wg.Go(func() {
			if err := work(i, c, &recs[i]); err != nil && !s.failed.Load() {
				s.fail(err)
			}
		})
	}
	wg.Wait()
	probed(s.err != nil)
	if s.err != nil {
		return nil, s.err
	}
	res := &Result{Conns: len(s.conns), Window: tm.Duration, Latency: new(Histogram)}
	for i := range recs {
		res.Ops += recs[i].ops
		res.Bytes += recs[i].bytes
		res.Latency.Merge(&recs[i].hist)
	}
	res.summarize()
	return res, nil
}

// close resets every connection: a reset leaves no TIME_WAIT behind, so the
// thousands of connections a benchmark opens and closes cannot exhaust the
// loopback's ephemeral ports.
func (s *session) close() {
	for _, c := range s.conns {
		reset(c)
	}
}

// reset closes c with SO_LINGER 0: the kernel sends RST and keeps no
// TIME_WAIT state.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// dialConcurrency bounds the connections being opened at once, so the
// listen backlog (net.core.somaxconn) is never overrun.
const dialConcurrency = 64

// dialAll opens n connections to addr, first calling init on each (for a
// first request), with at most dialConcurrency in flight.
func dialAll(ctx context.Context, addr string, n int, init func(i int, c net.Conn) error) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	errs := make([]error, n)
	sem := make(chan struct{}, dialConcurrency)
	var wg sync.WaitGroup
	d := net.Dialer{Timeout: 10 * time.Second}
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				errs[i] = fmt.Errorf("dial %s (connection %d of %d): %w", addr, i, n, err)
				return
			}
			conns[i] = c
			if init != nil {
				errs[i] = init(i, c)
			}
		})
	}
	wg.Wait()
	if err := firstError(errs); err != nil {
		for _, c := range conns {
			if c != nil {
				reset(c)
			}
		}
		return nil, err
	}
	return conns, nil
}

func firstError(errs []error) error {
	n := 0
	var first error
	for _, err := range errs {
		if err != nil {
			if first == nil {
				first = err
			}
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("%w (and %d more connections failed)", first, n-1)
	}
	return first
}

// checkQuiet fails if the server sent anything after the last reply the
// generator asked for: a server that answers twice is caught here if not
// before.
func checkQuiet(c net.Conn, wait time.Duration) error {
	c.SetReadDeadline(time.Now().Add(wait))
	var b [1]byte
	n, err := c.Read(b[:])
	c.SetReadDeadline(time.Time{})
	if n > 0 {
		return fmt.Errorf("server sent bytes nobody asked for (first 0x%02x) after the last reply", b[0])
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	return fmt.Errorf("connection ended after the last reply: %v", err)
}
