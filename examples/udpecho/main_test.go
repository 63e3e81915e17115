package main

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"
)

func TestUDPEchoAnswersEachDatagram(t *testing.T) {
	s, err := newServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(context.Background())
	defer s.Close()
	c, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 65536)
	for _, size := range []int{1, 1400, 9000, 65507} {
		msg := bytes.Repeat([]byte{byte(size)}, size)
		c.Write(msg)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) {
			t.Fatalf("a %d-byte datagram: got %d bytes back, %v", size, n, err)
		}
	}
}
