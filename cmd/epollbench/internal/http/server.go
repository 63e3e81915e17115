package http

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	evserver "github.com/eventpoll/eventpoll/server"
	"github.com/eventpoll/eventpoll/source"
	"golang.org/x/sys/unix"
)

// server is a dphttpd-like server: one OS thread, non-blocking sockets
// handled with raw system calls, one static page for every request, HTTP/1.1
// keep-alive. Its engine decides how it waits: poll(2) over every connection
// or an epoll instance. Either way it waits without a timeout: stop wakes
// it through a Notifier (an eventfd) it watches beside the listener, so it
// ends at once, and an idle server is never woken for nothing. The reactor
// engine is package server on one loop instead (reactor.go); stop cancels
// the context it serves with.
type server struct {
	engine   string
	lfd      int
	addr     string
	wake     *source.Notifier
	wakeFd   int
	accepted atomic.Int64
	errors   atomic.Int64 // connections dropped for a malformed request or a short write
	waits    int          // wait calls made, read once serve has returned

	conns map[int]*conn

	// poll engine
	pfds []unix.PollFd
	// epoll engine
	ep  *epoll.Instance
	evs []epoll.Event
	// reactor engine
	rs     *evserver.Server
	ctx    context.Context
	cancel context.CancelFunc
}

// conn is one accepted connection and the request bytes read so far.
type conn struct {
	fd  int
	buf []byte
	n   int
}

func newServer(engine string) (_ *server, err error) {
	if engine == engineReactor {
		return newReactor(&server{engine: engine, lfd: -1})
	}
	if engine != enginePoll && engine != engineEpoll {
		return nil, fmt.Errorf("unknown engine %q", engine)
	}
	s := &server{engine: engine, lfd: -1, conns: map[int]*conn{}}
	defer func() {
		if err != nil {
			s.shutdown()
		}
	}()
	if s.lfd, s.addr, err = listen(); err != nil {
		return nil, err
	}
	if s.wake, err = source.NewNotifier(); err != nil {
		return nil, err
	}
	s.wakeFd = s.wake.Fd()
	if engine == enginePoll {
		s.pfds = append(s.pfds, unix.PollFd{Fd: int32(s.lfd), Events: unix.POLLIN}, unix.PollFd{Fd: int32(s.wakeFd), Events: unix.POLLIN})
		return s, nil
	}
	if s.ep, err = epoll.New(); err != nil {
		return nil, err
	}
	for _, fd := range []int{s.lfd, s.wakeFd} {
		if err := s.ep.Add(fd, epoll.In, uint64(fd)); err != nil {
			return nil, err
		}
	}
	s.evs = make([]epoll.Event, 256)
	return s, nil
}

// listen makes the non-blocking listener on a free loopback port.
func listen() (fd int, addr string, err error) {
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, "", fmt.Errorf("socket: %w", err)
	}
	unix.SetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(lfd)
		return -1, "", fmt.Errorf("bind 127.0.0.1:0: %w", err)
	}
	// The kernel caps the backlog at net.core.somaxconn; the dialler of dead
	// connections waits for the server to keep up so it is never exceeded.
	if err := unix.Listen(lfd, 4096); err != nil {
		unix.Close(lfd)
		return -1, "", fmt.Errorf("listen: %w", err)
	}
	sa, err := unix.Getsockname(lfd)
	if err != nil {
		unix.Close(lfd)
		return -1, "", fmt.Errorf("getsockname: %w", err)
	}
	return lfd, "127.0.0.1:" + strconv.Itoa(sa.(*unix.SockaddrInet4).Port), nil
}

// serve runs the server on a locked OS thread until stop, then closes
// every connection and the listener.
func (s *server) serve() error {
	if s.rs != nil {
		return s.serveReactor()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer s.shutdown()
	for {
		s.waits++
		var stopped bool
		var err error
		if s.engine == enginePoll {
			stopped, err = s.pollOnce()
		} else {
			stopped, err = s.epollOnce()
		}
		if err != nil || stopped {
			return err
		}
	}
}

// stop makes serve return: it wakes the server's wait, which returns the
// Notifier's event, and serve returns after the events that came with it.
// It may be called before serve, and from any goroutine.
func (s *server) stop() {
	if s.rs != nil {
		s.cancel()
		return
	}
	s.wake.Notify()
}

func (s *server) shutdown() {
	for fd := range s.conns {
		closeFd(fd)
	}
	s.conns = nil
	if s.ep != nil {
		s.ep.Close()
	}
	if s.wake != nil {
		s.wake.Close()
	}
	if s.lfd >= 0 {
		unix.Close(s.lfd)
	}
}

// pollOnce is one iteration of the poll engine: the whole array to the
// kernel, then a scan of the whole array for what is ready. It reports
// whether stop woke it.
func (s *server) pollOnce() (stopped bool, err error) {
	k, err := unix.Poll(s.pfds, -1)
	if err == unix.EINTR {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("poll: %w", err)
	}
	closed := false
	n := len(s.pfds) // accepted connections are appended past n: not ready yet
	for i := 0; i < n && k > 0; i++ {
		if s.pfds[i].Revents == 0 {
			continue
		}
		k--
		stop, gone, err := s.ready(int(s.pfds[i].Fd))
		if err != nil {
			return false, err
		}
		stopped = stopped || stop
		if gone {
			s.pfds[i].Fd = -1 // poll ignores negative descriptors; removed below
			closed = true
		}
	}
	if closed {
		j := 0
		for _, p := range s.pfds {
			if p.Fd >= 0 {
				s.pfds[j] = p
				j++
			}
		}
		s.pfds = s.pfds[:j]
	}
	return stopped, nil
}

// epollOnce is one iteration of the epoll engine: only ready connections
// come back, each with its descriptor as data. It reports whether stop
// woke it.
func (s *server) epollOnce() (stopped bool, err error) {
	k, err := s.ep.Wait(s.evs, -1)
	if err != nil {
		return false, err
	}
	for _, ev := range s.evs[:k] {
		stop, _, err := s.ready(int(ev.Data()))
		if err != nil {
			return false, err
		}
		stopped = stopped || stop
	}
	return stopped, nil
}

// ready handles a descriptor a wait found ready: the listener accepts, the
// Notifier means stop, a connection is served. closed reports that the
// connection was closed.
func (s *server) ready(fd int) (stop, closed bool, err error) {
	switch fd {
	case s.lfd:
		return false, false, s.accept()
	case s.wakeFd:
		return true, false, nil
	}
	return false, !s.handle(fd), nil
}

// accept takes every pending connection, until EAGAIN.
func (s *server) accept() error {
	for {
		fd, _, err := unix.Accept4(s.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch err {
		case nil:
		case unix.EAGAIN:
			return nil
		case unix.EINTR, unix.ECONNABORTED:
			continue
		case unix.EMFILE, unix.ENFILE:
			return fmt.Errorf("accept4: %w (raise RLIMIT_NOFILE or use fewer dead connections)", err)
		default:
			return fmt.Errorf("accept4: %w", err)
		}
		c := &conn{fd: fd, buf: make([]byte, requestBuf)}
		s.conns[fd] = c
		if s.engine == enginePoll {
			s.pfds = append(s.pfds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		} else if err := s.ep.Add(fd, epoll.In, uint64(fd)); err != nil {
			return err
		}
		s.accepted.Add(1)
	}
}

// handle reads what fd has and answers every complete request in it. It
// returns false when the connection was closed.
func (s *server) handle(fd int) bool {
	c := s.conns[fd]
	if c == nil {
		return false
	}
	n, err := unix.Read(fd, c.buf[c.n:])
	if err == unix.EAGAIN || err == unix.EINTR {
		return true
	}
	if err != nil || n == 0 {
		s.drop(c, false)
		return false
	}
	c.n += n
	for {
		end := bytes.Index(c.buf[:c.n], []byte("\r\n\r\n"))
		if end < 0 {
			if c.n == len(c.buf) {
				s.drop(c, true) // a request header larger than the buffer
				return false
			}
			return true
		}
		// A keep-alive client waits for each reply before the next request,
		// so the socket buffer always has room: a short write is an error.
		if w, err := unix.Write(fd, response); err != nil || w != len(response) {
			s.drop(c, true)
			return false
		}
		copy(c.buf, c.buf[end+4:c.n])
		c.n -= end + 4
	}
}

func (s *server) drop(c *conn, isErr bool) {
	if isErr {
		s.errors.Add(1)
	}
	if s.ep != nil {
		s.ep.Delete(c.fd) // before close, so the number's registration dies with it
	}
	delete(s.conns, c.fd)
	closeFd(c.fd)
}

// closeFd closes a socket abortively (SO_LINGER 0: an RST, no TIME_WAIT)
// so that tens of thousands of connections per run do not use up the
// loopback's ephemeral ports across runs.
func closeFd(fd int) {
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	unix.Close(fd)
}

// dialDead opens n idle connections to the server and waits until the
// server has accepted them all. They never send a byte.
func dialDead(s *server, n int) ([]int, error) {
	fds := make([]int, 0, n)
	sa := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	port, _ := strconv.Atoi(s.addr[len("127.0.0.1:"):])
	sa.Port = port
	base := s.accepted.Load()
	for len(fds) < n {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fds, fmt.Errorf("socket (dead connection %d of %d): %w", len(fds)+1, n, err)
		}
		if err := unix.Connect(fd, sa); err != nil {
			unix.Close(fd)
			return fds, fmt.Errorf("connect (dead connection %d of %d): %w", len(fds)+1, n, err)
		}
		fds = append(fds, fd)
		if len(fds)%dialBatch == 0 || len(fds) == n {
			// Let the accept queue drain: a full queue drops SYNs, and a
			// dropped SYN is retried only after a second.
			deadline := time.Now().Add(acceptWait)
			for s.accepted.Load()-base < int64(len(fds)) {
				if time.Now().After(deadline) {
					return fds, fmt.Errorf("server accepted %d of %d dead connections in %v",
						s.accepted.Load()-base, len(fds), acceptWait)
				}
				time.Sleep(200 * time.Microsecond)
			}
		}
	}
	return fds, nil
}
