package server

import (
	"io"
	"net"
	"net/netip"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/loop"
	"golang.org/x/sys/unix"
)

// Conn is one accepted connection, served by one loop. Its methods belong
// to that loop's goroutine: call them from the Handler's methods, from a
// function posted to the loop, or from an AsyncWrite's done, never from
// another goroutine, with two exceptions: AsyncWrite and Wake, which may be
// called from any goroutine. A Conn is not reused: after OnClose its methods
// return errors matching ErrClosed.
//
// A Conn is 128 bytes, the whole of what an idle connection holds in the
// process besides its loop's registration (TestConnSize): fields are
// packed (descriptor numbers are C ints; held input is under 2 GiB, the
// read limit's 1 GiB and a read buffer at most), the unread bytes are two
// offsets into the storage that holds them, and the peer's address is
// kept in 24 bytes.
type Conn struct {
	w      *worker
	tok    loop.Token
	fd     int32
	idx    int32 // position in the loop's list of open connections
	flags  uint32
	drop   int32  // bytes read and dropped while closing (saturates at the read limit)
	own    *inbuf // storage for bytes left unread across OnData calls; nil while there are none
	lo, hi int32  // the unread bytes: the loop's buffer[lo:hi] while OnData runs (fLoopBuf), else own.b[lo:hi]
	out    outq
	ctx    any
	tm     *connTimer // nil while no timeout applies
	err    error      // what OnClose gets when a close waits (for the queue, for a handler)
	peer   peerAddr
}

// connEvents is Conn seen as the loop.Handler of its registration: the
// conversion costs nothing, and Conn keeps no exported OnEvent.
type connEvents Conn

// What a connection watches, registered once: readable, writable and the
// peer's half-close, edge-triggered, so that a write that fills the socket
// needs no Modify to learn when it drains, and none to stop. Pri reports
// TCP urgent data, at which a read stops short.
const connInterest = epoll.In | epoll.Out | epoll.RDHup | epoll.Pri | epoll.Edge

const (
	fClosed    uint32 = 1 << iota // finished: OnClose has been called
	fClosing                      // close once the output queue has drained (err says why)
	fAbort                        // close as soon as no handler of this connection runs
	fShutWrite                    // shut the write side once the output queue has drained
	fWriteShut                    // the write side is shut
	fEOF                          // the peer ended its side: nothing more to read
	fPaused                       // not read: the output queue passed the high mark
	fAgain                        // on the loop's list of connections to read again
	fInHandler                    // a handler call for this connection is running
	fLoopBuf                      // in is a window of the loop's read buffer
	fDropped                      // closing, and dropped the read limit's worth: not read any more
)

// OnEvent handles the connection's readiness.
func (h *connEvents) OnEvent(_ *loop.Loop, _ loop.Token, ev epoll.Events) {
	c := (*Conn)(h)
	if c.flags&fClosed != 0 {
		return
	}
	if ev&epoll.Out != 0 && c.out.n > 0 {
		c.flush()
	}
	if ev&(epoll.In|epoll.Pri|epoll.RDHup|epoll.Hup|epoll.Err) != 0 {
		// A read that returns less than asked has emptied the socket, and
		// anything arriving after it raises a new edge, so one short read
		// ends the event. Not so when the event says the peer closed, hung
		// up or failed (the data and the end may come in one segment: the
		// end is seen only by reading on), or that urgent data came (a read
		// stops short at the urgent mark): then read until EAGAIN.
		c.readable(ev&(epoll.Pri|epoll.RDHup|epoll.Hup|epoll.Err) != 0)
	}
}

// readable reads what the socket holds and hands it to the handler, at
// most readBudget bytes per call so that one busy connection cannot starve
// the others: past the budget the connection goes on the loop's list to be
// read again in its next iteration.
func (c *Conn) readable(drain bool) {
	w := c.w
	budget := w.readBudget
	for c.flags&(fClosed|fPaused|fEOF|fAbort|fDropped) == 0 {
		n, err := read(int(c.fd), w.buf)
		if err != nil {
			if err != unix.EAGAIN {
				c.abort(sysErr("read", int(c.fd), err))
			}
			return
		}
		if n == 0 {
			c.ended()
			return
		}
		w.st.bytesIn.Add(uint64(n))
		if c.tm != nil {
			c.tm.lastIO = w.now()
		}
		if c.flags&fClosing != 0 {
			// Closing: input is read only so that close(2) finds none
			// unread, which would make the kernel answer with a reset and
			// drop what it still has to send. A peer that goes on sending
			// while the close waits for it to take the output is read no
			// further than the read limit, as an open connection past the
			// high mark is not read: else it could keep the loop reading
			// at its sending rate until the close gives up.
			if c.drop += int32(n); int(c.drop) > c.w.s.cfg.readLimit {
				c.flags |= fDropped
			}
		} else {
			c.received(w.buf[:n])
		}
		if n < len(w.buf) && !drain {
			return
		}
		if budget -= n; budget <= 0 {
			w.readLater(c)
			return
		}
	}
}

// input returns the bytes received and not yet consumed.
func (c *Conn) input() []byte {
	switch {
	case c.flags&fLoopBuf != 0:
		return c.w.buf[c.lo:c.hi]
	case c.own != nil:
		return c.own.b[c.lo:c.hi]
	}
	return nil
}

// held returns the number of bytes received and not yet consumed.
func (c *Conn) held() int { return int(c.hi - c.lo) }

// received hands new bytes, the start of the loop's buffer, to the
// handler, after the ones it left unread.
func (c *Conn) received(data []byte) {
	held := c.held()
	if held == 0 {
		c.releaseIn()
		c.lo, c.hi = 0, int32(len(data))
		c.flags |= fLoopBuf
	} else {
		c.appendHeld(data)
	}
	total := c.held()
	c.callData()
	if c.tm != nil && total-c.held() >= held && held > 0 {
		// The handler got past every byte it had left unread: what it
		// leaves now is a new incomplete message, whose read timeout
		// starts now. Without this a connection that pipelines, always
		// a message's head behind, timed out while served.
		c.tm.heldSince = 0
	}
	c.keepUnread()
	c.settle()
}

// appendHeld adds data after the bytes held in own, moving them to the
// front or to a larger buffer when the tail has no room.
func (c *Conn) appendHeld(data []byte) {
	n := c.held()
	if len(c.own.b)-int(c.hi) < len(data) {
		if len(c.own.b) < n+len(data) {
			nb := getIn(n + len(data))
			copy(nb.b, c.input())
			c.setOwn(nb)
		} else {
			copy(c.own.b, c.input())
		}
		c.lo, c.hi = 0, int32(n)
	}
	c.hi += int32(copy(c.own.b[c.hi:], data))
}

// keepUnread keeps what the handler left unread past its return: copied
// out of the loop's buffer, which the next read overwrites, into a buffer
// of the connection's own, within the read limit; a connection that left
// nothing holds nothing.
func (c *Conn) keepUnread() {
	if c.flags&fClosed != 0 {
		return
	}
	n := c.held()
	if n == 0 {
		c.lo, c.hi = 0, 0
		c.flags &^= fLoopBuf
		c.releaseIn()
		if c.tm != nil {
			c.tm.heldSince = 0
		}
		return
	}
	if n > c.w.s.cfg.readLimit {
		c.abort(readLimitError(n, c.w.s.cfg.readLimit))
		return
	}
	switch {
	case c.flags&fLoopBuf != 0:
		ib := getIn(n)
		copy(ib.b, c.input())
		c.flags &^= fLoopBuf
		c.setOwn(ib)
		c.lo, c.hi = 0, int32(n)
	case len(c.own.b) > 4<<minInShift && n <= len(c.own.b)/8:
		// A large buffer holding a little: move it to a small one.
		ib := getIn(n)
		copy(ib.b, c.input())
		c.setOwn(ib)
		c.lo, c.hi = 0, int32(n)
	}
	if c.tm != nil && c.tm.heldSince == 0 {
		c.tm.heldSince = c.w.now()
		c.arm()
	}
}

// setOwn makes ib the connection's input storage, giving the old one back.
func (c *Conn) setOwn(ib *inbuf) {
	c.releaseIn()
	c.own = ib
	c.w.st.heldIn.Add(int64(cap(ib.b)))
}

func (c *Conn) releaseIn() {
	if c.own != nil {
		c.w.st.heldIn.Add(-int64(cap(c.own.b)))
		putIn(c.own)
		c.own = nil
	}
}

// ended handles the peer's end of stream (read returned 0).
func (c *Conn) ended() {
	c.flags |= fEOF
	err := error(io.EOF)
	if c.held() > 0 {
		err = io.ErrUnexpectedEOF // the end cut a message the handler was waiting to complete
	}
	switch {
	case c.flags&(fClosing|fWriteShut) != 0:
		if c.flags&fClosing == 0 {
			c.err = err
		}
		c.flags |= fClosing
		c.settle()
	case c.w.s.eofh != nil:
		c.callEOF()
		c.settle()
	default:
		c.closeWith(err)
	}
}

// callData runs OnData, containing a panic.
func (c *Conn) callData() {
	c.flags |= fInHandler
	defer c.handlerReturned()
	c.w.s.h.OnData(c)
}

func (c *Conn) callOpen() {
	c.flags |= fInHandler
	defer c.handlerReturned()
	c.w.s.h.OnOpen(c)
}

func (c *Conn) callEOF() {
	c.flags |= fInHandler
	defer c.handlerReturned()
	c.w.s.eofh.OnEOF(c)
}

// handlerReturned ends a handler call; a panic in it closes the connection
// and is reported.
func (c *Conn) handlerReturned() {
	c.flags &^= fInHandler
	if v := recover(); v != nil {
		err := newPanicError(v)
		c.w.st.panics.Add(1)
		c.abort(err)
		c.w.s.cfg.fault(c, err)
	}
}

// abort closes the connection at once (when no handler of it runs) with
// err, dropping what is queued.
func (c *Conn) abort(err error) {
	if c.flags&(fClosed|fAbort) != 0 {
		return
	}
	c.err = err
	c.flags |= fAbort
	c.settle()
}

// closeWith closes the connection once its queued output is written, with
// err for OnClose.
func (c *Conn) closeWith(err error) {
	if c.flags&(fClosed|fClosing|fAbort) != 0 {
		return
	}
	c.err = err
	c.flags |= fClosing
	c.drainBounded()
	c.settle()
}

// settle does what the connection's state asks for once no handler of it
// is running: close it, shut its write side, or linger for the peer's end.
func (c *Conn) settle() {
	if c.flags&(fClosed|fInHandler) != 0 {
		return
	}
	switch {
	case c.flags&fAbort != 0:
		c.finish(c.err)
	case c.out.n > 0:
		// The queue drains first; flush calls settle again.
	case c.flags&fClosing != 0:
		if c.flags&fEOF != 0 {
			c.finish(c.err)
			return
		}
		// The peer has not ended its side: send our end after the data,
		// and wait (reading and dropping) for its end before close(2), as
		// a close with input unread would reset the connection and drop
		// what the socket still has to send.
		c.shutWrite()
		c.linger()
	case c.flags&fShutWrite != 0:
		c.shutWrite()
	}
}

func (c *Conn) shutWrite() {
	if c.flags&fWriteShut != 0 {
		return
	}
	c.flags |= fWriteShut
	if err := unix.Shutdown(int(c.fd), unix.SHUT_WR); err != nil && err != unix.ENOTCONN {
		c.abort(sysErr("shutdown", int(c.fd), err))
	}
}

// finish closes the connection: its registration and descriptor, its
// buffers and timer, and tells the handler.
func (c *Conn) finish(err error) {
	c.flags |= fClosed
	w := c.w
	if c.tm != nil {
		c.tm.t.Stop()
	}
	if w.s.paused.Load() > 0 {
		// Accepting waits for a descriptor: free this one now rather
		// than with the loop's batch, and resume accepting.
		w.l.Unregister(c.tok)
		unix.Close(int(c.fd))
		w.s.resumeAccepting()
	} else if err := w.l.UnregisterClose(c.tok); err != nil && !isClosed(err) {
		// The loop lost the registration (a refused deferred Register):
		// the descriptor is still ours.
		unix.Close(int(c.fd))
	}
	c.releaseIn()
	c.lo, c.hi = 0, 0
	c.flags &^= fLoopBuf
	if n := c.out.release(); n > 0 {
		w.st.heldOut.Add(-int64(n * chunkSize))
	}
	w.remove(c)
	w.st.closedBy(err)
	c.callClose(err)
	c.fd = -1
}

func (c *Conn) callClose(err error) {
	defer func() {
		if v := recover(); v != nil {
			pe := newPanicError(v)
			c.w.st.panics.Add(1)
			c.w.s.cfg.fault(c, pe)
		}
	}()
	c.w.s.h.OnClose(c, err)
}

// usable reports whether the connection takes calls: made by the server
// and not closed.
func (c *Conn) usable() bool { return c != nil && c.w != nil && c.flags&fClosed == 0 }

// Buffered returns the number of bytes received and not yet consumed.
func (c *Conn) Buffered() int {
	if !c.usable() {
		return 0
	}
	return c.held()
}

// Peek returns the next n bytes without consuming them; n < 0 means all
// that is buffered. With fewer than n bytes buffered it returns them all and
// io.ErrShortBuffer. The slice is the server's: it is valid until the
// handler returns, and must not be kept or changed.
func (c *Conn) Peek(n int) ([]byte, error) {
	if !c.usable() {
		return nil, closedErr("Peek")
	}
	in := c.input()
	if n < 0 || n == len(in) {
		return in, nil
	}
	if n > len(in) {
		return in, io.ErrShortBuffer
	}
	return in[:n], nil
}

// Next returns the next n bytes and consumes them; n < 0 means all that is
// buffered. With fewer than n bytes buffered it returns and consumes them
// all and returns io.ErrShortBuffer. The slice is valid until the handler
// returns, as with Peek.
func (c *Conn) Next(n int) ([]byte, error) {
	b, err := c.Peek(n)
	c.lo += int32(len(b))
	return b, err
}

// Discard consumes up to n bytes and returns how many it consumed.
func (c *Conn) Discard(n int) int {
	if !c.usable() || n <= 0 {
		return 0
	}
	n = min(n, c.held())
	c.lo += int32(n)
	return n
}

// Context returns the value stored with SetContext.
func (c *Conn) Context() any {
	if c == nil {
		return nil
	}
	return c.ctx
}

// SetContext stores a value with the connection, for the handler's own
// state. The server never looks at it.
func (c *Conn) SetContext(v any) {
	if c != nil {
		c.ctx = v
	}
}

// RemoteAddrPort returns the peer's address of a TCP connection (an IPv4
// peer of a dual-stack listener as IPv4); the zero AddrPort for a Unix one.
// It allocates nothing.
func (c *Conn) RemoteAddrPort() netip.AddrPort {
	if c == nil {
		return netip.AddrPort{}
	}
	return c.peer.addrPort()
}

// RemoteAddr returns the peer's address: a *net.TCPAddr, or a
// *net.UnixAddr (whose name is empty for an unnamed client socket). It
// returns nil on a closed connection.
func (c *Conn) RemoteAddr() net.Addr {
	if !c.usable() {
		return nil
	}
	if c.w.s.ep.network == "unix" {
		if sa, err := unix.Getpeername(int(c.fd)); err == nil {
			return sockaddrToAddr("unix", sa)
		}
		return &net.UnixAddr{Net: "unix"}
	}
	return netAddr(c.w.s.ep.network, c.peer.addrPort())
}

// LocalAddr returns the address the connection was accepted on
// (getsockname(2)), or nil on a closed connection.
func (c *Conn) LocalAddr() net.Addr {
	if !c.usable() {
		return nil
	}
	return localAddr(c.w.s.ep.network, int(c.fd))
}

// Close closes the connection once what is queued has been written. From
// now on nothing more is handed to the handler (what arrives is read and
// dropped) and writes fail. The connection's end (a FIN) follows the queued
// bytes, and close(2) waits until the peer's kernel has acknowledged
// everything sent, or the peer has ended its side: closing earlier, with
// input unread or while the peer still sends, makes the kernel reset the
// connection and drop what it had still to deliver. Both waits are bounded:
// the drain by the write timeout (LingerTimeout without progress when none is
// set; OnClose then gets ErrWriteTimeout), the acknowledgement by
// LingerTimeout without progress. OnClose gets nil. A Unix socket, which
// hands its bytes over at once, closes as soon as its queue is written.
// Close on a closed connection returns nil.
func (c *Conn) Close() error {
	if c == nil || c.w == nil {
		return closedErr("Close")
	}
	if c.flags&fClosed == 0 {
		c.closeWith(nil)
	}
	return nil
}

// CloseWrite shuts the connection's write side (shutdown(2) SHUT_WR) once
// what is queued has been written: the peer reads the end of the stream,
// and the connection goes on being read. Writes after it fail. When the
// peer then ends its side too, the connection closes with io.EOF.
func (c *Conn) CloseWrite() error {
	if !c.usable() {
		return closedErr("CloseWrite")
	}
	c.flags |= fShutWrite
	c.settle()
	return nil
}

// Wake makes the loop call the handler's OnData for this connection, with
// whatever it holds unread (possibly nothing): the way for another
// goroutine to have the handler look at the connection again, say when a
// result it waited for is ready. It may be called from any goroutine. Wake
// on a connection closed by then does nothing.
//
// Errors: ErrClosed when the loop no longer runs.
func (c *Conn) Wake() error {
	if c == nil || c.w == nil {
		return closedErr("Wake")
	}
	return c.w.l.Post(func() {
		if c.flags&(fClosed|fClosing|fAbort) != 0 {
			return
		}
		c.callData()
		c.keepUnread()
		c.settle()
	})
}
