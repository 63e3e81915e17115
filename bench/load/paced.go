package load

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Paced is the open-loop generator: Conns connections share an offered
// Rate of requests (echo messages of Size bytes, or HTTP GETs of
// plaintext.Path on keep-alive connections) per second, sent at fixed
// times whether or not earlier replies have come back, so that every
// server is measured at the same load.
//
// The schedule: request j of the run (j = 0, 1, 2, ...) is due at
// start + j/Rate and goes to connection j mod Conns as that connection's
// request j div Conns. Each connection sends Rate/Conns a second, the
// connections evenly staggered; the schedule covers the warm-up and the
// measured window, and the requests due in the window are the ones
// measured. A request goes out at its due time with whatever of its
// connection's requests are still unanswered before it (echo messages
// back to back, HTTP/1.1 pipelining).
//
// Latency runs from a request's due time, not from its write, to its
// reply's last byte: a server that stalls is charged for every request
// that fell due during the stall, as a client arriving then would see it,
// not only for the one request each connection had in flight (the
// coordinated omission of a closed loop). Replies to requests due in the
// window are waited for after the window ends, up to the grace. Every echo
// byte and every response is verified as the closed-loop generators do.
//
// The generator is a goroutine that drives every connection from one epoll
// instance (or, with Threads, a few such goroutines, each with a block of
// the connections and an instance of its own): sockets it opens and makes
// non-blocking itself (the runtime's poller never sees them), a timerfd in
// the same instance for the next due time (a kernel hrtimer: no Go timer,
// no millisecond rounding of a poll timeout), and a loop that allocates
// nothing, so neither the Go scheduler nor a garbage collection of the
// generator's comes between a due time and its write, or between a reply
// and its timing. How late each write went out after its due time is
// measured (Result.Paced.Lateness): latency below the generator's own
// lateness is not resolved.
type Paced struct {
	Addr  string
	App   string // "echo" or "http"
	Conns int
	Size  int     // echo: bytes per message, at least EchoHeader
	Rate  float64 // requests per second offered, over all connections
	// Spin makes the generator poll (epoll_wait with a zero timeout)
	// instead of sleeping until the next due time or reply: no timer, and
	// no wake-up of a sleeping thread (tens of microseconds on a virtual
	// machine) between a due time and its write or a reply and its
	// timing. It keeps a CPU busy for the whole run: for a generator with
	// CPUs of its own, never one that shares the server's.
	Spin bool
	// Threads is how many goroutines share the connections, each with
	// a block of them in an epoll instance of its own, for a generator
	// with that many CPUs: 0 means 1, and more than Conns means Conns.
	Threads int
	Timing
}

// Pacing is what an open-loop run adds to its Result: the schedule it
// kept, how well the generator kept it, and whether the server kept up.
type Pacing struct {
	Offered float64 // requests per second asked for
	Due     int64   // requests due in the window: all sent and all answered
	// Lateness is how long after its due time each request due in the
	// window was written: the generator's own floor.
	Lateness *Histogram
	// Outstanding is the requests due before the window's end that were
	// not answered by then.
	Outstanding int64
	// Overloaded says why the server did not keep up with the offered
	// rate, "" when it did: its percentiles then describe a queue that
	// grows with the window's length, not the server at that load.
	Overloaded string
}

// The rules for keeping up. A server that answers less than minKeptUp of
// the offered rate in the window, or that ends the window more than
// behindLimit behind the schedule, did not keep up.
const minKeptUp = 0.97

// behindLimit is how far behind the schedule a server may end the window
// (its outstanding requests over the offered rate) and still count as
// keeping up: a twentieth of the window, and at least 10 ms, far above the
// Rate × latency of requests in flight that a server keeping up has.
func behindLimit(window time.Duration) time.Duration {
	return max(window/20, 10*time.Millisecond)
}

// maxPacedWrite bounds one write of a writer that is behind: the rest goes
// in the next.
const maxPacedWrite = 64 << 10

func (p Paced) validate() error {
	switch {
	case p.App != "echo" && p.App != "http":
		return fmt.Errorf("paced: no app %q", p.App)
	case p.Conns < 1:
		return fmt.Errorf("paced: %d connections", p.Conns)
	case p.App == "echo" && (p.Size < EchoHeader || p.Size > maxEchoBatch):
		return fmt.Errorf("paced: echo message size %d outside %d..%d", p.Size, EchoHeader, maxEchoBatch)
	case !(p.Rate > 0) || math.IsInf(p.Rate, 0):
		return fmt.Errorf("paced: rate %v", p.Rate)
	case p.Duration <= 0:
		return fmt.Errorf("paced: duration %v", p.Duration)
	case p.Threads < 0:
		return fmt.Errorf("paced: %d threads", p.Threads)
	}
	return nil
}

// Run opens the connections, sends on the schedule for the warm-up and the
// measured duration, waits for the replies of the requests due in the
// window, and closes the connections. The error names the first reply that
// is wrong, or the server's failure to answer within the grace.
func (p Paced) Run(ctx context.Context) (*Result, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	return drive(ctx, p, 0)
}

// schedule is when each request is due.
type schedule struct {
	start    time.Time
	rate     float64
	conns    int
	total    int       // requests due before the window's end
	from, to time.Time // the measured window
}

func newSchedule(start time.Time, rate float64, conns int, tm Timing) *schedule {
	sc := &schedule{start: start, rate: rate, conns: conns,
		from: start.Add(tm.Warmup), to: start.Add(tm.Warmup + tm.Duration)}
	sc.total = int(math.Ceil((tm.Warmup + tm.Duration).Seconds() * rate))
	for sc.total > 0 && !sc.at(sc.total-1).Before(sc.to) {
		sc.total--
	}
	for sc.at(sc.total).Before(sc.to) {
		sc.total++
	}
	return sc
}

// at is when request j of the run is due.
func (sc *schedule) at(j int) time.Time {
	return sc.start.Add(time.Duration(float64(j) * 1e9 / sc.rate))
}

// due is when connection c's request k is due.
func (sc *schedule) due(c, k int) time.Time { return sc.at(k*sc.conns + c) }

// count is how many requests connection c sends.
func (sc *schedule) count(c int) int {
	n := sc.total / sc.conns
	if c < sc.total%sc.conns {
		n++
	}
	return n
}

func (sc *schedule) inWindow(t time.Time) bool { return !t.Before(sc.from) && t.Before(sc.to) }

// overload applies the rules for keeping up; "" when the server kept up.
func overload(achieved, offered float64, outstanding int64, window time.Duration) string {
	behind := time.Duration(float64(outstanding) / offered * 1e9)
	switch {
	case achieved < minKeptUp*offered:
		return fmt.Sprintf("answered %.0f/s of the %.0f/s offered (%.1f%%, below %.0f%%)",
			achieved, offered, 100*achieved/offered, 100*minKeptUp)
	case behind > behindLimit(window):
		return fmt.Sprintf("%d requests unanswered at the window's end, %v of the offered rate (more than %v)",
			outstanding, behind.Round(time.Microsecond), behindLimit(window))
	}
	return ""
}
