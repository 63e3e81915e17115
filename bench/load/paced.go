package load

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventpoll/eventpoll/bench/plaintext"
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
// The pacer is one goroutine that sleeps on a timerfd until the next
// request is due, then hands every request due by then to its
// connection's writer goroutine, which writes them in one write: no Go
// timer per send. How late each write went out after its due time is
// measured (Result.Paced.Lateness): latency below the generator's own
// lateness is not resolved.
type Paced struct {
	Addr  string
	App   string // "echo" or "http"
	Conns int
	Size  int     // echo: bytes per message, at least EchoHeader
	Rate  float64 // requests per second offered, over all connections
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
	a, err := newAlarm()
	if err != nil {
		return nil, err
	}
	defer a.close()
	conns, err := dialAll(ctx, p.Addr, p.Conns, nil)
	if err != nil {
		return nil, err
	}
	s := &session{conns: conns}
	defer s.close()
	return p.run(ctx, s, a)
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

// pacedConn is one connection of a paced run. The pacer, the writer and
// the reader share only due and wake; the rest is the writer's (late) or
// the reader's.
type pacedConn struct {
	id   int
	c    net.Conn
	n    int          // requests in the schedule
	due  atomic.Int64 // requests due so far, set by the pacer
	wake chan struct{}

	late Histogram // writer: how late the window's requests went out

	hist     Histogram // reader: latency of the window's requests
	ops      int64     // replies received in the window
	bytes    int64
	answered int64 // replies received by the window's end
}

func (p Paced) run(ctx context.Context, s *session, a *alarm) (*Result, error) {
	pcs := make([]*pacedConn, len(s.conns))
	for i, c := range s.conns {
		pcs[i] = &pacedConn{id: i, c: c, wake: make(chan struct{}, 1)}
	}
	sc := newSchedule(time.Now(), p.Rate, len(pcs), p.Timing)
	for _, pc := range pcs {
		pc.n = sc.count(pc.id)
	}
	watchdog := time.AfterFunc(time.Until(sc.to)+p.grace(), func() {
		s.fail(fmt.Errorf("server stalled: replies still missing %v after the run's end", p.grace()))
	})
	defer watchdog.Stop()
	stopCtx := context.AfterFunc(ctx, func() { s.fail(ctx.Err()) })
	defer stopCtx()

	probed := p.probe(sc.from, sc.to)
	paced := make(chan struct{}) // closed when the pacer is done: every due count is final
	var wg sync.WaitGroup
	report := func(err error) {
		if err != nil && !s.failed.Load() {
			s.fail(err)
		}
	}
	wg.Go(func() {
		defer close(paced)
		report(pace(sc, pcs, a, s))
	})
	for _, pc := range pcs {
		wg.Go(func() { report(p.write(pc, sc, paced, s)) })
		wg.Go(func() { report(p.read(pc, sc)) })
	}
	wg.Wait()
	watchdog.Stop()
	s.errOnce.Do(func() {}) // a failure being recorded now is complete
	probed(s.err != nil)
	if s.err != nil {
		return nil, s.err
	}
	res := &Result{Conns: len(pcs), Window: p.Duration, Latency: new(Histogram),
		Paced: &Pacing{Offered: p.Rate, Lateness: new(Histogram)}}
	for _, pc := range pcs {
		res.Ops += pc.ops
		res.Bytes += pc.bytes
		res.Latency.Merge(&pc.hist)
		res.Paced.Lateness.Merge(&pc.late)
		res.Paced.Outstanding += int64(pc.n) - pc.answered
	}
	res.Paced.Due = int64(res.Latency.Count())
	res.summarize()
	res.Paced.Overloaded = overload(res.Rate(), p.Rate, res.Paced.Outstanding, p.Duration)
	return res, nil
}

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

// pace makes requests due on the schedule: it sleeps until the next one is
// due, then wakes the writer of every request due by then. Requests that
// fell due while it slept late go out together.
func pace(sc *schedule, pcs []*pacedConn, a *alarm, s *session) error {
	woken := make([]*pacedConn, 0, len(pcs))
	for j := 0; j < sc.total; {
		now := time.Now()
		for ; j < sc.total && !sc.at(j).After(now); j++ {
			pc := pcs[j%len(pcs)]
			pc.due.Store(int64(j/len(pcs) + 1))
			woken = append(woken, pc)
		}
		for _, pc := range woken {
			select {
			case pc.wake <- struct{}{}:
			default: // already woken: it reads due after this store
			}
		}
		woken = woken[:0]
		if j == sc.total || s.failed.Load() {
			return nil
		}
		if err := a.sleep(time.Until(sc.at(j))); err != nil {
			return err
		}
	}
	return nil
}

// write sends the connection's requests as the pacer makes them due.
func (p Paced) write(pc *pacedConn, sc *schedule, paced <-chan struct{}, s *session) error {
	var pattern, req []byte
	if p.App == "echo" {
		pattern = make([]byte, p.Size)
		fillPattern(pattern, uint32(pc.id))
	} else {
		req = []byte(request(p.Addr, plaintext.Path))
	}
	buf := make([]byte, 0, max(maxPacedWrite, p.Size))
	for sent := 0; sent < pc.n; {
		done := false
		select {
		case <-pc.wake:
		case <-paced:
			done = true
		}
		if s.failed.Load() {
			return nil
		}
		due := int(pc.due.Load())
		for sent < due {
			now := time.Now()
			buf = buf[:0]
			for ; sent < due && (len(buf) == 0 || len(buf)+len(req)+len(pattern) <= cap(buf)); sent++ {
				if pattern != nil {
					buf = append(buf, pattern...)
					stamp(buf[len(buf)-len(pattern):], uint32(pc.id), uint64(sent))
				} else {
					buf = append(buf, req...)
				}
				if t := sc.due(pc.id, sent); sc.inWindow(t) {
					pc.late.Record(now.Sub(t))
				}
			}
			if _, err := pc.c.Write(buf); err != nil {
				return fmt.Errorf("paced %s: connection %d: write: %w", p.App, pc.id, err)
			}
		}
		if done && sent < pc.n {
			return nil // the pacer stopped early: the session failed
		}
	}
	return nil
}

// read verifies the connection's replies in order and times each from its
// request's due time.
func (p Paced) read(pc *pacedConn, sc *schedule) error {
	br := bufio.NewReaderSize(pc.c, 16<<10)
	var got, want []byte
	if p.App == "echo" {
		got, want = make([]byte, p.Size), make([]byte, p.Size)
		fillPattern(want, uint32(pc.id))
	}
	for k := 0; k < pc.n; k++ {
		var size int
		if p.App == "echo" {
			if _, err := io.ReadFull(br, got); err != nil {
				return fmt.Errorf("paced echo: connection %d message %d: read: %w", pc.id, k, err)
			}
			stamp(want, uint32(pc.id), uint64(k))
			if !bytes.Equal(got, want) {
				return mismatch(uint32(pc.id), uint64(k), got, want)
			}
			size = p.Size
		} else {
			n, err := readResponse(br, http.StatusOK)
			if err != nil {
				return fmt.Errorf("paced http: connection %d, response %d: %w", pc.id, k, err)
			}
			size = n
		}
		now := time.Now()
		if !now.After(sc.to) {
			pc.answered++
			if !now.Before(sc.from) {
				pc.ops++
				pc.bytes += int64(size)
			}
		}
		if t := sc.due(pc.id, k); sc.inWindow(t) {
			pc.hist.Record(now.Sub(t))
		}
	}
	if br.Buffered() > 0 {
		return fmt.Errorf("paced %s: connection %d: %d bytes after the last reply", p.App, pc.id, br.Buffered())
	}
	return checkQuiet(pc.c, 20*time.Millisecond)
}
