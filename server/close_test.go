package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestPeerHalfCloseGetsEveryReplyThenEOF(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...Option) {
		ev := newEvents()
		ts := serve(t, "tcp", echoEvents{events: ev}, opts...)
		c := ts.dial()
		msg := bytes.Repeat([]byte("half-close "), 1000)
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).CloseWrite()
		got, err := readAll(t, c, 10*time.Second)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("after half-close read %d bytes (%v); want the %d sent, then EOF", len(got), err, len(msg))
		}
		if ce := ev.waitClose(t); ce.err != io.EOF {
			t.Fatalf("OnClose error %v; want io.EOF", ce.err)
		}
	})
}

// greeter writes a greeting, shuts its write side, and records what it
// reads afterwards.
type greeter struct {
	*events
	got chan []byte
}

func (g greeter) OnOpen(c *Conn) {
	c.Write([]byte("hello"))
	c.CloseWrite()
	g.events.OnOpen(c)
}

func (g greeter) OnData(c *Conn) {
	b, _ := c.Next(-1)
	g.got <- bytes.Clone(b)
	if _, err := c.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		panic("Write after CloseWrite did not fail with ErrClosed")
	}
}

func TestCloseWriteSendsEOFAndKeepsReading(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...Option) {
		g := greeter{events: newEvents(), got: make(chan []byte, 10)}
		ts := serve(t, "tcp", g, opts...)
		c := ts.dial()
		got, err := readAll(t, c, 10*time.Second)
		if err != nil || string(got) != "hello" {
			t.Fatalf("read %q (%v); want hello then EOF", got, err)
		}
		if _, err := c.Write([]byte("after")); err != nil {
			t.Fatal(err)
		}
		var all []byte
		for len(all) < len("after") {
			select {
			case b := <-g.got:
				all = append(all, b...)
			case <-time.After(10 * time.Second):
				t.Fatalf("server read %q after its CloseWrite; want after", all)
			}
		}
		if string(all) != "after" {
			t.Fatalf("server read %q after its CloseWrite; want after", all)
		}
		c.Close()
		if ce := g.waitClose(t); ce.err != io.EOF {
			t.Fatalf("OnClose error %v; want io.EOF once the peer ended too", ce.err)
		}
	})
}

// lateReplier answers after the peer's half-close, from another goroutine.
type lateReplier struct {
	*events
	NopHandler
}

func (h lateReplier) OnOpen(c *Conn)             { h.events.OnOpen(c) }
func (h lateReplier) OnClose(c *Conn, err error) { h.events.OnClose(c, err) }
func (h lateReplier) OnEOF(c *Conn) {
	req, _ := c.Next(-1)
	reply := append([]byte("late:"), req...)
	go func() {
		time.Sleep(20 * time.Millisecond)
		c.AsyncWrite(reply, func(error) { c.Close() })
	}()
}

func TestEOFHandlerWritesAfterPeerHalfClose(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...Option) {
		h := lateReplier{events: newEvents()}
		ts := serve(t, "tcp", h, opts...)
		c := ts.dial()
		c.Write([]byte("req"))
		c.(*net.TCPConn).CloseWrite()
		got, err := readAll(t, c, 10*time.Second)
		if err != nil || string(got) != "late:req" {
			t.Fatalf("read %q (%v); want late:req then EOF", got, err)
		}
		if ce := h.waitClose(t); ce.err != nil {
			t.Fatalf("OnClose error %v; want nil after Close", ce.err)
		}
	})
}

// pusher queues size bytes of the pattern on open.
type pusher struct {
	*events
	NopHandler
	size int
}

func (p pusher) OnOpen(c *Conn) {
	c.Write(pattern[:p.size])
	p.events.OnOpen(c)
}
func (p pusher) OnClose(c *Conn, err error) { p.events.OnClose(c, err) }

func TestShutdownDeliversEveryQueuedByte(t *testing.T) {
	size := 8 << 20
	if raceEnabled {
		size = 2 << 20
	}
	if size > len(pattern) {
		size = len(pattern)
	}
	forModes(t, func(t *testing.T, opts ...Option) {
		p := pusher{events: newEvents(), size: size}
		ts := serve(t, "tcp", p, append(opts, WithSocketBuffers(16<<10, 16<<10))...)
		c := ts.dial()
		conn := p.waitOpen(t)
		var queued int
		onLoop(t, conn.w, func() { queued = conn.Outbound() })
		if queued == 0 {
			t.Fatalf("nothing queued with %d bytes written to a 16 KiB socket", size)
		}
		shut := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			shut <- ts.Shutdown(ctx)
		}()
		// A slow reader: small reads with pauses.
		var got []byte
		buf := make([]byte, 32<<10)
		c.SetReadDeadline(time.Now().Add(60 * time.Second))
		for {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("read after %d bytes: %v", len(got), err)
			}
			if len(got) < 256<<10 {
				time.Sleep(time.Millisecond)
			}
		}
		if !bytes.Equal(got, pattern[:size]) {
			t.Fatalf("received %d bytes (equal prefix: %v); want the %d queued before Shutdown", len(got), bytes.Equal(got, pattern[:len(got)]), size)
		}
		if err := <-shut; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if ce := p.waitClose(t); ce.err != ErrServerClosed {
			t.Fatalf("OnClose error %v; want ErrServerClosed", ce.err)
		}
		if _, err := net.Dial("tcp", ts.Addr().String()); err == nil {
			t.Fatal("dial after Shutdown succeeded")
		}
	})
}

func TestCloseIsImmediate(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...Option) {
		p := pusher{events: newEvents(), size: 1 << 20}
		ts := serve(t, "tcp", p, append(opts, WithSocketBuffers(16<<10, 16<<10))...)
		c := ts.dial()
		p.waitOpen(t) // a connection with a queue its peer does not read
		start := time.Now()
		if err := ts.Close(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Close took %v with a connection whose peer does not read", d)
		}
		select {
		case err := <-ts.served:
			if err != nil {
				t.Fatalf("Serve returned %v after Close", err)
			}
			ts.served <- nil
		case <-time.After(2 * time.Second):
			t.Fatal("Serve did not return within 2s of Close")
		}
		if ce := p.waitClose(t); ce.err != ErrServerClosed {
			t.Fatalf("OnClose error %v; want ErrServerClosed", ce.err)
		}
		// The peer finds the connection gone (its end, or a reset).
		if _, err := readAll(t, c, 10*time.Second); err != nil && errors.Is(err, errTimeout) {
			t.Fatal("peer still connected 10s after Close")
		}
	})
}

var errTimeout = errors.New("i/o timeout")

func TestShutdownPastItsContextClosesAtOnce(t *testing.T) {
	p := pusher{events: newEvents(), size: 1 << 20}
	ts := serve(t, "tcp", p, WithSocketBuffers(16<<10, 16<<10), WithLoops(1))
	ts.dial()
	p.waitOpen(t)
	start := time.Now() // before the deadline is set, so the bound below is never early
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := ts.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a peer that never reads returned %v; want DeadlineExceeded", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 5*time.Second {
		t.Fatalf("Shutdown returned after %v; want its 50ms context, then at once", d)
	}
	if ce := p.waitClose(t); ce.err != ErrServerClosed {
		t.Fatalf("OnClose error %v; want ErrServerClosed", ce.err)
	}
}

// shortLinger makes LingerTimeout d for the test.
func shortLinger(t *testing.T, d time.Duration) {
	old := lingerTimeout
	lingerTimeout = d
	t.Cleanup(func() { lingerTimeout = old })
}

// closeAfter writes size bytes on open and closes.
type closeAfter struct {
	*events
	NopHandler
	size int
}

func (h closeAfter) OnOpen(c *Conn) {
	c.Write(pattern[:h.size])
	c.Close()
	h.events.OnOpen(c)
}
func (h closeAfter) OnClose(c *Conn, err error) { h.events.OnClose(c, err) }

func TestClosingGivesUpOnAPeerThatNeverReads(t *testing.T) {
	const d = 100 * time.Millisecond
	shortLinger(t, d)
	t.Run("queue", func(t *testing.T) {
		// More than the sockets hold: the queue never drains.
		h := closeAfter{events: newEvents(), size: 1 << 20}
		ts := serve(t, "tcp", h, WithLoops(1), WithSocketBuffers(16<<10, 16<<10))
		before := time.Now()
		ts.dial()
		ce := h.waitClose(t)
		if !errors.Is(ce.err, ErrWriteTimeout) || ce.at.Sub(before) < d {
			t.Fatalf("closed after %v with %v; want ErrWriteTimeout, not before %v without progress", ce.at.Sub(before), ce.err, d)
		}
	})
	t.Run("unacknowledged", func(t *testing.T) {
		// What the server's socket takes, and the peer's window does not:
		// the queue drains, the bytes stay unacknowledged.
		h := closeAfter{events: newEvents(), size: 256 << 10}
		ts := serve(t, "tcp", h, WithLoops(1), WithSocketBuffers(0, 1<<20))
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<10) })
		}}
		before := time.Now()
		c, err := d.Dial("tcp", ts.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ce := h.waitClose(t)
		if ce.err != nil || ce.at.Sub(before) < lingerTimeout {
			t.Fatalf("closed after %v with %v; want nil (Close), not before the %v linger", ce.at.Sub(before), ce.err, lingerTimeout)
		}
	})
}

// A closing connection reads what arrives only to drop it: a peer that
// goes on sending while it reads nothing (the close waits for it to take
// the queued output) gets no more than the read limit read, not as much as
// it can send until the close gives up.
func TestClosingReadsNoMoreThanTheReadLimitFromAPeerThatGoesOnSending(t *testing.T) {
	shortLinger(t, 500*time.Millisecond)
	const limit = 64 << 10
	h := closeAfter{events: newEvents(), size: 256 << 10}
	ts := serve(t, "tcp", h, WithLoops(1), WithReadLimit(limit), WithSocketBuffers(0, 1<<20))
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<10) })
	}}
	c, err := d.Dial("tcp", ts.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h.waitOpen(t)
	sent := 0
	for start := time.Now(); time.Since(start) < 3*time.Second; {
		c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		n, err := c.Write(pattern[:64<<10])
		sent += n
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			break // the server closed the connection
		}
	}
	h.waitClose(t)
	if in := ts.Stats().Total.BytesIn; in > limit+DefaultReadBuffer {
		t.Fatalf("the closing connection read %d bytes of the %d its peer sent; want at most the read limit %d and a read buffer", in, sent, limit)
	}
}
