package peers

import (
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"sync"

	"github.com/eventpoll/eventpoll/bench/plaintext"
)

// The standard library's way: a goroutine per connection, blocking reads and
// writes that the runtime's netpoller (one epoll instance for the process)
// turns into parked goroutines. The echo server is the net package's own
// Listener example, io.Copy(c, c), which on Linux splices through a pipe
// (net/splice_linux.go) while a connection is served. The HTTP server reads
// into a 4 KiB buffer per connection and answers with the shared parser.
func init() {
	Register(Impl{
		Name: "net",
		Apps: []App{Echo, HTTP},
		Doc:  "net: a goroutine per connection on the runtime's netpoller; Loops is GOMAXPROCS",
		New:  func() Server { return new(netServer) },
	})
	Register(Impl{
		Name: "nethttp",
		Apps: []App{HTTP},
		Doc:  "net/http: http.Server, a goroutine per connection with bufio buffers",
		New:  func() Server { return new(nethttpServer) },
	})
}

type netServer struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (s *netServer) Start(cfg Config) error {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	s.ln, s.conns = ln, map[net.Conn]struct{}{}
	serve := netEcho
	if cfg.App == HTTP {
		serve = netHTTP
	}
	s.wg.Add(1)
	go s.accept(serve)
	return nil
}

func (s *netServer) accept(serve func(net.Conn)) {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // EMFILE and the like: the listener goes on
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			serve(c)
			c.Close()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

func netEcho(c net.Conn) { io.Copy(c, c) }

func netHTTP(c net.Conn) {
	in := make([]byte, 4096)
	var out []byte
	have := 0
	for {
		n, err := c.Read(in[have:])
		if n == 0 {
			return // err is io.EOF or the reason the connection ended
		}
		have += n
		var used int
		var perr error
		out, used, perr = plaintext.AppendResponses(out[:0], in[:have])
		if len(out) > 0 {
			if _, err := c.Write(out); err != nil {
				return
			}
		}
		have = copy(in, in[used:have])
		if perr != nil || err != nil {
			return
		}
		if have == len(in) {
			in = append(in, make([]byte, len(in))...)
		}
	}
}

func (s *netServer) Memory() Memory { return GoMemory() }

func (s *netServer) Stop() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

type nethttpServer struct {
	srv  *http.Server
	done chan error
}

func (s *nethttpServer) Start(cfg Config) error {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	s.srv = &http.Server{Handler: plaintext.Handler(), ErrorLog: log.New(io.Discard, "", 0)}
	s.done = make(chan error, 1)
	go func() { s.done <- s.srv.Serve(ln) }()
	return nil
}

func (s *nethttpServer) Memory() Memory { return GoMemory() }

func (s *nethttpServer) Stop() error {
	err := s.srv.Close()
	if serveErr := <-s.done; err == nil && !errors.Is(serveErr, http.ErrServerClosed) {
		err = serveErr
	}
	return err
}
