package peers

import (
	"context"
	"errors"
	"fmt"

	"github.com/eventpoll/eventpoll/bench/plaintext"
	"github.com/eventpoll/eventpoll/server"
)

// eventpoll's own server, the implementation under test: Loops loops, each
// an epoll instance driven by one goroutine locked to its thread, that read
// into the loop's buffer and call OnData there; Peek, Next and Discard
// consume the bytes in place, Write goes to the socket at once and queues
// only what it does not take. The three modes are package server's:
// "multiqueue" (the default, a SO_REUSEPORT listener per loop),
// "sharedqueue" (one listener in every loop with EPOLLEXCLUSIVE) and
// "acceptor" (one more loop accepts and hands connections out). The
// handlers are written as a user of package server would, from its
// synopsis and its example.
func init() {
	Register(Impl{
		Name:  "eventpoll",
		Apps:  []App{Echo, HTTP},
		Modes: []string{"multiqueue", "sharedqueue", "acceptor"},
		Ours:  true,
		Doc:   "eventpoll server: loops with callbacks; SO_REUSEPORT listeners, an EPOLLEXCLUSIVE shared one, or an acceptor loop",
		New:   func() Server { return new(eventpollServer) },
	})
}

var eventpollModes = map[string]server.Mode{
	"multiqueue":  server.MultiQueue,
	"sharedqueue": server.SharedQueue,
	"acceptor":    server.Acceptor,
}

type eventpollServer struct {
	srv  *server.Server
	done chan error
}

func (s *eventpollServer) Start(cfg Config) error {
	im, _ := Lookup("eventpoll")
	mode, err := im.Mode(cfg)
	if err != nil {
		return err
	}
	var h server.Handler = epEcho{}
	if cfg.App == HTTP {
		h = epHTTP{}
	}
	// Faults the server survives go to the standard logger (stderr),
	// where the driver shows them: the default fault handler.
	s.srv, err = server.Listen("tcp", cfg.Addr, h,
		server.WithLoops(cfg.Loops),
		server.WithMode(eventpollModes[mode]))
	if err != nil {
		return err
	}
	s.done = make(chan error, 1)
	go func() { s.done <- s.srv.Serve(context.Background()) }()
	return nil
}

// epEcho writes back whatever arrived: the bytes are the loop's read
// buffer, and Write copies only what the socket does not take.
type epEcho struct{ server.NopHandler }

func (epEcho) OnData(c *server.Conn) {
	b, _ := c.Next(-1)
	c.Write(b)
}

// epHTTP answers every complete request received, in order, with one
// Write; an incomplete request stays unread until the rest arrives.
type epHTTP struct{ server.NopHandler }

func (epHTTP) OnData(c *server.Conn) {
	in, _ := c.Peek(-1)
	var buf [4096]byte // on the loop's stack: a batch's responses rarely need more
	out, n, err := plaintext.AppendResponses(buf[:0], in)
	c.Discard(n)
	if len(out) > 0 {
		c.Write(out)
	}
	if err != nil {
		c.Close()
	}
}

func (s *eventpollServer) Memory() Memory { return GoMemory() }

func (s *eventpollServer) Stop() error {
	err := s.srv.Close()
	if serveErr := <-s.done; err == nil && serveErr != nil && !errors.Is(serveErr, server.ErrClosed) {
		err = fmt.Errorf("eventpoll: Serve: %w", serveErr)
	}
	return err
}
