package server

import (
	"errors"
	"testing"
	"time"
)

// lineHandler consumes whole lines and leaves a partial one unread.
type lineHandler struct{ *events }

func (h lineHandler) OnData(c *Conn) {
	for {
		b, _ := c.Peek(-1)
		i := indexByte(b, '\n')
		if i < 0 {
			return
		}
		c.Write(b[:i+1])
		c.Discard(i + 1)
	}
}

func indexByte(b []byte, x byte) int {
	for i, v := range b {
		if v == x {
			return i
		}
	}
	return -1
}

func TestIdleTimeoutClosesASilentConnection(t *testing.T) {
	const d = 100 * time.Millisecond
	forModes(t, func(t *testing.T, opts ...Option) {
		ev := newEvents()
		ts := serve(t, "tcp", lineHandler{ev}, append(opts, WithIdleTimeout(d))...)
		opened := time.Now() // before the server's own start of the connection
		ts.dial()
		ev.waitOpen(t)
		ce := ev.waitClose(t)
		if !errors.Is(ce.err, ErrIdleTimeout) {
			t.Fatalf("OnClose error %v; want ErrIdleTimeout", ce.err)
		}
		if dt := ce.at.Sub(opened); dt < d {
			t.Fatalf("idle timeout of %v fired after %v", d, dt)
		}
		if n := ts.Stats().Total.Closed.IdleTimeout; n != 1 {
			t.Fatalf("Stats: %d idle timeouts; want 1", n)
		}
	})
}

func TestIdleTimeoutWaitsWhileTrafficFlows(t *testing.T) {
	const d = 300 * time.Millisecond
	ev := newEvents()
	ts := serve(t, "tcp", lineHandler{ev}, WithIdleTimeout(d), WithLoops(1))
	c := ts.dial()
	ev.waitOpen(t)
	buf := make([]byte, 16)
	start := time.Now()
	var last time.Time
	for time.Since(start) < 3*d {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		last = time.Now() // before the server's last read and write
		if _, err := c.Write([]byte("ping\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			t.Fatalf("connection closed %v into traffic every %v with a %v idle timeout: %v (%v)", time.Since(start), d/10, d, err, ev.waitClose(t).err)
		}
		time.Sleep(d / 10)
	}
	ce := ev.waitClose(t)
	if !errors.Is(ce.err, ErrIdleTimeout) || ce.at.Sub(last) < d {
		t.Fatalf("closed %v after the last traffic with %v; want ErrIdleTimeout, not before %v", ce.at.Sub(last), ce.err, d)
	}
}

func TestReadTimeoutCutsATricklingRequest(t *testing.T) {
	const d = 150 * time.Millisecond
	forModes(t, func(t *testing.T, opts ...Option) {
		ev := newEvents()
		ts := serve(t, "tcp", lineHandler{ev}, append(opts, WithReadTimeout(d))...)
		c := ts.dial()
		ev.waitOpen(t)
		// A whole line first: answered, and no timeout starts.
		c.Write([]byte("fast\n"))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 5)); err != nil {
			t.Fatal(err)
		}
		// Then a line a byte at a time, never finished (slowloris).
		first := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; i < 200; i++ {
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
		ce := ev.waitClose(t)
		<-done
		if !errors.Is(ce.err, ErrReadTimeout) {
			t.Fatalf("OnClose error %v; want ErrReadTimeout", ce.err)
		}
		if dt := ce.at.Sub(first); dt < d {
			t.Fatalf("read timeout of %v fired %v after the first byte", d, dt)
		}
	})
}

// flooder queues more than the socket takes on open.
type flooder struct {
	*events
	NopHandler
}

func (f flooder) OnOpen(c *Conn) {
	c.Write(pattern)
	f.events.OnOpen(c)
}
func (f flooder) OnClose(c *Conn, err error) { f.events.OnClose(c, err) }

func TestWriteTimeoutClosesAPeerThatStopsReading(t *testing.T) {
	const d = 150 * time.Millisecond
	forModes(t, func(t *testing.T, opts ...Option) {
		ev := newEvents()
		ts := serve(t, "tcp", flooder{events: ev}, append(opts, WithWriteTimeout(d), WithSocketBuffers(16<<10, 16<<10))...)
		before := time.Now() // before any progress of the server's queue
		c := ts.dial()
		ev.waitOpen(t)
		// Read a little, then stop.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		c.Read(make([]byte, 1024))
		ce := ev.waitClose(t)
		if !errors.Is(ce.err, ErrWriteTimeout) {
			t.Fatalf("OnClose error %v; want ErrWriteTimeout", ce.err)
		}
		if dt := ce.at.Sub(before); dt < d {
			t.Fatalf("write timeout of %v fired %v after the connection began", d, dt)
		}
	})
}

// perConn sets a connection's own idle timeout on open.
type perConn struct {
	*events
	NopHandler
	d time.Duration
}

func (p perConn) OnOpen(c *Conn) {
	if err := c.SetIdleTimeout(p.d); err != nil {
		panic(err)
	}
	p.events.OnOpen(c)
}
func (p perConn) OnClose(c *Conn, err error) { p.events.OnClose(c, err) }

func TestConnTimeoutOverridesTheServers(t *testing.T) {
	t.Run("set", func(t *testing.T) {
		ev := newEvents()
		ts := serve(t, "tcp", perConn{events: ev, d: 80 * time.Millisecond}, WithLoops(1))
		opened := time.Now()
		ts.dial()
		ev.waitOpen(t)
		ce := ev.waitClose(t)
		if !errors.Is(ce.err, ErrIdleTimeout) || ce.at.Sub(opened) < 80*time.Millisecond {
			t.Fatalf("with SetIdleTimeout(80ms) on a server without one: closed after %v with %v", ce.at.Sub(opened), ce.err)
		}
	})
	t.Run("off", func(t *testing.T) {
		ev := newEvents()
		ts := serve(t, "tcp", perConn{events: ev, d: 0}, WithLoops(1), WithIdleTimeout(50*time.Millisecond))
		ts.dial()
		c := ev.waitOpen(t)
		select {
		case ce := <-ev.closed:
			t.Fatalf("with SetIdleTimeout(0) the server's 50ms idle timeout still closed it: %v", ce.err)
		case <-time.After(300 * time.Millisecond):
		}
		var err error
		onLoop(t, c.w, func() { err = c.SetIdleTimeout(-1) })
		if err == nil {
			t.Fatal("SetIdleTimeout(-1) succeeded")
		}
	})
}
