package server

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/loop"
	"golang.org/x/sys/unix"
)

// acceptBatch bounds the connections one listener event accepts, so that
// a flood of them cannot starve the loop's open connections; the listener
// is level-triggered and reports the rest in the next iteration.
const acceptBatch = 64

// Accepting pauses on EMFILE, ENFILE, ENOBUFS and ENOMEM for a backoff
// that starts at minBackoff and doubles up to maxBackoff: short enough to
// resume well within 100 ms of descriptors being freed elsewhere (the
// kernel says nothing when they are: only a try finds out), even with a
// loaded machine's late wake-ups on top, and long enough to cost next to
// nothing while they are not (one accept4 per try). Closing one of the
// server's own connections resumes at once.
var (
	minBackoff = time.Millisecond
	maxBackoff = 20 * time.Millisecond
)

// listener is a loop's listening socket.
type listener struct {
	fd      int
	ev      epoll.Events
	shared  *sharedFd // the socket is registered in every loop (SharedQueue); nil: this loop's own
	tok     loop.Token
	timer   *loop.Timer // re-arms accepting after a pause
	backoff time.Duration
	paused  atomic.Bool
	stopped bool
}

// sharedFd is a descriptor several loops hold: the last to let go of it
// closes it.
type sharedFd struct {
	fd   int
	refs atomic.Int32
}

func (f *sharedFd) release() {
	if f.refs.Add(-1) == 0 {
		unix.Close(f.fd)
	}
}

// rawAddr is where accept4 writes a peer's address.
type rawAddr struct {
	sa unix.RawSockaddrAny
	n  uint32
}

// acceptEvents is a worker seen as the handler of its listener.
type acceptEvents worker

func (a *acceptEvents) OnEvent(*loop.Loop, loop.Token, epoll.Events) { (*worker)(a).accept() }

// listen registers the listener in the loop (before Run: at once).
func (w *worker) listen(lis *listener) error {
	w.lis = lis
	lis.timer = w.l.AfterFunc(time.Hour, w.resumeAccept)
	lis.timer.Stop()
	tok, err := w.l.Register(lis.fd, lis.ev, (*acceptEvents)(w))
	if err != nil {
		return err
	}
	lis.tok = tok
	return nil
}

// accept takes up to acceptBatch connections from the listener's queue.
func (w *worker) accept() {
	lis := w.lis
	if lis == nil || lis.tok == 0 {
		return
	}
	accepted := false
	defer func() {
		if accepted && w.s.reserve.Load() < 0 {
			// Spent in a refusal and not reopened then: take it again
			// now that descriptors come, after the connections.
			w.s.refillReserve()
		}
	}()
	for range acceptBatch {
		freed := w.s.freed.Load()
		fd, err := w.accept4()
		if err != nil {
			switch err {
			case unix.EAGAIN:
				return
			case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
				w.pauseAcceptSince(err, freed)
				return
			case unix.ECONNABORTED, unix.EPROTO, unix.EPERM, unix.ENETDOWN, unix.ENOPROTOOPT,
				unix.EHOSTDOWN, unix.ENONET, unix.EHOSTUNREACH, unix.EOPNOTSUPP, unix.ENETUNREACH:
				// accept(2): a connection that failed while queued, passed on
				// as an error of accept; the next may be fine.
				w.st.acceptErrors.Add(1)
				continue
			default:
				w.s.cfg.fault(nil, sysErr("accept4", lis.fd, err))
				w.pauseAccept(err)
				return
			}
		}
		lis.backoff = 0 // a connection came in: the pause, if any, is over
		accepted = true
		w.s.place(w, fd, addrPort(&w.rsa.sa))
	}
}

// pauseAccept takes the listener out of the loop's interest set and sets
// the timer that puts it back. On a new run of EMFILE or ENFILE it first
// refuses the connection at the head of the queue with the reserve
// descriptor, so that its client is answered (an orderly close) instead of
// left waiting without a word.
func (w *worker) pauseAccept(err error) { w.pauseAcceptSince(err, w.s.freed.Load()) }

// pauseAcceptSince is pauseAccept for an accept4 that failed after the
// server's freed count read freed: if a descriptor was freed since, the
// pause ends at once.
func (w *worker) pauseAcceptSince(err error, freed uint64) {
	lis := w.lis
	if lis.stopped || lis.paused.Load() {
		return
	}
	// Paused first: a connection closing meanwhile (during the refusal
	// below) then frees its descriptor at once and moves the freed count,
	// instead of leaving it to its loop's batch, unseen by this pause.
	lis.paused.Store(true)
	w.s.paused.Add(1)
	if (err == unix.EMFILE || err == unix.ENFILE) && lis.backoff == 0 {
		w.refuse()
	}
	if lis.tok != 0 {
		w.l.Unregister(lis.tok)
		lis.tok = 0
	}
	lis.backoff = min(max(2*lis.backoff, minBackoff), maxBackoff)
	w.st.acceptPauses.Add(1)
	w.retryAfter(lis.backoff, freed)
}

// retryAfter sets the listener's timer to d, then to now if the server
// freed a descriptor since its count read freed. The order matters: a close
// moves the count, then resets every paused listener's timer to now; the
// listener is marked paused before this runs, so a close either finds it
// paused, and its reset to now comes after or is seen here as a moved count,
// or moved the count before the check here.
func (w *worker) retryAfter(d time.Duration, freed uint64) {
	w.lis.timer.Reset(d)
	if d > 0 && w.s.freed.Load() != freed {
		w.lis.timer.Reset(0)
	}
}

// resumeAccept ends a pause: it tries one accept4 first, so that while
// descriptors are still out a retry costs that one call and no epoll_ctl,
// and when the queue answers (a connection, or EAGAIN) it puts the
// listener back in the interest set, where, level-triggered, it is
// reported at once if more connections wait.
func (w *worker) resumeAccept() {
	lis := w.lis
	if lis.stopped || !lis.paused.Load() {
		return
	}
	freed := w.s.freed.Load()
	fd, err := w.accept4()
	switch err {
	case nil:
		lis.backoff = 0
		w.s.place(w, fd, addrPort(&w.rsa.sa))
	case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
		lis.backoff = min(2*lis.backoff, maxBackoff)
		w.retryAfter(lis.backoff, freed)
		return
	}
	lis.paused.Store(false)
	w.s.paused.Add(-1)
	tok, err := w.l.Register(lis.fd, lis.ev, (*acceptEvents)(w))
	if err != nil {
		if !isClosed(err) {
			w.s.cfg.fault(nil, err)
			w.pauseAccept(err)
		}
		return
	}
	lis.tok = tok
}

// refuse accepts and closes one connection with the room the reserve
// descriptor makes when closed, then takes the reserve again.
//
// No other loop of the server accepts meanwhile: the room the reserve makes
// would go to whichever accept4 came first, and with the reserve not
// reopened no later connection could be refused.
func (w *worker) refuse() {
	s := w.s
	s.acceptMu.Lock()
	defer s.acceptMu.Unlock()
	r := s.reserve.Swap(-1)
	if r < 0 {
		return // it could not be reopened after the last refusal
	}
	unix.Close(int(r))
	if fd, err := accept4(w.lis.fd, &w.rsa.sa, &w.rsa.n); err == nil {
		// What the client sent already, left unread, would make close(2)
		// answer with a reset instead of the end of the stream: a request
		// or two is read (a client that sends more is reset).
		var b [1024]byte
		for range 4 {
			if n, err := read(fd, b[:]); n < len(b) || err != nil {
				break
			}
		}
		unix.Close(fd)
		w.st.refused.Add(1)
	}
	s.refillReserve()
}

// accept4 takes one connection from the loop's listener, unless a refusal
// of another loop is in progress.
//
// While accepting is paused somewhere, EAGAIN resumes it as a close does:
// accept(2) takes a descriptor before it looks at the queue, so a call that
// finds its queue empty held a free one for a moment, and another loop's
// accept4 in that moment got EMFILE with a descriptor to be had.
func (w *worker) accept4() (int, error) {
	w.s.acceptMu.RLock()
	defer w.s.acceptMu.RUnlock()
	fd, err := accept4(w.lis.fd, &w.rsa.sa, &w.rsa.n)
	if err == unix.EAGAIN && w.s.paused.Load() > 0 {
		w.s.resumeAccepting()
	}
	return fd, err
}

// stopAccepting closes the loop's listener for good.
func (w *worker) stopAccepting() {
	lis := w.lis
	if lis == nil || lis.stopped {
		return
	}
	lis.stopped = true
	lis.timer.Stop()
	if lis.paused.Load() {
		lis.paused.Store(false)
		w.s.paused.Add(-1)
	}
	tok := lis.tok
	lis.tok = 0
	if lis.shared != nil {
		if tok != 0 {
			w.l.Unregister(tok)
		}
		lis.shared.release()
		return
	}
	if tok != 0 {
		// The loop closes the descriptor with its batch, or at once when
		// it is closed itself; only a registration it lost leaves it ours.
		if err := w.l.UnregisterClose(tok); err == nil || isClosed(err) {
			return
		}
	}
	unix.Close(lis.fd)
}

// place gives an accepted connection to its loop: the accepting loop
// itself, or in the Acceptor mode a serving loop, through its Post.
func (s *Server) place(w *worker, fd int, peer netip.AddrPort) {
	if !w.accepting {
		w.adopt(fd, peer)
		return
	}
	t := s.pick()
	t.inflight.Add(1)
	if err := t.l.Post(func() { t.inflight.Add(-1); t.adopt(fd, peer) }); err != nil {
		t.inflight.Add(-1)
		unix.Close(fd)
	}
}

// pick chooses the serving loop for the next handed-over connection.
func (s *Server) pick() *worker {
	if s.cfg.balance == LeastConnections {
		best := s.workers[0]
		load := best.st.open.Load() + best.inflight.Load()
		for _, w := range s.workers[1:] {
			if l := w.st.open.Load() + w.inflight.Load(); l < load {
				best, load = w, l
			}
		}
		return best
	}
	return s.workers[int(s.rr.Add(1)-1)%len(s.workers)]
}
