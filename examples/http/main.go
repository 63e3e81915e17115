// Http serves one static reply over HTTP/1.1 with keep-alive: each request
// on a connection, pipelined ones included, is answered in order with the
// same body and its Content-Length. It parses no more of HTTP than that
// needs: the request head, a Content-Length body to skip, Connection and
// the protocol version to know when to close.
//
//	go run ./examples/http -addr 127.0.0.1:8080
//
// Try it with curl -v http://127.0.0.1:8080/ or a load generator.
package main

import (
	"bytes"
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/eventpoll/eventpoll/server"
)

const body = "Hello, World!\n"

var (
	reply = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	replyClose = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body)
	badRequest = []byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
)

type static struct{ server.NopHandler }

// OnData answers every complete request it holds, with one writev for all
// of them; an incomplete one stays unread until the rest arrives.
func (static) OnData(c *server.Conn) {
	var out [64][]byte // on the stack: Writev keeps no reference to it
	n := 0
	for n < len(out) {
		b, _ := c.Peek(-1)
		size, keep, ok := request(b)
		if size == 0 {
			break // incomplete
		}
		c.Discard(size)
		switch {
		case !ok:
			out[n] = badRequest
		case !keep:
			out[n] = replyClose
		default:
			out[n] = reply
		}
		n++
		if !ok || !keep {
			c.Writev(out[:n])
			c.Close()
			return
		}
	}
	c.Writev(out[:n])
	if n == len(out) {
		c.Wake() // more requests may be held: come back for them
	}
}

// request measures the first request in b: its size with the body (0 when
// it is not all there), whether the connection stays open after it, and
// whether it is well-formed enough to answer.
func request(b []byte) (size int, keepAlive, ok bool) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return 0, false, false
	}
	head := b[:end]
	size = end + 4
	line, fields, _ := bytes.Cut(head, []byte("\r\n"))
	_, version, found := bytes.Cut(line, []byte(" HTTP/1."))
	if !found || len(version) != 1 || bytes.Count(line, []byte(" ")) != 2 {
		return size, false, false
	}
	keepAlive = version[0] == '1' // HTTP/1.1 keeps the connection unless told not to
	for len(fields) > 0 {
		var f []byte
		f, fields, _ = bytes.Cut(fields, []byte("\r\n"))
		name, value, found := bytes.Cut(f, []byte(":"))
		if !found {
			return size, false, false
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.Atoi(string(value))
			if err != nil || n < 0 {
				return size, false, false
			}
			if len(b) < size+n {
				return 0, false, false
			}
			size += n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return size, false, false // a chunked body: not worth parsing for a static reply
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				keepAlive = false
			} else if bytes.EqualFold(value, []byte("keep-alive")) {
				keepAlive = true
			}
		}
	}
	return size, keepAlive, true
}

func newServer(addr string, opts ...server.Option) (*server.Server, error) {
	opts = append([]server.Option{
		server.WithReadLimit(16 << 10), // a request head larger than this is refused
		server.WithReadTimeout(10 * time.Second),
		server.WithIdleTimeout(time.Minute),
	}, opts...)
	return server.Listen("tcp", addr, static{}, opts...)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	s, err := newServer(*addr)
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
	log.Printf("http: serving http://%v/", s.Addr())
	if err := s.Serve(context.Background()); err != nil {
		log.Fatal(err)
	}
}
