package server

import (
	"context"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"github.com/eventpoll/eventpoll/loop"
)

var (
	modes   = []Mode{MultiQueue, SharedQueue, Acceptor}
	engines = []loop.Engine{loop.EngineEpoll, loop.EngineRing}
)

// forModes runs f on every mode and engine. EngineRing runs on epoll where
// io_uring is unavailable (EVENTPOLL_NO_URING=1 in CI's second pass).
func forModes(t *testing.T, f func(t *testing.T, opts ...Option)) {
	t.Helper()
	for _, m := range modes {
		for _, e := range engines {
			t.Run(m.String()+"/"+e.String(), func(t *testing.T) {
				f(t, WithMode(m), WithEngine(e), WithLoops(2))
			})
		}
	}
}

// testServer is a served Server with what a test asks of it.
type testServer struct {
	*Server
	t      testing.TB
	served chan error
	faults chan error
}

// serve listens with h on loopback, serves, and at cleanup closes the
// server and checks that Serve returned, no goroutine stayed behind and no
// descriptor leaked. Faults fail the test unless expected with
// expectFaults.
func serve(t testing.TB, network string, h Handler, opts ...Option) *testServer {
	t.Helper()
	fdtest.Check(t)
	goroutines := runtime.NumGoroutine()
	ts := &testServer{t: t, served: make(chan error, 1), faults: make(chan error, 100)}
	addr := "127.0.0.1:0"
	switch network {
	case "unix":
		addr = t.TempDir() + "/s.sock"
	case "tcp6", "udp6":
		addr = "[::1]:0"
	}
	opts = append([]Option{WithFaultHandler(func(c *Conn, err error) {
		select {
		case ts.faults <- err:
		default:
		}
	})}, opts...)
	s, err := Listen(network, addr, h, opts...)
	if err != nil {
		t.Fatalf("Listen(%s, %s): %v", network, addr, err)
	}
	ts.Server = s
	go func() { ts.served <- s.Serve(context.Background()) }()
	t.Cleanup(func() {
		s.Close()
		select {
		case err := <-ts.served:
			if err != nil && !isClosed(err) { // ErrClosed: the test ended before Serve began
				t.Errorf("Serve returned %v after Close", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Serve did not return within 10s of Close")
		}
		select {
		case err := <-ts.faults:
			t.Errorf("unexpected fault: %v", err)
		default:
		}
		eventually(t, "goroutines back to where they were", func() bool { return runtime.NumGoroutine() <= goroutines })
	})
	return ts
}

// dial connects to the server, closing the connection at cleanup.
func (ts *testServer) dial() net.Conn {
	ts.t.Helper()
	c, err := net.DialTimeout(ts.Addr().Network(), ts.Addr().String(), 10*time.Second)
	if err != nil {
		ts.t.Fatalf("dial %v: %v", ts.Addr(), err)
	}
	ts.t.Cleanup(func() { c.Close() })
	return c
}

// expectFault waits for a fault reported to the server's fault handler.
func (ts *testServer) expectFault() error {
	ts.t.Helper()
	select {
	case err := <-ts.faults:
		return err
	case <-time.After(10 * time.Second):
		ts.t.Fatal("no fault reported within 10s")
		return nil
	}
}

// eventually polls cond for up to 10 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// echo writes back what it reads.
type echo struct{ NopHandler }

func (echo) OnData(c *Conn) {
	b, _ := c.Next(-1)
	c.Write(b)
}

// events records a handler's opens and closes.
type events struct {
	opened chan openEvent
	closed chan closeEvent
}

type openEvent struct {
	c  *Conn
	at time.Time
}

type closeEvent struct {
	c   *Conn
	err error
	at  time.Time
}

func newEvents() *events {
	return &events{opened: make(chan openEvent, 1<<14), closed: make(chan closeEvent, 1<<14)}
}

func (e *events) OnOpen(c *Conn) { e.opened <- openEvent{c, time.Now()} }
func (e *events) OnClose(c *Conn, err error) {
	e.closed <- closeEvent{c, err, time.Now()}
}

func (e *events) waitOpen(t testing.TB) *Conn { return e.waitOpenAt(t).c }

func (e *events) waitOpenAt(t testing.TB) openEvent {
	t.Helper()
	select {
	case ev := <-e.opened:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no connection opened within 10s")
		return openEvent{}
	}
}

func (e *events) waitClose(t testing.TB) closeEvent {
	t.Helper()
	select {
	case ev := <-e.closed:
		return ev
	case <-time.After(15 * time.Second):
		t.Fatal("no connection closed within 15s")
		return closeEvent{}
	}
}

// echoEvents is an echo handler that records opens and closes.
type echoEvents struct {
	*events
	echo
}

func (h echoEvents) OnOpen(c *Conn)             { h.events.OnOpen(c) }
func (h echoEvents) OnClose(c *Conn, err error) { h.events.OnClose(c, err) }

// readAll reads from c until EOF or an error, with a deadline.
func readAll(t testing.TB, c net.Conn, d time.Duration) ([]byte, error) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	return io.ReadAll(c)
}

// onLoop runs f on the loop of worker w and waits for it.
func onLoop(t testing.TB, w *worker, f func()) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Add(1)
	if err := w.l.Post(func() { defer wg.Done(); f() }); err != nil {
		t.Fatalf("Post: %v", err)
	}
	wg.Wait()
}

// helperEnv marks a process re-run from this test binary as a client
// helper (see client_test.go).
const helperEnv = "EVENTPOLL_SERVER_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(clientHelper())
	}
	os.Exit(m.Run())
}
