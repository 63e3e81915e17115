package server

import (
	"context"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/errs"
	"golang.org/x/sys/unix"
)

// Handler is what a stream server (tcp, tcp4, tcp6, unix) calls, on the
// loop that serves the connection, one call at a time per loop. No method
// may block: while one runs, no other connection of its loop is served.
type Handler interface {
	// OnOpen is called once for a new connection, before any OnData.
	OnOpen(c *Conn)
	// OnData is called when bytes have arrived (and when Wake asks). The
	// handler consumes what it can with Next or Discard; what it leaves is
	// kept for the next call, up to the read limit.
	OnData(c *Conn)
	// OnClose is called once when the connection is closed, with why: nil
	// after Close, io.EOF when the peer ended the stream (io.ErrUnexpectedEOF
	// when it did so in the middle of bytes the handler left unread),
	// ErrServerClosed, a timeout (ErrIdleTimeout, ErrReadTimeout,
	// ErrWriteTimeout), ErrReadLimit, the kernel's error (ECONNRESET, EPIPE,
	// ETIMEDOUT, as an *epoll.Error), or a *loop.PanicError when a handler
	// panicked. The connection's descriptor is closed; its methods fail.
	OnClose(c *Conn, err error)
}

// EOFHandler is implemented by a Handler that goes on writing after the
// peer has ended its side of the stream (shutdown(2) SHUT_WR, a half-close).
// Without it the server closes such a connection once its queued output is
// written, with io.EOF. With it, OnEOF is called instead, after the last
// OnData, and the connection stays open for writing until the handler
// closes it (its timeouts still apply).
type EOFHandler interface {
	OnEOF(c *Conn)
}

// NopHandler has Handler's methods, doing nothing: embed it in a handler
// that needs only some of them, or in a UDP PacketHandler.
type NopHandler struct{}

// OnOpen does nothing.
func (NopHandler) OnOpen(*Conn) {}

// OnData does nothing: the bytes stay unread.
func (NopHandler) OnData(*Conn) {}

// OnClose does nothing.
func (NopHandler) OnClose(*Conn, error) {}

// Server serves one address on a set of loops. Its methods may be called
// from any goroutine.
type Server struct {
	cfg     config
	ep      endpoint
	addr    net.Addr
	h       Handler
	eofh    EOFHandler
	ph      PacketHandler
	workers []*worker // the serving loops
	acc     *worker   // the Acceptor mode's accepting loop, or nil
	reserve atomic.Int32
	// acceptMu keeps a refusal's three steps (close the reserve, accept,
	// close) from losing the room it makes to another loop's accept4: every
	// accept4 holds it shared, a refusal holds it alone.
	acceptMu sync.RWMutex
	paused   atomic.Int32 // listeners paused by an accept error
	// freed counts the signs, while accepting is paused, that a descriptor
	// is free: a connection the server closed, an accept4 that found its
	// queue empty (it held a free descriptor for a moment). A loop reads it
	// before its accept4: if it moved by the time the loop has paused, the
	// loop tries again at once instead of sleeping out its backoff.
	freed   atomic.Uint64
	rr      atomic.Uint32
	open    atomic.Int64
	drained chan struct{} // a close brought open to 0 during Shutdown

	mu       sync.Mutex
	state    int
	shutting atomic.Bool
}

const (
	stateIdle = iota
	stateServing
	stateClosed
)

// Listen opens the listening sockets (or, for UDP, the sockets) and the
// loops of a server for network and addr, as net.Listen names them: "tcp",
// "tcp4", "tcp6" ("host:port"; an empty host listens on every address,
// IPv6 and IPv4 for "tcp"), "unix" (a path; "@name" for the abstract
// namespace), "udp", "udp4", "udp6". Nothing is served until Serve. For UDP
// h must also be a PacketHandler.
//
// Errors (an *epoll.Error naming the call): EINVAL for an unknown network,
// a bad address or option, or a UDP handler without OnPacket; the kernel's
// error of socket, setsockopt, bind or listen (EADDRINUSE, EACCES); those
// of loop.New.
func Listen(network, addr string, h Handler, opts ...Option) (*Server, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, invalid("Listen", "nil handler")
	}
	ep, err := resolve(network, addr)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, ep: ep, h: h, drained: make(chan struct{}, 1)}
	s.eofh, _ = h.(EOFHandler)
	s.reserve.Store(-1)
	if ep.network == "udp" {
		ph, ok := h.(PacketHandler)
		if !ok {
			return nil, invalid("Listen", "a UDP server's handler must have OnPacket (PacketHandler)")
		}
		s.ph = ph
	}
	if err := s.build(); err != nil {
		s.release()
		return nil, err
	}
	return s, nil
}

// build makes the loops and the sockets.
func (s *Server) build() error {
	for i := range s.cfg.loops {
		w, err := newWorker(s, i, false)
		if err != nil {
			return err
		}
		s.workers = append(s.workers, w)
	}
	if s.ep.network == "udp" {
		return s.openUDP()
	}
	if fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
		s.reserve.Store(int32(fd))
	}
	mode := s.cfg.mode
	if mode == MultiQueue && s.ep.network == "unix" {
		mode = SharedQueue // a path cannot be bound twice
	}
	switch mode {
	case MultiQueue:
		return s.listenEach()
	case SharedQueue:
		return s.listenShared()
	default:
		w, err := newWorker(s, len(s.workers), true)
		if err != nil {
			return err
		}
		s.acc = w
		fd, err := s.ep.open(&s.cfg, false)
		if err != nil {
			return err
		}
		s.addr = localAddr(s.ep.network, fd)
		if err := w.listen(&listener{fd: fd, ev: epoll.In}); err != nil {
			unix.Close(fd)
			w.lis = nil
			return err
		}
		return nil
	}
}

// listenEach gives every loop a SO_REUSEPORT socket of its own.
func (s *Server) listenEach() error {
	return s.openEach(func(w *worker, fd int) error {
		if err := w.listen(&listener{fd: fd, ev: epoll.In}); err != nil {
			w.lis = nil
			return err
		}
		return nil
	})
}

// openEach opens a SO_REUSEPORT socket per loop, on the port the first one
// got, and hands each to use, which registers it or fails (the socket is
// then closed).
func (s *Server) openEach(use func(w *worker, fd int) error) error {
	ep := s.ep
	for i, w := range s.workers {
		fd, err := ep.open(&s.cfg, true)
		if err != nil {
			return err
		}
		if err := use(w, fd); err != nil {
			unix.Close(fd)
			return err
		}
		if i == 0 {
			s.addr = localAddr(ep.network, fd)
			if ap, ok := addrPortOf(s.addr); ok {
				ep = ep.withPort(int(ap.Port()))
			}
		}
	}
	return nil
}

// listenShared registers one socket in every loop with EPOLLEXCLUSIVE.
func (s *Server) listenShared() error {
	fd, err := s.ep.open(&s.cfg, false)
	if err != nil {
		return err
	}
	s.addr = localAddr(s.ep.network, fd)
	sh := &sharedFd{fd: fd}
	sh.refs.Store(1) // Listen's own, let go below
	defer sh.release()
	for _, w := range s.workers {
		sh.refs.Add(1)
		if err := w.listen(&listener{fd: fd, ev: epoll.In | epoll.Exclusive, shared: sh}); err != nil {
			sh.release()
			w.lis = nil
			return err
		}
	}
	return nil
}

// loops returns every loop of the server, the accepting one last.
func (s *Server) loops() []*worker {
	if s.acc == nil {
		return s.workers
	}
	return append(s.workers[:len(s.workers):len(s.workers)], s.acc)
}

// Addr returns the address the server listens on: with port 0 in Listen's
// address, the port the kernel chose.
func (s *Server) Addr() net.Addr {
	if s == nil {
		return nil
	}
	return s.addr
}

// Serve runs the server's loops, each on a goroutine of its own locked to
// its OS thread, until Shutdown or Close, or until ctx is done, which
// closes the server at once. It returns nil after Shutdown or Close,
// ctx.Err() when ctx ended it, or the error that stopped a loop (the
// server is then closed).
//
// Errors: ErrClosed when the server was closed or is already serving.
func (s *Server) Serve(ctx context.Context) error {
	if s == nil || s.workers == nil {
		return errs.NotCreated(pkg, "Serve")
	}
	s.mu.Lock()
	if s.state != stateIdle {
		s.mu.Unlock()
		return closedErr("Serve")
	}
	s.state = stateServing
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	all := s.loops()
	type ended struct {
		w   *worker
		err error
	}
	errc := make(chan ended, len(all))
	for _, w := range all {
		go func() { errc <- ended{w, w.l.Run(context.Background())} }()
	}
	var first error
	for range all {
		e := <-errc
		err := e.err
		if err != nil && isClosed(err) && s.closed() {
			err = nil // Close came before this loop's Run began
		}
		if err != nil && first == nil {
			first = err
		}
		if !s.closed() {
			// A loop that stops while the server serves (its error, or
			// its Close) stops the server.
			s.Close()
		}
		// A loop that stopped before the server's closeAll ran on it
		// (closed under the server, or failed) still holds connections
		// and its listener; its goroutine has returned, so this one
		// closes them (closeMu: a Close of the server elsewhere may be
		// running the closeAll it posted, on its own goroutine).
		e.w.l.Close()
		e.w.closeAll()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return first
}

// Shutdown stops the server gracefully: it stops accepting (the listening
// sockets are closed, and a Unix socket's file removed), stops reading
// from every connection, lets each write what it has queued, closes it
// (OnClose gets ErrServerClosed), and when none is left closes the loops,
// so that Serve returns nil. If ctx ends first, the rest is closed at once
// (Close) and Shutdown returns ctx.Err(). Shutdown of a server that is not
// serving closes it.
func (s *Server) Shutdown(ctx context.Context) error {
	if s == nil || s.workers == nil {
		return errs.NotCreated(pkg, "Shutdown")
	}
	s.mu.Lock()
	state := s.state
	s.mu.Unlock()
	if state != stateServing || !s.shutting.CompareAndSwap(false, true) {
		return s.Close()
	}
	s.unlinkPath()
	var wg sync.WaitGroup
	for _, w := range s.loops() {
		wg.Add(1)
		if w.l.Post(func() { defer wg.Done(); w.beginShutdown() }) != nil {
			wg.Done()
		}
	}
	wg.Wait()
	for s.open.Load() > 0 {
		select {
		case <-s.drained:
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		}
	}
	return s.Close()
}

// Close closes the server at once: its listening sockets, every connection
// (OnClose gets ErrServerClosed; what was queued is dropped) and its loops.
// When it returns from a goroutine other than the loops', no handler runs
// any more and Serve returns. Later calls return nil.
func (s *Server) Close() error {
	if s == nil || s.workers == nil {
		return nil
	}
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		return nil
	}
	s.state = stateClosed
	s.mu.Unlock()
	s.shutting.Store(true)
	s.release()
	return nil
}

// release closes the loops (each closing what it holds, on its goroutine
// when it runs) and what the server holds itself.
func (s *Server) release() {
	all := s.loops()
	for _, w := range all {
		w.l.Post(w.closeAll)
	}
	for _, w := range all {
		w.l.Close()
	}
	if r := s.reserve.Swap(-1); r >= 0 {
		unix.Close(int(r))
	}
	s.unlinkPath()
}

// unlinkPath removes the Unix socket's file, once.
func (s *Server) unlinkPath() {
	s.mu.Lock()
	p := s.ep.path
	s.ep.path = ""
	s.mu.Unlock()
	if p != "" && s.addr != nil {
		os.Remove(p)
	}
}

func (s *Server) closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == stateClosed
}

// resumeAccepting resumes paused accepting at once: a descriptor was freed,
// or an accept4 found one free.
func (s *Server) resumeAccepting() {
	s.freed.Add(1)
	for _, w := range s.loops() {
		if lis := w.lis; lis != nil && lis.paused.Load() {
			lis.timer.Reset(0)
		}
	}
}

// dropOpen counts a closed connection, waking Shutdown on the last.
func (s *Server) dropOpen() {
	if s.open.Add(-1) == 0 && s.shutting.Load() {
		select {
		case s.drained <- struct{}{}:
		default:
		}
	}
}

// refillReserve reopens the reserve descriptor if it is spent.
func (s *Server) refillReserve() {
	if s.reserve.Load() >= 0 {
		return
	}
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	if !s.reserve.CompareAndSwap(-1, int32(fd)) {
		unix.Close(fd)
	}
}
