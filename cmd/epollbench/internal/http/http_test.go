package http

import (
	"bytes"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness/harnesstest"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/system"
	"github.com/eventpoll/eventpoll/internal/fdtest"
)

func TestReportQuickServesRepliesWithDeadConnections(t *testing.T) {
	// The load generator uses package net, whose first use makes the Go
	// runtime's own epoll instance and eventfd for the life of the
	// process: made before the check, they are not the test's.
	if ln, err := net.Listen("tcp4", "127.0.0.1:0"); err == nil {
		ln.Close()
	}
	fdtest.Check(t)
	sec := harnesstest.Quick(t, Experiment)
	res := sec.Raw.(*result)
	if len(res.Points) != len(res.Dead)*len(allEngines) {
		t.Fatalf("%d points for %d sizes and %d engines", len(res.Points), len(res.Dead), len(allEngines))
	}
	for _, p := range res.Points {
		if p.Replies == 0 || p.Errors != 0 || len(p.Windows) != 2 || p.Rate < p.Mean*0.999 {
			t.Errorf("%s dead=%d: %d replies, %d server errors, windows %v (best %.0f, mean %.0f)",
				p.Engine, p.Dead, p.Replies, p.Errors, p.Windows, p.Rate, p.Mean)
		}
	}
}

// mustServer returns a new server of the engine, not yet serving.
func mustServer(t *testing.T, engine string) *server {
	t.Helper()
	srv, err := newServer(engine)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// serving runs srv.serve in a goroutine; the channel carries its result.
func serving(srv *server) <-chan error {
	done := make(chan error, 1)
	go func() { done <- srv.serve() }()
	return done
}

// testServer starts a server of the engine and returns it with a stop
// function that fails the test if serve failed.
func testServer(t *testing.T, engine string) (*server, func()) {
	t.Helper()
	srv := mustServer(t, engine)
	done := serving(srv)
	return srv, func() {
		srv.stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// testClient starts a server of the engine, as testServer does, and a
// client connection to it; the test's end closes both.
func testClient(t *testing.T, engine string) (*server, net.Conn) {
	t.Helper()
	srv, stop := testServer(t, engine)
	t.Cleanup(stop)
	c, err := net.Dial("tcp4", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return srv, c
}

func TestServerAnswersEveryPipelinedRequest(t *testing.T) {
	for _, engine := range allEngines {
		t.Run(engine, func(t *testing.T) {
			_, c := testClient(t, engine)
			// Three requests in one write, the last split across two.
			req := request + request + request
			if _, err := c.Write([]byte(req[:len(req)-5])); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
			if _, err := c.Write([]byte(req[len(req)-5:])); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, 3*len(response))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatal(err)
			}
			if want := bytes.Repeat(response, 3); !bytes.Equal(got, want) {
				t.Errorf("replies differ from three copies of the page")
			}
		})
	}
}

func TestServerDropsOversizedRequestHeader(t *testing.T) {
	for _, engine := range allEngines {
		t.Run(engine, func(t *testing.T) {
			srv, c := testClient(t, engine)
			if _, err := c.Write([]byte("GET /" + strings.Repeat("a", 4000))); err != nil {
				t.Fatal(err)
			}
			if n, err := io.Copy(io.Discard, c); n != 0 || (err != nil && !strings.Contains(err.Error(), "reset")) {
				t.Errorf("oversized header: read %d bytes, %v; want the connection closed without a reply", n, err)
			}
			for deadline := time.Now().Add(5 * time.Second); srv.errors.Load() == 0 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			if srv.errors.Load() != 1 {
				t.Errorf("server errors = %d, want 1", srv.errors.Load())
			}
		})
	}
}

func TestRunPrintsTable(t *testing.T) {
	harnesstest.Prints(t, Experiment, []string{"-dead", "0,50", "-c", "2", "-d", "50ms", "-warmup", "0"},
		"poll replies/s", "epoll replies/s", "reactor replies/s", "reactor/epoll", "\n       0 ", "\n      50 ", "2002 (seed 001)")
}

func TestRunTakesOneEngine(t *testing.T) {
	harnesstest.Prints(t, Experiment, []string{"-engine", "reactor", "-dead", "0,20", "-c", "2", "-d", "50ms", "-warmup", "0"},
		"reactor replies/s", "\n       0 ", "\n      20 ")
}

func TestRunRejectsBadFlags(t *testing.T) {
	harnesstest.Refuses(t, Experiment,
		[]string{"-dead", "-1"},
		[]string{"-dead", "many"},
		[]string{"-engine", "select"},
		[]string{"-c", "0"},
		[]string{"-d", "0s"},
		[]string{"-windows", "0"},
		[]string{"-warmup", "-1s"})
}

func TestDeadClientEndsLiveInATableOfTheirOwn(t *testing.T) {
	for _, engine := range allEngines {
		t.Run(engine, func(t *testing.T) { testDeadClientEnds(t, engine) })
	}
}

func testDeadClientEnds(t *testing.T, engine string) {
	fdtest.Check(t)
	tt, err := system.NewTableThread()
	if err != nil {
		t.Skip("no table of its own:", err)
	}
	defer tt.Close()
	srv, stop := testServer(t, engine)
	defer stop()
	const dead = 100
	before := fdtest.Open(t)
	var fds []int
	if err := tt.Do(func() (err error) { fds, err = dialDead(srv, dead); return err }); err != nil {
		t.Fatal(err)
	}
	defer tt.Do(func() error { closeAll(fds); return nil })
	// The server accepted every connection into this table; the client
	// ends are in the thread's table only. A socket is new when its number
	// was not open before or now names another socket: a descriptor that
	// was open when the count began (another test's, closing) may have been
	// closed since and its number given to an accepted connection.
	sockets, reused := newSockets(t, before)
	for deadline := time.Now().Add(2 * time.Second); sockets < dead && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		sockets, reused = newSockets(t, before)
	}
	if sockets != dead {
		t.Errorf("process table gained %d sockets (%d under a number open before) for %d dead connections, want %d (the server's ends)",
			sockets, reused, dead, dead)
	}
	// The reactor holds them as open connections of its one loop.
	if srv.rs != nil {
		if st := srv.rs.Stats(); st.Total.Open != dead || len(st.Loops) != 1 {
			t.Errorf("reactor: %d connections open on %d loops, want %d on 1", st.Total.Open, len(st.Loops), dead)
		}
	}
}

// newSockets counts the sockets open in this process's table that were not
// open, under the same number, in before; reused counts those of them whose
// number was open before, as another file.
func newSockets(t *testing.T, before map[string]string) (n, reused int) {
	for fd, target := range fdtest.Open(t) {
		if was, ok := before[fd]; strings.HasPrefix(target, "socket:") && was != target {
			n++
			if ok {
				reused++
			}
		}
	}
	return n, reused
}

// The server waits without a timeout: stop wakes it through its Notifier,
// so it returns at once however long it has been idle, and an idle server
// is not woken in between (it once woke every 20 ms to look at a flag).
func TestStopWakesAnIdleServerThatNeverWokeOnItsOwn(t *testing.T) {
	for _, engine := range allEngines {
		t.Run(engine, func(t *testing.T) {
			fdtest.Check(t)
			srv := mustServer(t, engine)
			done := serving(srv)
			time.Sleep(300 * time.Millisecond)
			srv.stop()
			served(t, done)
			// One wait, ended by stop; a signal may interrupt one more.
			if srv.waits > 2 {
				t.Errorf("an idle server waited %d times in 300 ms, want 1: it woke without a reason", srv.waits)
			}
		})
	}
}

func TestStopBeforeServeStillEndsIt(t *testing.T) {
	for _, engine := range allEngines {
		t.Run(engine, func(t *testing.T) {
			fdtest.Check(t)
			srv := mustServer(t, engine)
			srv.stop()
			served(t, serving(srv))
		})
	}
}

// served fails t unless serve, whose result done carries, returns without
// an error within 10 s (a stop that did not wake the server never does).
func served(t *testing.T, done <-chan error) {
	t.Helper()
	if err := fdtest.Within(t, done, 10*time.Second, "serve, stopped,"); err != nil {
		t.Fatal(err)
	}
}

func TestParseConfigAcceptsEveryEngine(t *testing.T) {
	for _, engines := range []string{"reactor", "poll,epoll,reactor", strings.Join(allEngines, ",")} {
		cfg, err := parseConfig("0", engines, 1, time.Second, 1, 0)
		if err != nil {
			t.Fatalf("-engine %s: %v", engines, err)
		}
		if got := strings.Join(cfg.Engines, ","); got != engines {
			t.Errorf("-engine %s: engines %s", engines, got)
		}
	}
	if !slices.Contains(allEngines, engineReactor) {
		t.Errorf("default engines %v leave out %s", allEngines, engineReactor)
	}
}
