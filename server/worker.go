package server

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventpoll/eventpoll/loop"
	"golang.org/x/sys/unix"
)

// worker is what the server keeps per loop. Everything but the counters
// and the listener's paused flag belongs to the loop's goroutine.
type worker struct {
	s          *Server
	l          *loop.Loop
	id         int
	accepting  bool // the Acceptor mode's accepting loop: serves no connection
	buf        []byte
	readBudget int
	iov        []unix.Iovec
	lis        *listener // nil on a loop that does not accept
	udp        *udpSocket
	conns      []*Conn // open connections; Conn.idx is the position
	again      []*Conn // connections to read again in the next iteration
	spare      []*Conn
	againFn    func()
	posted     bool       // againFn is posted
	closeMu    sync.Mutex // closeAll runs once at a time: on the loop, or after Run returned
	shutting   bool       // Shutdown began on this loop: refuse new connections
	base       time.Time
	inflight   atomic.Int64 // connections handed to this loop and not yet adopted
	st         counters
	rsa        rawAddr // accept4's peer address
}

// newWorker makes loop i of s.
func newWorker(s *Server, id int, accepting bool) (*worker, error) {
	w := &worker{s: s, id: id, accepting: accepting, base: time.Now()}
	opts := []loop.Option{
		loop.WithEngine(s.cfg.engine),
		loop.WithFaultHandler(w.loopFault),
	}
	if len(s.cfg.cpus) > 0 && !accepting {
		opts = append(opts, loop.WithCPU(s.cfg.cpus[id%len(s.cfg.cpus)]))
	}
	opts = append(opts, s.cfg.loopOpts...)
	l, err := loop.New(opts...)
	if err != nil {
		return nil, err
	}
	w.l = l
	if !accepting && s.ep.network != "udp" {
		w.buf = make([]byte, s.cfg.readBuf)
		w.readBudget = 4 * s.cfg.readBuf
		w.iov = make([]unix.Iovec, 0, maxIovecs)
	}
	w.againFn = w.readAgain
	return w, nil
}

// now returns the loop's monotonic time in nanoseconds, never 0.
func (w *worker) now() int64 { return int64(time.Since(w.base)) + 1 }

// readLater puts c on the list of connections read in the loop's next
// iteration.
func (w *worker) readLater(c *Conn) {
	if c.flags&fAgain != 0 {
		return
	}
	c.flags |= fAgain
	w.again = append(w.again, c)
	if !w.posted && w.l.Post(w.againFn) == nil {
		w.posted = true
	}
}

// readAgain reads the connections put aside by readLater, until EAGAIN:
// the event that would have told of their input came while they were not
// read, or was cut short by the budget.
func (w *worker) readAgain() {
	w.posted = false
	list := w.again
	w.again = w.spare[:0]
	for i, c := range list {
		list[i] = nil
		c.flags &^= fAgain
		if c.flags&fClosed == 0 {
			c.readable(true)
		}
	}
	w.spare = list[:0]
}

// adopt makes fd, a connection accepted by this loop or handed to it,
// one of its connections.
func (w *worker) adopt(fd int, peer netip.AddrPort) {
	if w.shutting {
		unix.Close(fd)
		return
	}
	c := &Conn{w: w, fd: int32(fd), peer: peerOf(peer)}
	tok, err := w.l.Register(fd, connInterest, (*connEvents)(c))
	if err != nil {
		unix.Close(fd)
		if !isClosed(err) { // a hand-over that reached a loop being closed is no fault
			w.s.cfg.fault(nil, err)
		}
		return
	}
	c.tok = tok
	c.idx = int32(len(w.conns))
	w.conns = append(w.conns, c)
	w.st.accepted.Add(1)
	w.st.open.Add(1)
	w.s.open.Add(1)
	c.startTimer()
	c.callOpen()
	c.settle()
}

// remove takes c out of the loop's list of open connections.
func (w *worker) remove(c *Conn) {
	last := len(w.conns) - 1
	if i := int(c.idx); i != last {
		w.conns[i] = w.conns[last]
		w.conns[i].idx = int32(i)
	}
	w.conns[last] = nil
	w.conns = w.conns[:last]
	w.st.open.Add(-1)
	w.s.dropOpen()
}

// loopFault is the loop's fault handler. A deferred Register the kernel
// refused (ENOSPC past max_user_watches, ENOMEM) removed a connection's
// registration or the listener's: the connection is closed with the
// error, the listener paused and retried.
func (w *worker) loopFault(t loop.Token, err error) {
	var pe *loop.PanicError
	if errors.As(err, &pe) {
		w.s.cfg.fault(nil, err)
		return
	}
	if lis := w.lis; lis != nil && lis.tok == t {
		lis.tok = 0
		w.s.cfg.fault(nil, err)
		w.pauseAccept(err)
		return
	}
	for _, c := range w.conns {
		if c.tok == t {
			c.abort(err)
			return
		}
	}
	w.s.cfg.fault(nil, err)
}

// beginShutdown stops the loop's accepting and closes each connection
// once its queued output is written.
func (w *worker) beginShutdown() {
	w.shutting = true
	w.stopAccepting()
	for i := len(w.conns) - 1; i >= 0; i-- {
		if i < len(w.conns) {
			w.conns[i].closeWith(ErrServerClosed)
		}
	}
	if w.udp != nil {
		w.udp.flushSends()
	}
}

// closeAll closes everything the loop holds, at once.
func (w *worker) closeAll() {
	w.closeMu.Lock()
	defer w.closeMu.Unlock()
	w.shutting = true
	w.stopAccepting()
	for len(w.conns) > 0 {
		c := w.conns[len(w.conns)-1]
		c.flags &^= fInHandler // Close from a handler: it will not return to settle
		c.err = ErrServerClosed
		c.finish(ErrServerClosed)
	}
	if w.udp != nil {
		w.udp.close()
	}
}
