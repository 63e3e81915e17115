package load

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/bench/plaintext"
	"github.com/eventpoll/eventpoll/internal/fdtest"
)

// server is a goroutine-per-connection test server whose replies pass
// through tamper, which may change them: the generators must notice.
type server struct {
	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
	closed bool // the test ended: a connection accepted from now on is closed at once
}

// tamper sees each reply a connection is about to send (its number of
// replies so far, the bytes) and returns what is sent instead.
type tamper func(n int, reply []byte) []byte

func serve(t *testing.T, app string, tm tamper) string {
	t.Helper()
	fdtest.Check(t) // the generators close every connection they open
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: ln}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// A connection the listener took just before the test ended
			// comes here after the clean-up closed the others.
			s.mu.Lock()
			closed := s.closed
			if !closed {
				s.conns = append(s.conns, c)
			}
			s.mu.Unlock()
			if closed {
				c.Close()
				continue
			}
			s.wg.Go(func() { s.handle(c, app, tm) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		s.closed = true
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return ln.Addr().String()
}

func (s *server) handle(c net.Conn, app string, tm tamper) {
	buf := make([]byte, 64<<10)
	var pending []byte
	for n := 0; ; n++ {
		r, _ := c.Read(buf)
		if r == 0 {
			return
		}
		reply := buf[:r]
		if app == "http" {
			pending = append(pending, buf[:r]...)
			out, used, _ := plaintext.AppendResponses(nil, pending)
			pending = pending[used:]
			reply = out
		}
		if tm != nil {
			reply = tm(n, reply)
		}
		if _, err := c.Write(reply); err != nil {
			return
		}
	}
}

var quick = Timing{Duration: 100 * time.Millisecond}

// engine is one of the closed loops' generators: a goroutine per
// connection (the zero engine), or goroutines on epoll instances of their
// own, polling or sleeping.
type engine struct {
	threads int
	spin    bool
}

// eachEngine runs a closed-loop test on each generator: a goroutine per
// connection, one goroutine that polls (Spin), and three that sleep in
// their epoll instances (Threads), each with a block of the connections.
func eachEngine(t *testing.T, test func(t *testing.T, en engine)) {
	for _, en := range []engine{{}, {spin: true}, {threads: 3}} {
		name := "goroutines"
		switch {
		case en.spin:
			name = "spin"
		case en.threads > 0:
			name = "threads"
		}
		t.Run(name, func(t *testing.T) { test(t, en) })
	}
}

func TestEchoVerifiesACorrectServer(t *testing.T) {
	eachEngine(t, func(t *testing.T, en engine) {
		addr := serve(t, "echo", nil)
		if err := CheckEcho(context.Background(), addr); err != nil {
			t.Fatal(err)
		}
		res, err := Echo{Addr: addr, Conns: 4, Size: 512, Depth: 4, Threads: en.threads, Spin: en.spin, Timing: quick}.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if res.Ops == 0 || res.Bytes != res.Ops*512 || res.Latency.Count() != uint64(res.Ops) {
			t.Fatalf("ops %d, bytes %d, latencies %d: not one message of 512 bytes per op", res.Ops, res.Bytes, res.Latency.Count())
		}
		if res.P50 <= 0 || res.P50 > res.P99 || res.P99 > res.P999 {
			t.Fatalf("percentiles out of order: p50 %v p99 %v p99.9 %v", res.P50, res.P99, res.P999)
		}
	})
}

func TestEchoFailsOnOneWrongByte(t *testing.T) {
	eachEngine(t, func(t *testing.T, en engine) {
		var flipped atomic.Bool
		addr := serve(t, "echo", func(n int, b []byte) []byte {
			if n >= 50 && len(b) > 100 && flipped.CompareAndSwap(false, true) {
				b[100] ^= 0x01
			}
			return b
		})
		_, err := Echo{Addr: addr, Conns: 3, Size: 256, Threads: en.threads, Spin: en.spin, Timing: Timing{Duration: 2 * time.Second}}.Run(context.Background())
		var mm *MismatchError
		if !errors.As(err, &mm) {
			t.Fatalf("a flipped bit in one reply gave %v, want a MismatchError", err)
		}
		if mm.Offset != 100 || mm.Got^mm.Want != 1 || mm.GotConn != mm.Conn {
			t.Fatalf("mismatch reported at byte %d (0x%02x vs 0x%02x, header says conn %d), want byte 100 flipped in conn %d's own reply",
				mm.Offset, mm.Got, mm.Want, mm.GotConn, mm.Conn)
		}
	})
}

func TestEchoFailsOnAnotherConnectionsBytes(t *testing.T) {
	eachEngine(t, func(t *testing.T, en engine) {
		// The server answers every connection with the first connection's
		// first message: right length, right shape, wrong connection.
		var mu sync.Mutex
		var first []byte
		addr := serve(t, "echo", func(n int, b []byte) []byte {
			mu.Lock()
			defer mu.Unlock()
			if first == nil {
				first = bytes.Clone(b)
			}
			if len(first) == len(b) {
				return bytes.Clone(first)
			}
			return b
		})
		_, err := Echo{Addr: addr, Conns: 4, Size: 64, Threads: en.threads, Spin: en.spin, Timing: Timing{Duration: time.Second}}.Run(context.Background())
		var mm *MismatchError
		if !errors.As(err, &mm) {
			t.Fatalf("replies copied from another message gave %v, want a MismatchError", err)
		}
	})
}

func TestEchoFailsOnAnExtraByte(t *testing.T) {
	eachEngine(t, func(t *testing.T, en engine) {
		addr := serve(t, "echo", func(n int, b []byte) []byte { return append(b, 0) })
		_, err := Echo{Addr: addr, Conns: 1, Size: 64, Threads: en.threads, Spin: en.spin, Timing: quick}.Run(context.Background())
		if err == nil {
			t.Fatal("a server that appends a byte to every reply passed")
		}
	})
}

func TestEchoCheckFailsOnAServerThatDropsBytes(t *testing.T) {
	addr := serve(t, "echo", func(n int, b []byte) []byte {
		if n == 3 {
			return b[:len(b)/2]
		}
		return b
	})
	// Bytes that never come can only be waited for: the context bounds it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := CheckEcho(ctx, addr); err == nil {
		t.Fatal("a server that drops half of a read passed the echo check")
	}
}

func TestHTTPVerifiesACorrectServer(t *testing.T) {
	eachEngine(t, func(t *testing.T, en engine) {
		addr := serve(t, "http", nil)
		if err := CheckHTTP(context.Background(), addr); err != nil {
			t.Fatal(err)
		}
		for _, depth := range []int{1, 16} {
			res, err := HTTP{Addr: addr, Conns: 4, Depth: depth, Threads: en.threads, Spin: en.spin, Timing: quick}.Run(context.Background())
			if err != nil {
				t.Fatalf("depth %d: %v", depth, err)
			}
			if res.Ops == 0 {
				t.Fatalf("depth %d: %d responses", depth, res.Ops)
			}
		}
	})
}

// replace returns a tamper that replaces old by new in every reply after
// the first few.
func replace(old, new string) tamper {
	return func(n int, b []byte) []byte {
		if n < 3 {
			return b
		}
		return bytes.ReplaceAll(b, []byte(old), []byte(new))
	}
}

func TestHTTPFailsOnAnyBrokenRule(t *testing.T) {
	eachEngine(t, func(t *testing.T, en engine) {
		cases := map[string]tamper{
			"body":           replace("Hello, World!", "Hello, World?"),
			"status":         replace("200 OK", "201 OK"),
			"content-length": replace("Content-Length: 13", "Content-Length: 14"),
			"extra header":   replace("Server: bench\r\n", "Server: bench\r\nX-Extra: 1\r\n"),
			"missing header": replace("Content-Type: text/plain\r\n", ""),
			"server name":    replace("Server: bench", "Server: other"),
			"date":           replace(" GMT\r\n", " UTC\r\n"),
			"twice": func(n int, b []byte) []byte {
				if n == 5 {
					return append(b, b...)
				}
				return b
			},
		}
		for name, tm := range cases {
			t.Run(name, func(t *testing.T) {
				addr := serve(t, "http", tm)
				_, err := HTTP{Addr: addr, Conns: 2, Depth: 4, Threads: en.threads, Spin: en.spin, Timing: quick}.Run(context.Background())
				if err == nil {
					t.Fatalf("a server breaking the %s rule passed", name)
				}
			})
		}
	})
}

func TestHTTPCheckFailsOnResponsesOutOfOrder(t *testing.T) {
	// The server answers a pipelined batch with the right responses in
	// the wrong order: a 404 first. Only the order check can see it.
	addr := serve(t, "http", func(n int, b []byte) []byte {
		i := bytes.Index(b, []byte("HTTP/1.1 404"))
		if i <= 0 {
			return b
		}
		j := i + bytes.Index(b[i+1:], []byte("HTTP/1.1 ")) + 1
		if j <= i {
			j = len(b)
		}
		out := append([]byte{}, b[i:j]...)
		out = append(out, b[:i]...)
		return append(out, b[j:]...)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := CheckHTTP(ctx, addr)
	if err == nil || !strings.Contains(err.Error(), "in order") {
		t.Fatalf("responses out of order gave %v, want the order check to fail", err)
	}
}

func TestStalledServerFailsTheRunAfterTheGrace(t *testing.T) {
	eachEngine(t, func(t *testing.T, en engine) {
		// Accepts and never answers.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					io.Copy(io.Discard, c)
				}()
			}
		}()
		start := time.Now()
		tm := Timing{Duration: 50 * time.Millisecond, Grace: 300 * time.Millisecond}
		_, err = Echo{Addr: ln.Addr().String(), Conns: 2, Size: 64, Threads: en.threads, Spin: en.spin, Timing: tm}.Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), "stalled") {
			t.Fatalf("a silent server gave %v, want a stall", err)
		}
		if el := time.Since(start); el < tm.Duration+tm.Grace {
			t.Fatalf("stall declared after %v, before the window and the %v grace", el, tm.Grace)
		}
	})
}

func TestContextCancelEndsARun(t *testing.T) {
	eachEngine(t, func(t *testing.T, en engine) {
		addr := serve(t, "echo", nil)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := Echo{Addr: addr, Conns: 2, Size: 64, Threads: en.threads, Spin: en.spin, Timing: Timing{Duration: time.Minute}}.Run(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("cancelled run gave %v", err)
		}
		if el := time.Since(start); el > 10*time.Second {
			t.Fatalf("cancelled run took %v", el)
		}
	})
}

func TestConnRateAndIdleVerifyTheirRequests(t *testing.T) {
	for _, app := range []string{"echo", "http"} {
		addr := serve(t, app, nil)
		res, err := ConnRate{Addr: addr, App: app, Workers: 2, Timing: quick}.Run(context.Background())
		if err != nil || res.Ops == 0 {
			t.Fatalf("%s connrate: %v, %+v", app, err, res)
		}
		idle, err := OpenIdle(context.Background(), addr, app, 20)
		if err != nil {
			t.Fatalf("%s idle: %v", app, err)
		}
		if idle.Len() != 20 {
			t.Fatalf("%s idle holds %d connections", app, idle.Len())
		}
		idle.Close()
	}
	bad := serve(t, "http", func(_ int, b []byte) []byte { return bytes.ReplaceAll(b, []byte("Hello"), []byte("Jello")) })
	if _, err := OpenIdle(context.Background(), bad, "http", 10); err == nil {
		t.Fatal("idle connections accepted a wrong body")
	}
}

func TestBadConfigurationsAreRefused(t *testing.T) {
	// Each is refused before anything is dialled (the address would not
	// resolve), with an error that names the generator and the cause.
	ctx := context.Background()
	for want, run := range map[string]func() error{
		"echo: message size 4 is below": func() error { _, err := Echo{Addr: "x", Conns: 1, Size: 4, Timing: quick}.Run(ctx); return err },
		"echo: depth 16 x size 65536": func() error {
			_, err := Echo{Addr: "x", Conns: 1, Size: 64 << 10, Depth: 16, Timing: quick}.Run(ctx)
			return err
		},
		"echo: 0 connections": func() error { _, err := Echo{Addr: "x", Size: 64, Timing: quick}.Run(ctx); return err },
		"echo: -1 threads": func() error {
			_, err := Echo{Addr: "x", Conns: 1, Size: 64, Threads: -1, Timing: quick}.Run(ctx)
			return err
		},
		"http: 1 connections, depth 1, duration 0s": func() error { _, err := HTTP{Addr: "x", Conns: 1}.Run(ctx); return err },
		"-2 threads": func() error { _, err := HTTP{Addr: "x", Conns: 1, Threads: -2, Timing: quick}.Run(ctx); return err },
		"paced: -1 threads": func() error {
			_, err := Paced{Addr: "x", App: "echo", Conns: 1, Size: 64, Rate: 100, Threads: -1, Timing: quick}.Run(ctx)
			return err
		},
		"connrate: 1 workers, app \"ftp\"": func() error {
			_, err := ConnRate{Addr: "x", App: "ftp", Workers: 1, Timing: quick}.Run(ctx)
			return err
		},
		"idle: no app": func() error { _, err := OpenIdle(ctx, "x", "ftp", 1); return err },
	} {
		if err := run(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want an error saying %q", err, want)
		}
	}
}

const wrkReport = `Running 1s test @ http://127.0.0.1:8080/plaintext
  1 threads and 100 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.02ms  312.00us   9.81ms   88.05%
    Req/Sec    95.70k     4.21k  101.91k    70.00%
  Latency Distribution
     50%  850.00us
     75%    1.10ms
     90%    1.40ms
     99%    2.57ms
  95432 requests in 1.00s, 12.04MB read
Requests/sec:  95310.71
Transfer/sec:     12.01MB
`

func TestWrkReportIsParsed(t *testing.T) {
	res, err := parseWrk(wrkReport)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 95432 || res.Window != time.Second || res.P50 != 850*time.Microsecond || res.P99 != 2570*time.Microsecond || res.P999 != 0 {
		t.Fatalf("parsed %+v", res)
	}
	for _, bad := range []string{
		strings.Replace(wrkReport, "Requests/sec", "  Non-2xx or 3xx responses: 12\nRequests/sec", 1),
		strings.Replace(wrkReport, "Requests/sec", "  Socket errors: connect 0, read 3, write 0, timeout 0\nRequests/sec", 1),
		"wrk: unable to connect",
	} {
		if _, err := parseWrk(bad); err == nil {
			t.Errorf("report accepted: %q", bad)
		}
	}
}

func TestWrkRunsAgainstAServer(t *testing.T) {
	if WrkPath() == "" {
		t.Skip("wrk not installed")
	}
	addr := serve(t, "http", nil)
	res, err := Wrk{Addr: addr, Conns: 4, Depth: 16, Threads: 1, Duration: time.Second}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops == 0 || res.Rate() <= 0 {
		t.Fatalf("wrk measured %+v", res)
	}
	bad := serve(t, "http", replace("200 OK", "500 Internal Server Error"))
	if _, err := (Wrk{Addr: bad, Conns: 2, Threads: 1, Duration: time.Second}).Run(context.Background()); err == nil {
		t.Fatal("wrk run against a server answering 500 passed")
	}
}
