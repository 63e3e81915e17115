// Udpecho answers each UDP datagram with itself, on a socket per loop:
// datagrams are received in batches with recvmmsg and the replies of a
// batch sent with one sendmmsg.
//
//	go run ./examples/udpecho -addr 127.0.0.1:7001
//
// Try it with nc -u 127.0.0.1 7001.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/eventpoll/eventpoll/server"
)

func newServer(addr string) (*server.Server, error) {
	echo := server.PacketFunc(func(p *server.Packet) {
		// p.Data is the loop's until OnPacket returns; Reply copies it.
		if err := p.Reply(p.Data); err != nil {
			log.Printf("udpecho: reply to %v: %v", p.Addr(), err)
		}
	})
	return server.Listen("udp", addr, echo, server.WithPacketSize(65507))
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7001", "address to listen on")
	flag.Parse()
	s, err := newServer(*addr)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Printf("udpecho: serving %v", s.Addr())
	if err := s.Serve(ctx); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
	st := s.Stats().Total
	log.Printf("udpecho: %d datagrams in, %d out, %d dropped", st.PacketsIn, st.PacketsOut, st.PacketsDropped)
}
