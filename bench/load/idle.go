package load

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/eventpoll/eventpoll/bench/plaintext"
)

// Idle is a set of open connections that have each made one verified
// request (an HTTP GET, or a 64-byte echo) and now sit idle: what a server
// holds per connection is measured with them open.
type Idle struct {
	conns []net.Conn
}

// OpenIdle opens n connections to addr, each making one request of app
// ("echo" or "http") and checking the reply.
func OpenIdle(ctx context.Context, addr, app string, n int) (*Idle, error) {
	var once func(i int, c net.Conn) error
	switch app {
	case "echo":
		once = func(i int, c net.Conn) error { return echoOnce(c, uint32(i)) }
	case "http":
		once = func(i int, c net.Conn) error { return httpOnce(c, addr) }
	default:
		return nil, fmt.Errorf("idle: no app %q", app)
	}
	conns, err := dialAll(ctx, addr, n, func(i int, c net.Conn) error {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		defer c.SetDeadline(time.Time{})
		if err := once(i, c); err != nil {
			return fmt.Errorf("idle connection %d: %w", i, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Idle{conns: conns}, nil
}

// Len returns the number of connections held.
func (s *Idle) Len() int { return len(s.conns) }

// Close resets every connection.
func (s *Idle) Close() {
	for _, c := range s.conns {
		reset(c)
	}
	s.conns = nil
}

func echoOnce(c net.Conn, id uint32) error {
	var msg, got [64]byte
	fillPattern(msg[:], id)
	stamp(msg[:], id, 0)
	if _, err := c.Write(msg[:]); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, got[:]); err != nil {
		return err
	}
	if got != msg {
		return mismatch(id, 0, got[:], msg[:])
	}
	return nil
}

// httpReaders keeps the small readers httpOnce parses with: a connection that
// makes one request needs its reader only for that request.
var httpReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 1024) }}

func httpOnce(c net.Conn, addr string) error {
	if _, err := io.WriteString(c, request(addr, plaintext.Path)); err != nil {
		return err
	}
	br := httpReaders.Get().(*bufio.Reader)
	br.Reset(c)
	defer func() { br.Reset(nil); httpReaders.Put(br) }()
	if _, err := readResponse(br, http.StatusOK); err != nil {
		return err
	}
	if br.Buffered() > 0 {
		return fmt.Errorf("%d bytes after the response", br.Buffered())
	}
	return nil
}

// ConnRate is the connection-rate generator: Workers goroutines each
// connect, make one verified request of App, and close, over and over. A
// cycle's latency runs from the dial to the close.
type ConnRate struct {
	Addr    string
	App     string // "echo" or "http"
	Workers int
	Timing
}

// Run runs the cycles for the warm-up and the measured duration.
func (cr ConnRate) Run(ctx context.Context) (*Result, error) {
	if cr.Workers < 1 || cr.Duration <= 0 || (cr.App != "echo" && cr.App != "http") {
		return nil, fmt.Errorf("connrate: %d workers, app %q, duration %v", cr.Workers, cr.App, cr.Duration)
	}
	start := time.Now()
	from, to := start.Add(cr.Warmup), start.Add(cr.Warmup+cr.Duration)
	recs := make([]recorder, cr.Workers)
	ctx, cancel := context.WithTimeout(ctx, cr.Warmup+cr.Duration+cr.grace())
	defer cancel()
	// The first failure cancels the others; theirs, caused by it, are not
	// the news.
	var first error
	var once sync.Once
	probed := cr.probe(from, to)
	var wg sync.WaitGroup
	for w := range recs {
		recs[w].from, recs[w].to = from, to
		wg.Go(func() {
			if err := cr.cycles(ctx, uint32(w), &recs[w]); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		})
	}
	wg.Wait()
	probed(first != nil)
	if first != nil {
		return nil, first
	}
	res := &Result{Conns: cr.Workers, Window: cr.Duration, Latency: new(Histogram)}
	for i := range recs {
		res.Ops += recs[i].ops
		res.Latency.Merge(&recs[i].hist)
	}
	res.summarize()
	return res, nil
}

func (cr ConnRate) cycles(ctx context.Context, id uint32, r *recorder) error {
	d := net.Dialer{Timeout: 10 * time.Second}
	for now := time.Now(); now.Before(r.to); {
		sent := time.Now()
		c, err := d.DialContext(ctx, "tcp", cr.Addr)
		if err != nil {
			return fmt.Errorf("connrate: worker %d: %w", id, err)
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		if cr.App == "echo" {
			err = echoOnce(c, id)
		} else {
			err = httpOnce(c, cr.Addr)
		}
		stop()
		c.Close()
		if err != nil {
			return fmt.Errorf("connrate: worker %d: %w", id, err)
		}
		now = time.Now()
		r.done(sent, now, 0)
	}
	return nil
}
