// Echo serves TCP connections by writing back what each sends, on a few
// loops: the smallest server package server makes.
//
//	go run ./examples/echo -addr 127.0.0.1:7000 -loops 2 -mode shared-queue
//
// Try it with nc 127.0.0.1 7000. SIGINT or SIGTERM shuts it down, letting
// each connection write what it has queued.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/eventpoll/eventpoll/server"
)

// echo writes back what it reads. Write goes straight to the socket; what
// the socket does not take is queued, and past the write limit the
// connection is not read until its peer catches up.
type echo struct{ server.NopHandler }

func (echo) OnData(c *server.Conn) {
	b, _ := c.Next(-1)
	c.Write(b)
}

func newServer(addr string, loops int, mode server.Mode) (*server.Server, error) {
	return server.Listen("tcp", addr, echo{},
		server.WithLoops(loops),
		server.WithMode(mode),
		server.WithIdleTimeout(5*time.Minute))
}

func parseMode(s string) (server.Mode, error) {
	for _, m := range []server.Mode{server.MultiQueue, server.SharedQueue, server.Acceptor} {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("unknown mode %q (multi-queue, shared-queue or acceptor)", s)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "address to listen on")
	loops := flag.Int("loops", runtime.GOMAXPROCS(0), "number of loops")
	modeName := flag.String("mode", server.MultiQueue.String(), "multi-queue, shared-queue or acceptor")
	flag.Parse()
	mode, err := parseMode(*modeName)
	if err != nil {
		log.Fatal(err)
	}
	s, err := newServer(*addr, *loops, mode)
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
	log.Printf("echo: serving %v on %d loops (%v)", s.Addr(), *loops, mode)
	if err := s.Serve(context.Background()); err != nil {
		log.Fatal(err)
	}
	log.Printf("echo: %+v", s.Stats().Total)
}
