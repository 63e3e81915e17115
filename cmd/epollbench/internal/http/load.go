package http

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// load is the closed-loop load generator: connections that each send a
// request, read the whole reply and send the next, as fast as the server
// answers.
type load struct {
	conns    []net.Conn
	replies  atomic.Int64 // counted while counting is set
	counting atomic.Bool
	stopping atomic.Bool
	wg       sync.WaitGroup
	errs     chan error
}

// dialLoad opens conc connections to addr.
func dialLoad(addr string, conc int) (*load, error) {
	ld := &load{errs: make(chan error, conc)}
	for range conc {
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			for _, c := range ld.conns {
				c.Close()
			}
			return nil, fmt.Errorf("load generator dial: %w", err)
		}
		// An abortive close (RST) leaves no TIME_WAIT socket behind, so
		// repeated runs do not use up the ephemeral ports.
		c.(*net.TCPConn).SetLinger(0)
		ld.conns = append(ld.conns, c)
	}
	return ld, nil
}

// start sets every connection going, one goroutine each.
func (ld *load) start() {
	for _, c := range ld.conns {
		ld.wg.Add(1)
		go func() {
			defer ld.wg.Done()
			if err := ld.loop(c); err != nil {
				ld.errs <- err
			}
		}()
	}
}

func (ld *load) loop(c net.Conn) error {
	buf := make([]byte, len(response))
	req := []byte(request)
	for !ld.stopping.Load() {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(req); err != nil {
			return fmt.Errorf("load generator write: %w", err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			return fmt.Errorf("load generator read: %w", err)
		}
		if !bytes.Equal(buf[:15], response[:15]) {
			return fmt.Errorf("load generator: bad reply %q", buf[:15])
		}
		if ld.counting.Load() {
			ld.replies.Add(1)
		}
	}
	return nil
}

// measure counts replies for d, cut into n windows, and returns each
// window's rate, the replies and the time they took. The best window's
// rate is the figure: on a shared machine a burst of other work lowers
// whichever window it lands in, and a server's rate is what it does when it
// has the CPU. The mean over all windows is kept beside it.
func (ld *load) measure(d time.Duration, n int) (windows []float64, replies int64, secs float64) {
	ld.counting.Store(true)
	start := time.Now()
	prev, prevT := int64(0), start
	for w := 1; w <= n; w++ {
		time.Sleep(time.Until(start.Add(d * time.Duration(w) / time.Duration(n))))
		now, r := time.Now(), ld.replies.Load()
		windows = append(windows, float64(r-prev)/now.Sub(prevT).Seconds())
		prev, prevT = r, now
	}
	ld.counting.Store(false)
	return windows, ld.replies.Load(), time.Since(start).Seconds()
}

// stop ends every connection and returns the first failure of any.
func (ld *load) stop() error {
	ld.stopping.Store(true)
	ld.wg.Wait()
	for _, c := range ld.conns {
		c.Close()
	}
	select {
	case err := <-ld.errs:
		return err
	default:
		return nil
	}
}
