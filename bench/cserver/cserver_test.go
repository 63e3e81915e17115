package cserver_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/bench/cserver"
	"github.com/eventpoll/eventpoll/bench/proc"
	"github.com/eventpoll/eventpoll/internal/fdtest"
)

// servers are the C servers, each built once per test that asks; a server
// that cannot be built or run here skips, saying why.
var servers = []struct {
	name  string
	build func(dir string) (bin, note string)
}{{"epoll", cserver.Build}, {"io_uring", cserver.BuildURing}}

func start(t *testing.T, build func(string) (string, string), app string) *proc.Child {
	t.Helper()
	bin, note := build(t.TempDir())
	if bin == "" {
		t.Skip("C server not built: " + note)
	}
	c, err := proc.Start([]string{bin, "-app", app, "-addr", "127.0.0.1:0", "-loops", "1"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	return c
}

func TestBuildURingRefusesWhenNoURingIsSet(t *testing.T) {
	t.Setenv(cserver.NoURingEnv, "1")
	bin, note := cserver.BuildURing(t.TempDir())
	if bin != "" || !strings.Contains(note, cserver.NoURingEnv) {
		t.Fatalf("BuildURing with %s set: binary %q, note %q; want none, and a note naming the variable", cserver.NoURingEnv, bin, note)
	}
}

// openFDs counts the server's descriptors.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestCServersCloseEveryConnectionThePeerCloses(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			fdtest.Check(t)
			c := start(t, srv.build, "echo")
			before := openFDs(t, c.Pid)
			msg := bytes.Repeat([]byte("0123456789abcdef"), 256)
			conns := make([]*net.TCPConn, 100)
			for i := range conns {
				nc, err := net.Dial("tcp", c.Addr)
				if err != nil {
					t.Fatal(err)
				}
				conns[i] = nc.(*net.TCPConn)
			}
			for i, nc := range conns {
				if _, err := nc.Write(msg); err != nil {
					t.Fatal(err)
				}
				// Every third connection closes with its echo unread
				// and a reset, every other one after the echo, with a FIN.
				if i%3 == 0 {
					nc.SetLinger(0)
					continue
				}
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(nc, got); err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("connection %d: echo %v", i, err)
				}
			}
			for _, nc := range conns {
				nc.Close()
			}
			deadline := time.Now().Add(10 * time.Second)
			for openFDs(t, c.Pid) > before {
				if time.Now().After(deadline) {
					t.Fatalf("server holds %d descriptors 10 s after its 100 peers closed, %d before they came", openFDs(t, c.Pid), before)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// The C servers keep at most a few MiB for a peer that writes and does not
// read (epoll: MAX_OUT; io_uring: about twice that), then stop reading it,
// so that the peer's writes stall; once it reads, every byte comes back.
func TestCServersStopReadingAPeerThatDoesNotRead(t *testing.T) {
	const bound = 64 << 20 // the server's queue plus the sockets' buffers on both sides, with room to spare
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			fdtest.Check(t)
			c := start(t, srv.build, "echo")
			nc, err := net.Dial("tcp", c.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			chunk := make([]byte, 256<<10)
			var sent bytes.Buffer
			for {
				for i := range chunk {
					chunk[i] = byte(sent.Len()+i) * 7
				}
				nc.SetWriteDeadline(time.Now().Add(time.Second))
				n, err := nc.Write(chunk)
				sent.Write(chunk[:n])
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if sent.Len() > bound {
					t.Fatalf("the server took %d MiB from a peer that reads nothing", sent.Len()>>20)
				}
			}
			nc.SetReadDeadline(time.Now().Add(30 * time.Second))
			got := make([]byte, sent.Len())
			if _, err := io.ReadFull(nc, got); err != nil {
				t.Fatalf("reading back the %d bytes sent: %v", sent.Len(), err)
			}
			if !bytes.Equal(got, sent.Bytes()) {
				t.Fatal("the bytes echoed after the stall differ from those sent")
			}
		})
	}
}
