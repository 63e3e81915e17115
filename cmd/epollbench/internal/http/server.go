package http

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"golang.org/x/sys/unix"
)

// server is a dphttpd-like server: one OS thread, non-blocking sockets
// handled with raw system calls, one static page for every request, HTTP/1.1
// keep-alive. Its engine decides how it waits: poll(2) over every connection
// or an epoll instance.
type server struct {
	engine   string
	lfd      int
	addr     string
	stopping atomic.Bool
	accepted atomic.Int64
	errors   atomic.Int64 // connections dropped for a malformed request or a short write

	conns map[int]*conn

	// poll engine
	pfds []unix.PollFd
	// epoll engine
	ep  *epoll.Instance
	evs []epoll.Event
}

// conn is one accepted connection and the request bytes read so far.
type conn struct {
	fd  int
	buf []byte
	n   int
}

func newServer(engine string) (*server, error) {
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	unix.SetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(lfd)
		return nil, fmt.Errorf("bind 127.0.0.1:0: %w", err)
	}
	// The kernel caps the backlog at net.core.somaxconn; the dialler of dead
	// connections waits for the server to keep up so it is never exceeded.
	if err := unix.Listen(lfd, 4096); err != nil {
		unix.Close(lfd)
		return nil, fmt.Errorf("listen: %w", err)
	}
	sa, err := unix.Getsockname(lfd)
	if err != nil {
		unix.Close(lfd)
		return nil, fmt.Errorf("getsockname: %w", err)
	}
	s := &server{engine: engine, lfd: lfd, conns: map[int]*conn{}}
	s.addr = "127.0.0.1:" + strconv.Itoa(sa.(*unix.SockaddrInet4).Port)
	switch engine {
	case enginePoll:
		s.pfds = append(s.pfds, unix.PollFd{Fd: int32(lfd), Events: unix.POLLIN})
	case engineEpoll:
		if s.ep, err = epoll.New(); err != nil {
			unix.Close(lfd)
			return nil, err
		}
		if err := s.ep.Add(lfd, epoll.In, uint64(lfd)); err != nil {
			s.ep.Close()
			unix.Close(lfd)
			return nil, err
		}
		s.evs = make([]epoll.Event, 256)
	default:
		unix.Close(lfd)
		return nil, fmt.Errorf("unknown engine %q", engine)
	}
	return s, nil
}

// serve runs the server on a locked OS thread until stop, then closes
// every connection and the listener.
func (s *server) serve() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer s.shutdown()
	for !s.stopping.Load() {
		var err error
		if s.engine == enginePoll {
			err = s.pollOnce()
		} else {
			err = s.epollOnce()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// stop makes serve return; the server sees it within its wait timeout.
func (s *server) stop() { s.stopping.Store(true) }

func (s *server) shutdown() {
	for fd := range s.conns {
		closeFd(fd)
	}
	s.conns = nil
	if s.ep != nil {
		s.ep.Close()
	}
	unix.Close(s.lfd)
}

// pollOnce is one iteration of the poll engine: the whole array to the kernel,
// then a scan of the whole array for what is ready.
func (s *server) pollOnce() error {
	k, err := unix.Poll(s.pfds, serverPollMs)
	if err == unix.EINTR {
		return nil
	}
	if err != nil {
		return fmt.Errorf("poll: %w", err)
	}
	closed := false
	n := len(s.pfds) // accepted connections are appended past n: not ready yet
	for i := 0; i < n && k > 0; i++ {
		if s.pfds[i].Revents == 0 {
			continue
		}
		k--
		fd := int(s.pfds[i].Fd)
		if fd == s.lfd {
			if err := s.accept(); err != nil {
				return err
			}
			continue
		}
		if !s.handle(fd) {
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
	return nil
}

// epollOnce is one iteration of the epoll engine: only ready connections come
// back, each with its descriptor as data.
func (s *server) epollOnce() error {
	k, err := s.ep.Wait(s.evs, serverPollMs*time.Millisecond)
	if err != nil {
		return err
	}
	for _, ev := range s.evs[:k] {
		fd := int(ev.Data())
		if fd == s.lfd {
			if err := s.accept(); err != nil {
				return err
			}
			continue
		}
		s.handle(fd)
	}
	return nil
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
		c := &conn{fd: fd, buf: make([]byte, 1024)}
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
