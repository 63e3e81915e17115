package server

import (
	"errors"
	"time"

	"github.com/eventpoll/eventpoll/loop"
	"golang.org/x/sys/unix"
)

// LingerTimeout bounds the two waits of a closing connection (see
// Conn.Close): for its queued output to make progress when no write
// timeout is set, and, once the queue has drained and the connection's end
// is sent, for the peer to acknowledge more of what was sent.
const LingerTimeout = 5 * time.Second

// lingerTimeout is LingerTimeout, shortened by tests.
var lingerTimeout = LingerTimeout

// A lingering connection looks at its unacknowledged bytes after
// minLingerPoll, then at intervals doubling up to maxLingerPoll.
const (
	minLingerPoll = time.Millisecond
	maxLingerPoll = 50 * time.Millisecond
)

// errLinger marks the deadline of a lingering connection's next look.
var errLinger = errors.New("linger")

// connTimer is a connection's timeouts, on one loop timer that is re-armed
// lazily: reading and writing only store the time, and the timer, when it
// fires, works out which deadline has really passed and sets itself for the
// next one. A busy connection costs one timer run per timeout period, not a
// heap operation per read.
type connTimer struct {
	t          *loop.Timer
	idle       int64 // nanoseconds, 0: none
	read       int64
	write      int64
	lastIO     int64 // loop time of the last byte read or written
	heldSince  int64 // since when bytes wait unread; 0: none
	progress   int64 // loop time of the last write progress while output is queued
	lingerEnd  int64 // lingering: when to stop waiting for the peer; 0: not lingering
	lingerNext int64 // lingering: when to look again
	lingerStep int64
	lingerOut  int   // the unacknowledged bytes at the last look
	armed      int64 // the deadline the timer is set for; 0: not set
}

// timer returns the connection's timeouts, made on first use.
func (c *Conn) timer() *connTimer {
	if c.tm == nil {
		c.tm = &connTimer{lastIO: c.w.now()}
	}
	return c.tm
}

// startTimer gives a new connection the server's timeouts.
func (c *Conn) startTimer() {
	cfg := &c.w.s.cfg
	if cfg.idle == 0 && cfg.read == 0 && cfg.write == 0 {
		return
	}
	tm := c.timer()
	tm.idle, tm.read, tm.write = int64(cfg.idle), int64(cfg.read), int64(cfg.write)
	c.arm()
}

// deadline returns the earliest deadline that applies now, 0 for none,
// and the error the connection closes with when it passes.
func (c *Conn) deadline() (int64, error) {
	tm := c.tm
	var when int64
	var why error
	consider := func(d int64, err error) {
		if when == 0 || d < when {
			when, why = d, err
		}
	}
	if c.out.n > 0 {
		wt := tm.write
		if wt == 0 && c.flags&fClosing != 0 {
			wt = int64(lingerTimeout)
		}
		if wt > 0 {
			consider(tm.progress+wt, ErrWriteTimeout)
		}
	}
	// While the server does not read (the output queue passed the high
	// mark), bytes wait unread by its choice, not the peer's.
	if tm.read > 0 && tm.heldSince != 0 && c.flags&(fClosing|fPaused) == 0 {
		consider(tm.heldSince+tm.read, ErrReadTimeout)
	}
	if tm.idle > 0 && c.flags&fClosing == 0 {
		consider(tm.lastIO+tm.idle, ErrIdleTimeout)
	}
	if tm.lingerEnd != 0 {
		consider(tm.lingerNext, errLinger)
	}
	return when, why
}

// arm sets the timer for the earliest deadline when it is set for a later
// one (or none); a deadline that moved later is found when the timer fires.
func (c *Conn) arm() {
	tm := c.tm
	when, _ := c.deadline()
	if when == 0 || tm.armed != 0 && tm.armed <= when {
		return
	}
	tm.armed = when
	d := time.Duration(when - c.w.now())
	if tm.t == nil {
		tm.t = c.w.l.AfterFunc(d, c.timedOut)
		return
	}
	tm.t.Reset(d)
}

// timedOut runs on the loop when the timer fires.
func (c *Conn) timedOut() {
	if c.flags&fClosed != 0 {
		return
	}
	c.tm.armed = 0
	when, why := c.deadline()
	if when != 0 && when <= c.w.now() {
		if why == errLinger {
			c.lingerPoll()
			return
		}
		c.abort(why)
		return
	}
	c.arm()
}

// drainBounded makes sure a closing connection with output queued has a
// timer to bound the drain (LingerTimeout without progress, when no write
// timeout is set).
func (c *Conn) drainBounded() {
	if c.out.n == 0 {
		return
	}
	tm := c.timer()
	if tm.progress == 0 {
		tm.progress = c.w.now()
	}
	c.arm()
}

// linger closes the connection, whose end has been sent after all its
// output, once the peer's kernel has acknowledged all of it (SIOCOUTQ is
// 0), or once the peer ended its side (see ended), or after LingerTimeout
// without progress. Closing earlier would risk a reset: close(2) sends one
// when input is unread, and a closed socket answers the peer's later data
// with one, either of which drops what was still on its way to the peer.
// A Unix socket hands its bytes over at once: it closes now.
func (c *Conn) linger() {
	if c.w.s.ep.network == "unix" {
		c.dropInput()
		c.finish(c.err)
		return
	}
	out := c.unacked()
	if out == 0 {
		c.dropInput()
		c.finish(c.err)
		return
	}
	tm := c.timer()
	if tm.lingerEnd == 0 {
		now := c.w.now()
		tm.lingerEnd = now + int64(lingerTimeout)
		tm.lingerStep = int64(minLingerPoll)
		tm.lingerNext = now + tm.lingerStep
		tm.lingerOut = out
		c.arm()
	}
}

// lingerPoll is a lingering connection's look at what the peer has not
// acknowledged.
func (c *Conn) lingerPoll() {
	tm := c.tm
	now := c.w.now()
	out := c.unacked()
	if out == 0 || now >= tm.lingerEnd {
		c.dropInput()
		c.finish(c.err)
		return
	}
	if out < tm.lingerOut {
		tm.lingerOut = out
		tm.lingerEnd = now + int64(lingerTimeout)
	}
	tm.lingerStep = min(2*tm.lingerStep, int64(maxLingerPoll))
	tm.lingerNext = now + tm.lingerStep
	c.arm()
}

// unacked returns the bytes sent and not yet acknowledged by the peer
// (ioctl SIOCOUTQ), 0 when the kernel does not say.
func (c *Conn) unacked() int {
	n, err := unix.IoctlGetInt(int(c.fd), unix.SIOCOUTQ)
	if err != nil {
		return 0
	}
	return n
}

// dropInput reads and drops what the socket holds, so that close(2) finds
// nothing unread and ends the connection with a FIN rather than a reset.
func (c *Conn) dropInput() {
	for range 4 {
		n, err := read(int(c.fd), c.w.buf)
		if err != nil || n < len(c.w.buf) {
			return
		}
	}
}

// SetIdleTimeout sets the connection's idle timeout (see WithIdleTimeout),
// counted from the last byte read or written; 0 turns it off.
func (c *Conn) SetIdleTimeout(d time.Duration) error {
	return c.setTimeout("SetIdleTimeout", d, func(tm *connTimer) { tm.idle = int64(d) })
}

// SetReadTimeout sets the connection's read timeout (see WithReadTimeout);
// 0 turns it off.
func (c *Conn) SetReadTimeout(d time.Duration) error {
	return c.setTimeout("SetReadTimeout", d, func(tm *connTimer) { tm.read = int64(d) })
}

// SetWriteTimeout sets the connection's write timeout (see
// WithWriteTimeout), counted from the last progress of its queued output;
// 0 turns it off.
func (c *Conn) SetWriteTimeout(d time.Duration) error {
	return c.setTimeout("SetWriteTimeout", d, func(tm *connTimer) { tm.write = int64(d) })
}

func (c *Conn) setTimeout(call string, d time.Duration, set func(*connTimer)) error {
	if !c.usable() {
		return closedErr(call)
	}
	if d < 0 {
		return invalid(call, "negative timeout "+d.String())
	}
	if d == 0 && c.tm == nil {
		return nil
	}
	set(c.timer())
	c.arm()
	return nil
}
