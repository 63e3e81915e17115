// Line serves a line protocol, one command per line:
//
//	PING          answers +PONG
//	ECHO <text>   answers <text>
//	COUNT         answers the number of commands this connection sent
//	QUIT          answers +BYE and closes the connection
//
// A line longer than 4 KiB closes the connection (the read limit), as does
// a line that takes more than 10 seconds to arrive (the read timeout, the
// answer to slowloris) and a connection silent for 5 minutes.
//
//	go run ./examples/line -addr 127.0.0.1:7002
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

// session is a connection's state, kept with Conn.SetContext.
type session struct{ commands int }

type lines struct{ server.NopHandler }

func (lines) OnOpen(c *server.Conn) { c.SetContext(&session{}) }

// OnData answers every complete line; the rest of a line stays unread, and
// the server keeps it for the next call.
func (lines) OnData(c *server.Conn) {
	s := c.Context().(*session)
	for {
		b, _ := c.Peek(-1)
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return
		}
		line := bytes.TrimSuffix(b[:i], []byte("\r"))
		s.commands++
		cmd, arg, _ := bytes.Cut(line, []byte(" "))
		switch string(bytes.ToUpper(cmd)) {
		case "PING":
			c.Write([]byte("+PONG\r\n"))
		case "ECHO":
			c.Writev([][]byte{arg, []byte("\r\n")})
		case "COUNT":
			c.Write(strconv.AppendInt(nil, int64(s.commands), 10))
			c.Write([]byte("\r\n"))
		case "QUIT":
			c.Write([]byte("+BYE\r\n"))
			c.Close() // after the reply is written
			return
		default:
			c.Write([]byte("-unknown command\r\n"))
		}
		c.Discard(i + 1)
	}
}

func newServer(addr string) (*server.Server, error) {
	return server.Listen("tcp", addr, lines{},
		server.WithReadLimit(4<<10),
		server.WithReadTimeout(10*time.Second),
		server.WithIdleTimeout(5*time.Minute))
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7002", "address to listen on")
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
	log.Printf("line: serving %v", s.Addr())
	if err := s.Serve(context.Background()); err != nil {
		log.Fatal(err)
	}
}
