package peers_test

import (
	"fmt"
	"io"
	"net"

	"github.com/eventpoll/eventpoll/bench/peers"
)

// A registered implementation, eventpoll's server, serves echo on a port of
// loopback in its default mode: a message written comes back.
func Example() {
	im, ok := peers.Lookup("eventpoll")
	if !ok {
		fmt.Println("eventpoll not registered")
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a free port, let go for the server
	if err != nil {
		fmt.Println(err)
		return
	}
	addr := ln.Addr().String()
	ln.Close()
	s := im.New()
	if err := s.Start(peers.Config{App: peers.Echo, Addr: addr, Loops: 1}); err != nil {
		fmt.Println(err)
		return
	}
	defer s.Stop()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: %s, default mode %q\n", im.Name, buf, must(im.Mode(peers.Config{})))
	// Output: eventpoll: ping, default mode "multiqueue"
}

func must(s string, err error) string {
	if err != nil {
		return err.Error()
	}
	return s
}
