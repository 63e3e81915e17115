package http

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	evserver "github.com/eventpoll/eventpoll/server"
)

// The reactor engine is the same server written as a user of package
// server writes it: a Handler on one loop (one goroutine locked to its
// thread, like the raw engines' one thread), the product's accepting,
// reading and writing underneath. It answers what the raw engines answer:
// the same page for every request whose header ends within requestBuf
// bytes, pipelined ones in order, and a connection whose header does not
// fit is closed without a reply and counted as an error.

// newReactor listens for the reactor engine. Its stop is the context
// Serve watches, so that it may come before serve as the Notifier's does.
func newReactor(s *server) (*server, error) {
	rs, err := evserver.Listen("tcp4", "127.0.0.1:0", page{s}, evserver.WithLoops(1))
	if err != nil {
		return nil, err
	}
	s.rs, s.addr = rs, rs.Addr().String()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// serveReactor runs the server's loop until stop, which closes the server
// and every connection (package server's Close).
func (s *server) serveReactor() error {
	err := s.rs.Serve(s.ctx)
	s.waits = int(s.rs.Stats().Total.Loop.Iterations)
	if errors.Is(err, context.Canceled) {
		return nil // stop
	}
	if err != nil {
		return fmt.Errorf("server.Serve: %w", err)
	}
	return nil
}

// page is the reactor engine's Handler.
type page struct{ s *server }

// OnOpen counts the connection, as the raw engines' accept does: the
// dialler of dead connections waits for the count.
func (h page) OnOpen(*evserver.Conn) { h.s.accepted.Add(1) }

// OnData answers every complete request it holds with the page, in order;
// an incomplete one stays unread until the rest arrives. A header that does
// not end within requestBuf bytes closes the connection, as it overflows the
// raw engines' buffer.
func (h page) OnData(c *evserver.Conn) {
	for {
		b, _ := c.Peek(-1)
		end := bytes.Index(b[:min(len(b), requestBuf)], []byte("\r\n\r\n"))
		if end < 0 {
			if len(b) >= requestBuf {
				h.s.errors.Add(1)
				c.Close()
			}
			return
		}
		c.Discard(end + 4)
		// What the socket does not take is queued and sent when it drains;
		// an error means the connection is gone.
		if _, err := c.Write(response); err != nil {
			h.s.errors.Add(1)
			c.Close()
			return
		}
	}
}

// OnClose has nothing to release: the connection holds no state of ours.
func (page) OnClose(*evserver.Conn, error) {}
