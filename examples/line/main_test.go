package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// dial serves the example and returns a connection to it.
func dial(t *testing.T) net.Conn {
	t.Helper()
	s, err := newServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(context.Background())
	t.Cleanup(func() { s.Close() })
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func TestLineProtocol(t *testing.T) {
	c := dial(t)
	// Commands split anywhere, several in one write.
	for _, piece := range []string{"PI", "NG\r\nECHO hel", "lo world\nCOU", "NT\nnope\nQUIT\n"} {
		c.Write([]byte(piece))
		time.Sleep(5 * time.Millisecond)
	}
	got, err := io.ReadAll(c)
	want := "+PONG\r\nhello world\r\n3\r\n-unknown command\r\n+BYE\r\n"
	if err != nil || string(got) != want {
		t.Fatalf("got %q, %v; want %q and the connection closed", got, err, want)
	}
}

func TestLineLongerThanTheLimitClosesTheConnection(t *testing.T) {
	c := dial(t)
	c.Write([]byte("PING\n"))
	r := bufio.NewReader(c)
	if line, _ := r.ReadString('\n'); line != "+PONG\r\n" {
		t.Fatalf("got %q", line)
	}
	c.Write(bytes.Repeat([]byte("x"), 5<<10))
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("a 5 KiB line did not close the connection")
	}
}
