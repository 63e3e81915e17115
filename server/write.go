package server

import (
	"golang.org/x/sys/unix"
)

// maxIovecs is the most buffers one writev(2) is given (the kernel's
// UIO_MAXIOV is 1024).
const maxIovecs = 1024

// writeRefused returns the error of a write the connection's state refuses.
func (c *Conn) writeRefused(call string) error {
	if !c.usable() || c.flags&(fClosing|fAbort|fShutWrite|fWriteShut) != 0 {
		return closedErr(call)
	}
	return nil
}

// Write writes b to the connection. When nothing is queued it goes
// straight to the socket (write(2)); what the socket does not take, and
// everything written while something is queued, is copied to the
// connection's queue, sent as the socket drains (the registration's
// EPOLLOUT edge says when; no epoll_ctl is made). Write therefore never
// blocks, and returns len(b) unless the connection fails. b may be reused
// as soon as Write returns.
//
// Past the write limit's high mark the connection stops being read until
// the queue drains to the low mark; the write itself is not refused.
//
// Errors: ErrClosed after Close, CloseWrite or OnClose; the kernel's error
// (EPIPE, ECONNRESET) when the socket fails, in which case the connection
// is closed with that error, once the handler returns.
func (c *Conn) Write(b []byte) (int, error) {
	if err := c.writeRefused("Write"); err != nil {
		return 0, err
	}
	n := 0
	if c.out.n == 0 {
		var err error
		n, err = write(int(c.fd), b)
		if err != nil && err != unix.EAGAIN {
			return n, c.writeFailed(err)
		}
		c.wrote(n)
		if n == len(b) {
			return n, nil
		}
	}
	c.enqueue(b[n:])
	return len(b), nil
}

// Writev writes the buffers in order, as one Write of their concatenation
// would, with writev(2) when nothing is queued. It returns the number of
// bytes accepted.
func (c *Conn) Writev(bs [][]byte) (int, error) {
	if err := c.writeRefused("Writev"); err != nil {
		return 0, err
	}
	total := 0
	for len(bs) > 0 && c.out.n == 0 {
		iov := c.w.iov[:0]
		k := 0
		want := 0
		for ; k < len(bs) && len(iov) < maxIovecs; k++ {
			if len(bs[k]) == 0 {
				continue
			}
			v := unix.Iovec{Base: &bs[k][0]}
			v.SetLen(len(bs[k]))
			iov = append(iov, v)
			want += len(bs[k])
		}
		if len(iov) == 0 {
			return total, nil
		}
		n, err := writev(int(c.fd), iov)
		if err != nil && err != unix.EAGAIN {
			return total, c.writeFailed(err)
		}
		c.wrote(n)
		total += n
		if n < want {
			// Queue the rest of the buffer the socket stopped in, then
			// the ones after it.
			for ; n >= len(bs[0]); bs = bs[1:] {
				n -= len(bs[0])
			}
			c.enqueue(bs[0][n:])
			total += len(bs[0]) - n
			bs = bs[1:]
			break
		}
		bs = bs[k:]
	}
	for _, b := range bs {
		c.enqueue(b)
		total += len(b)
	}
	return total, nil
}

// AsyncWrite writes b from any goroutine: the write is posted to the
// connection's loop and runs there as Write, in the order of the loop's
// posted functions, after which done (if not nil) is called on the loop
// with Write's error. b must not change until done is called.
//
// Errors: ErrClosed when the loop no longer runs; done is then not called.
func (c *Conn) AsyncWrite(b []byte, done func(err error)) error {
	if c == nil || c.w == nil {
		return closedErr("AsyncWrite")
	}
	return c.w.l.Post(func() {
		_, err := c.Write(b)
		c.settle()
		if done != nil {
			done(err)
		}
	})
}

// Outbound returns the number of bytes queued, written by the handler and
// not yet taken by the socket.
func (c *Conn) Outbound() int {
	if !c.usable() {
		return 0
	}
	return c.out.n
}

// wrote accounts for n bytes the socket took.
func (c *Conn) wrote(n int) {
	if n <= 0 {
		return
	}
	c.w.st.bytesOut.Add(uint64(n))
	if c.tm != nil {
		now := c.w.now()
		c.tm.lastIO = now
		c.tm.progress = now
	}
}

// enqueue copies b to the queue; past the high mark the connection stops
// being read.
func (c *Conn) enqueue(b []byte) {
	if len(b) == 0 {
		return
	}
	was := c.out.n
	if k := c.out.push(b); k > 0 {
		c.w.st.heldOut.Add(int64(k * chunkSize))
	}
	if c.out.n > c.w.s.cfg.writeHigh {
		c.flags |= fPaused
	}
	if was == 0 && c.tm != nil {
		c.tm.progress = c.w.now()
		c.arm()
	}
}

// flush writes the queue until it is empty or the socket is full; the
// registration's next EPOLLOUT edge brings it back.
func (c *Conn) flush() {
	w := c.w
	for c.out.n > 0 {
		n, err := writev(int(c.fd), c.out.iovecs(w.iov[:0:64]))
		if err != nil {
			if err != unix.EAGAIN {
				c.writeFailed(err)
			}
			break
		}
		if k := c.out.consume(n); k > 0 {
			w.st.heldOut.Add(-int64(k * chunkSize))
		}
		c.wrote(n)
	}
	if c.flags&fPaused != 0 && c.out.n <= w.s.cfg.writeLow {
		// Input that arrived while the connection was not read raised its
		// edge then and will raise none now: read it without waiting.
		c.flags &^= fPaused
		w.readLater(c)
		if c.tm != nil && c.tm.heldSince != 0 {
			// What waited unread while paused waited for the server: its
			// read timeout starts again now.
			c.tm.heldSince = w.now()
			c.arm()
		}
	}
	if c.out.n == 0 {
		c.settle()
	}
}

// writeFailed closes the connection with the kernel's error, once no
// handler of it runs, and returns the error.
func (c *Conn) writeFailed(err error) error {
	e := sysErr("write", int(c.fd), err)
	c.abort(e)
	return e
}
