package server

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/loop"
	"golang.org/x/sys/unix"
)

// boom echoes, and panics on "boom".
type boom struct{ *events }

func (b boom) OnData(c *Conn) {
	p, _ := c.Next(-1)
	if bytes.Contains(p, []byte("boom")) {
		panic("boom")
	}
	c.Write(p)
}

func TestHandlerPanicClosesOnlyItsConnection(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...Option) {
		ev := newEvents()
		ts := serve(t, "tcp", boom{ev}, opts...)
		good, bad := ts.dial(), ts.dial()
		ev.waitOpen(t)
		ev.waitOpen(t)
		bad.Write([]byte("boom"))
		ce := ev.waitClose(t)
		var pe *loop.PanicError
		if !errors.As(ce.err, &pe) || pe.Value != "boom" || !strings.Contains(string(pe.Stack), "OnData") {
			t.Fatalf("OnClose error %v; want a *loop.PanicError with the value and the handler's stack", ce.err)
		}
		if err := ts.expectFault(); !errors.As(err, &pe) {
			t.Fatalf("fault handler got %v; want the panic", err)
		}
		good.Write([]byte("still here"))
		b := make([]byte, 10)
		good.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(good, b); err != nil || string(b) != "still here" {
			t.Fatalf("the other connection after a panic: %q, %v", b, err)
		}
		st := ts.Stats().Total
		if st.Closed.Panic != 1 || st.Panics != 1 {
			t.Fatalf("Stats: %d closed by panic, %d panics; want 1 and 1", st.Closed.Panic, st.Panics)
		}
	})
}

func TestConnectionResetReachesOnClose(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...Option) {
		ev := newEvents()
		ts := serve(t, "tcp", echoEvents{events: ev}, opts...)
		c := ts.dial()
		ev.waitOpen(t)
		c.(*net.TCPConn).SetLinger(0) // close sends a reset
		c.Close()
		if ce := ev.waitClose(t); !errors.Is(ce.err, unix.ECONNRESET) {
			t.Fatalf("OnClose error %v; want ECONNRESET", ce.err)
		}
		if n := ts.Stats().Total.Closed.Error; n != 1 {
			t.Fatalf("Stats: %d closed by error; want 1", n)
		}
	})
}

// writeOn keeps writing after the peer's end, until a write fails.
type writeOn struct {
	*events
	NopHandler
}

func (h writeOn) OnOpen(c *Conn)             { h.events.OnOpen(c) }
func (h writeOn) OnClose(c *Conn, err error) { h.events.OnClose(c, err) }
func (h writeOn) OnEOF(c *Conn) {
	go func() {
		for {
			errc := make(chan error, 1)
			if c.AsyncWrite([]byte("more"), func(err error) { errc <- err }) != nil {
				return
			}
			if <-errc != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
}

func TestWriteToAClosedPeerEndsWithItsError(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...Option) {
		ev := newEvents()
		ts := serve(t, "tcp", writeOn{events: ev}, opts...)
		c := ts.dial()
		ev.waitOpen(t)
		c.Close()
		ce := ev.waitClose(t)
		if !errors.Is(ce.err, unix.EPIPE) && !errors.Is(ce.err, unix.ECONNRESET) {
			t.Fatalf("OnClose error %v; want EPIPE or ECONNRESET", ce.err)
		}
	})
}

func TestReadLimitClosesAHandlerThatHoldsTooMuch(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...Option) {
		ev := newEvents()
		ts := serve(t, "tcp", lineHandler{ev}, append(opts, WithReadLimit(1000))...)
		c := ts.dial()
		ev.waitOpen(t)
		line := append(bytes.Repeat([]byte("a"), 999), '\n') // 999 held, then consumed
		c.Write(line)
		got := make([]byte, len(line))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("a line within the limit: %v", err)
		}
		c.Write(bytes.Repeat([]byte("b"), 1001))
		ce := ev.waitClose(t)
		if !errors.Is(ce.err, ErrReadLimit) || !strings.Contains(ce.err.Error(), "1001") {
			t.Fatalf("OnClose error %v; want ErrReadLimit naming the 1001 bytes held", ce.err)
		}
	})
}

func TestSlowReaderIsBoundedAndResumed(t *testing.T) {
	const high, low = 256 << 10, 64 << 10
	size := 24 << 20
	if raceEnabled {
		size = 8 << 20
	}
	forModes(t, func(t *testing.T, opts ...Option) {
		ts := serve(t, "tcp", echo{}, append(opts, WithWriteLimit(high, low), WithSocketBuffers(64<<10, 64<<10))...)
		c := ts.dial()
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		werr := make(chan error, 1)
		go func() {
			for sent := 0; sent < size; sent += 64 << 10 {
				if _, err := c.Write(pattern[:64<<10]); err != nil {
					werr <- err
					return
				}
			}
			werr <- nil
		}()
		// The client does not read: the server's queue grows to the high
		// mark, reading stops, and then nothing moves.
		var last LoopStats
		var maxHeld int64
		still := 0
		for still < 20 {
			time.Sleep(10 * time.Millisecond)
			st := ts.Stats().Total
			maxHeld = max(maxHeld, st.HeldOut)
			if st.BytesIn == last.BytesIn && st.HeldOut == last.HeldOut && st.HeldOut > 0 {
				still++
			} else {
				still = 0
			}
			last = st
		}
		bound := int64(high + DefaultReadBuffer + 2*chunkSize)
		if maxHeld > bound || last.HeldOut < high {
			t.Fatalf("queue held up to %d bytes, %d when stalled; want past the %d mark and at most %d", maxHeld, last.HeldOut, high, bound)
		}
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > bound+2<<20 {
			t.Fatalf("heap grew %d bytes with the peer not reading; want at most the queue bound %d + 2 MiB", grew, bound)
		}
		if int(last.BytesIn) >= size {
			t.Fatalf("server read all %d bytes of a peer that does not read", size)
		}
		// Reading resumes as the peer reads, and every byte comes back.
		got := 0
		buf := make([]byte, 256<<10)
		c.SetReadDeadline(time.Now().Add(60 * time.Second))
		for got < size {
			n, err := c.Read(buf)
			for i := 0; i < n; {
				k := min(n-i, (64<<10)-(got+i)%(64<<10))
				if !bytes.Equal(buf[i:i+k], pattern[(got+i)%(64<<10):][:k]) {
					t.Fatalf("echoed bytes at %d differ", got+i)
				}
				i += k
			}
			got += n
			if err != nil {
				t.Fatalf("read after %d of %d bytes: %v", got, size, err)
			}
		}
		if err := <-werr; err != nil {
			t.Fatal(err)
		}
	})
}

// closer answers one request with a large reply and closes.
type closer struct {
	NopHandler
	size int
}

func (h closer) OnData(c *Conn) {
	c.Discard(c.Buffered())
	c.Write(pattern[:h.size])
	c.Close()
}

func TestCloseWithInputUnreadStillDeliversTheReply(t *testing.T) {
	size := 1 << 20
	forModes(t, func(t *testing.T, opts ...Option) {
		ts := serve(t, "tcp", closer{size: size}, append(opts, WithSocketBuffers(32<<10, 32<<10))...)
		c := ts.dial()
		// The client goes on sending while it reads the reply slowly: a
		// server that closed with this input unread would reset the
		// connection and drop the reply's tail.
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			junk := make([]byte, 4<<10)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.Write(junk); err != nil {
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
		var got []byte
		buf := make([]byte, 16<<10)
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		for {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
			time.Sleep(time.Millisecond / 2)
		}
		if !bytes.Equal(got, pattern[:size]) {
			t.Fatalf("received %d bytes of the %d-byte reply", len(got), size)
		}
	})
}
