// Unixecho serves a Unix socket, writing back what each connection sends.
// The socket's file is removed when the server shuts down.
//
//	go run ./examples/unixecho -path /tmp/echo.sock
//
// Try it with nc -U /tmp/echo.sock. A path starting with @ names a socket in
// Linux's abstract namespace, which has no file.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/eventpoll/eventpoll/server"
)

type echo struct{ server.NopHandler }

func (echo) OnData(c *server.Conn) {
	b, _ := c.Next(-1)
	c.Write(b)
}

func newServer(path string) (*server.Server, error) {
	// A Unix path cannot be bound twice: every mode shares one socket.
	return server.Listen("unix", path, echo{}, server.WithMode(server.SharedQueue))
}

func main() {
	path := flag.String("path", "/tmp/eventpoll-echo.sock", "socket path (@name: abstract namespace)")
	flag.Parse()
	s, err := newServer(*path)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(sctx)
	}()
	log.Printf("unixecho: serving %v", s.Addr())
	if err := s.Serve(context.Background()); err != nil {
		log.Fatal(err)
	}
}
