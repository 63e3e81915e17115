package server_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/eventpoll/eventpoll/server"
)

// upper answers each line with the line in capitals; a line not yet
// complete stays unread until the rest arrives.
type upper struct{ server.NopHandler }

func (upper) OnData(c *server.Conn) {
	for {
		b, _ := c.Peek(-1)
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return
		}
		c.Write(bytes.ToUpper(b[:i+1]))
		c.Discard(i + 1)
	}
}

func ExampleListen() {
	s, err := server.Listen("tcp", "127.0.0.1:0", upper{}, server.WithLoops(2), server.WithIdleTimeout(time.Minute))
	if err != nil {
		fmt.Println(err)
		return
	}
	go s.Serve(context.Background())
	defer s.Close()

	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	fmt.Fprint(c, "hello, ")
	fmt.Fprint(c, "loop\nsecond line\n")
	r := bufio.NewReader(c)
	for range 2 {
		line, _ := r.ReadString('\n')
		fmt.Print(line)
	}
	// Output:
	// HELLO, LOOP
	// SECOND LINE
}

// slow hands each request to another goroutine and writes the answer back
// on the connection's loop.
type slow struct{ server.NopHandler }

func (slow) OnData(c *server.Conn) {
	req, _ := c.Next(-1)
	req = bytes.Clone(req) // the bytes are the loop's until OnData returns
	go func() {
		time.Sleep(10 * time.Millisecond) // work that must not block the loop
		c.AsyncWrite(append([]byte("done: "), req...), nil)
	}()
}

func ExampleConn_AsyncWrite() {
	s, _ := server.Listen("tcp", "127.0.0.1:0", slow{}, server.WithLoops(1))
	go s.Serve(context.Background())
	defer s.Close()
	c, _ := net.Dial("tcp", s.Addr().String())
	defer c.Close()
	c.Write([]byte("job 1"))
	b := make([]byte, len("done: job 1"))
	io.ReadFull(c, b)
	fmt.Println(string(b))
	// Output: done: job 1
}

func ExamplePacketFunc() {
	echo := server.PacketFunc(func(p *server.Packet) { p.Reply(p.Data) })
	s, err := server.Listen("udp", "127.0.0.1:0", echo)
	if err != nil {
		fmt.Println(err)
		return
	}
	go s.Serve(context.Background())
	defer s.Close()
	c, _ := net.Dial("udp", s.Addr().String())
	defer c.Close()
	c.Write([]byte("datagram"))
	b := make([]byte, 64)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := c.Read(b)
	fmt.Println(string(b[:n]))
	// Output: datagram
}

func ExampleServer_Shutdown() {
	s, _ := server.Listen("tcp", "127.0.0.1:0", upper{}, server.WithLoops(1))
	served := make(chan error, 1)
	go func() { served <- s.Serve(context.Background()) }()
	c, _ := net.Dial("tcp", s.Addr().String())
	defer c.Close()
	fmt.Fprint(c, "last words\n")
	line, _ := bufio.NewReader(c).ReadString('\n')
	fmt.Print(line)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println("shutdown:", s.Shutdown(ctx), "serve:", <-served)
	// Output:
	// LAST WORDS
	// shutdown: <nil> serve: <nil>
}

func ExampleServer_Stats() {
	s, _ := server.Listen("tcp", "127.0.0.1:0", upper{}, server.WithLoops(2))
	go s.Serve(context.Background())
	defer s.Close()
	c, _ := net.Dial("tcp", s.Addr().String())
	fmt.Fprint(c, "x\n")
	bufio.NewReader(c).ReadString('\n')
	st := s.Stats()
	fmt.Println("loops:", len(st.Loops), "open:", st.Total.Open, "bytes in:", st.Total.BytesIn)
	// Output: loops: 2 open: 1 bytes in: 2
}
