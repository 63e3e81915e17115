package server

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

func TestUnixSocketServesEveryModeAndRemovesItsFile(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...Option) {
		ev := newEvents()
		ts := serve(t, "unix", echoEvents{events: ev}, opts...)
		path := ts.Addr().String()
		c := ts.dial()
		c.Write([]byte("over unix"))
		c.(*net.UnixConn).CloseWrite()
		got, err := readAll(t, c, 10*time.Second)
		if err != nil || string(got) != "over unix" {
			t.Fatalf("echo over a Unix socket: %q, %v", got, err)
		}
		if ce := ev.waitClose(t); ce.err != io.EOF {
			t.Fatalf("OnClose error %v; want io.EOF", ce.err)
		}
		ts.Close()
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("socket file after Close: %v", err)
		}
	})
}

func TestUnixAbstractSocket(t *testing.T) {
	fdtest.Check(t)
	name := "@eventpoll-server-test-" + time.Now().Format("150405.000000000")
	s, err := Listen("unix", name, echo{}, WithLoops(1))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(context.Background())
	defer s.Close()
	c, err := net.Dial("unix", name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("abstract"))
	buf := make([]byte, 8)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "abstract" {
		t.Fatalf("%q, %v", buf, err)
	}
}

func TestTCP6AndDualStack(t *testing.T) {
	if _, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	ev := newEvents()
	ts := serve(t, "tcp6", echoEvents{events: ev}, WithLoops(1))
	c := ts.dial()
	c.Write([]byte("v6"))
	conn := ev.waitOpen(t)
	var peer string
	onLoop(t, conn.w, func() { peer = conn.RemoteAddrPort().Addr().String() })
	if peer != "::1" {
		t.Fatalf("peer %s; want ::1", peer)
	}
	// "tcp" with no host takes IPv4 peers on an IPv6 socket, seen as IPv4.
	fdtest.Check(t)
	ev4 := newEvents()
	s, err := Listen("tcp", ":0", echoEvents{events: ev4}, WithLoops(1))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(context.Background())
	defer s.Close()
	c4, err := net.Dial("tcp4", "127.0.0.1:"+portOf(s.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer c4.Close()
	conn4 := ev4.waitOpen(t)
	var local, remote net.Addr
	onLoop(t, conn4.w, func() {
		peer, local, remote = conn4.RemoteAddrPort().Addr().String(), conn4.LocalAddr(), conn4.RemoteAddr()
	})
	if peer != "127.0.0.1" || remote.String() != c4.LocalAddr().String() || local.String() != c4.RemoteAddr().String() {
		t.Fatalf("dual-stack peer %s, local %v, remote %v; client %v -> %v", peer, local, remote, c4.LocalAddr(), c4.RemoteAddr())
	}
}

func portOf(a net.Addr) string {
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

func TestAcceptedConnectionsInheritSocketOptions(t *testing.T) {
	for _, on := range []bool{true, false} {
		ev := newEvents()
		ts := serve(t, "tcp", echoEvents{events: ev}, WithLoops(1), WithNoDelay(on), WithKeepAlive(7*time.Second))
		ts.dial()
		c := ev.waitOpen(t)
		var nodelay, keep, idle int
		onLoop(t, c.w, func() {
			nodelay, _ = unix.GetsockoptInt(int(c.fd), unix.IPPROTO_TCP, unix.TCP_NODELAY)
			keep, _ = unix.GetsockoptInt(int(c.fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE)
			idle, _ = unix.GetsockoptInt(int(c.fd), unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
		})
		if (nodelay != 0) != on || keep != 1 || idle != 7 {
			t.Fatalf("WithNoDelay(%v), WithKeepAlive(7s): accepted socket has TCP_NODELAY %d, SO_KEEPALIVE %d, TCP_KEEPIDLE %d", on, nodelay, keep, idle)
		}
	}
}

func TestAcceptorBalancesConnections(t *testing.T) {
	for _, b := range []Balance{RoundRobin, LeastConnections} {
		t.Run(b.String(), func(t *testing.T) {
			ev := newEvents()
			ts := serve(t, "tcp", echoEvents{events: ev}, WithMode(Acceptor), WithBalance(b), WithLoops(3))
			for range 30 {
				ts.dial()
				ev.waitOpen(t)
			}
			st := ts.Stats()
			if len(st.Loops) != 4 || !st.Loops[3].Accepting || st.Loops[3].Open != 0 {
				t.Fatalf("want 3 serving loops and an accepting one that serves nothing: %+v", st.Loops)
			}
			for i, l := range st.Loops[:3] {
				if l.Open != 10 {
					t.Fatalf("%v: loop %d serves %d of 30 connections; want 10", b, i, l.Open)
				}
			}
		})
	}
}

func TestListenRefusesBadArguments(t *testing.T) {
	fdtest.Check(t)
	cases := []struct {
		name, network, addr string
		h                   Handler
		opts                []Option
	}{
		{"unknown network", "sctp", ":0", echo{}, nil},
		{"nil handler", "tcp", ":0", nil, nil},
		{"udp without OnPacket", "udp", ":0", echo{}, nil},
		{"tcp4 with IPv6", "tcp4", "[::1]:0", echo{}, nil},
		{"empty unix path", "unix", "", echo{}, nil},
		{"no loops", "tcp", ":0", echo{}, []Option{WithLoops(0)}},
		{"unknown mode", "tcp", ":0", echo{}, []Option{WithMode(7)}},
		{"tiny read buffer", "tcp", ":0", echo{}, []Option{WithReadBuffer(10)}},
		{"low above high", "tcp", ":0", echo{}, []Option{WithWriteLimit(10, 20)}},
		{"negative timeout", "tcp", ":0", echo{}, []Option{WithIdleTimeout(-1)}},
		{"negative CPU", "tcp", ":0", echo{}, []Option{WithCPUs(-1)}},
		{"packet size", "udp", ":0", udpEcho(), []Option{WithPacketSize(70000)}},
		{"nil fault handler", "tcp", ":0", echo{}, []Option{WithFaultHandler(nil)}},
	}
	for _, c := range cases {
		s, err := Listen(c.network, c.addr, c.h, c.opts...)
		if err == nil {
			s.Close()
			t.Errorf("%s: Listen succeeded", c.name)
			continue
		}
		if !errors.Is(err, unix.EINVAL) {
			t.Errorf("%s: %v; want an error matching EINVAL", c.name, err)
		}
	}
	ts := serve(t, "tcp", echo{}, WithLoops(1))
	if _, err := Listen("tcp", ts.Addr().String(), echo{}, WithMode(SharedQueue)); !errors.Is(err, unix.EADDRINUSE) {
		t.Errorf("Listen on a taken address: %v; want EADDRINUSE", err)
	}
}

func TestZeroValuesAreClosed(t *testing.T) {
	var s Server
	if err := s.Serve(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("zero Server Serve: %v", err)
	}
	if err := s.Shutdown(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("zero Server Shutdown: %v", err)
	}
	if s.Close() != nil || s.Addr() != nil || len(s.Stats().Loops) != 0 {
		t.Error("zero Server Close, Addr or Stats")
	}
	var c Conn
	if _, err := c.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("zero Conn Write: %v", err)
	}
	if _, err := c.Writev([][]byte{[]byte("x")}); !errors.Is(err, ErrClosed) {
		t.Errorf("zero Conn Writev: %v", err)
	}
	if _, err := c.Peek(1); !errors.Is(err, ErrClosed) {
		t.Errorf("zero Conn Peek: %v", err)
	}
	for name, err := range map[string]error{
		"Close": c.Close(), "CloseWrite": c.CloseWrite(), "Wake": c.Wake(),
		"AsyncWrite": c.AsyncWrite(nil, nil), "SetIdleTimeout": c.SetIdleTimeout(time.Second),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("zero Conn %s: %v", name, err)
		}
	}
	if c.Buffered() != 0 || c.Discard(1) != 0 || c.RemoteAddr() != nil || c.LocalAddr() != nil || c.Outbound() != 0 {
		t.Error("zero Conn accessors")
	}
}

func TestServeTwiceAndAfterClose(t *testing.T) {
	ts := serve(t, "tcp", echo{}, WithLoops(1))
	eventually(t, "serving", func() bool {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		return ts.state == stateServing
	})
	if err := ts.Serve(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Serve: %v", err)
	}
	ts.Close()
	if err := ts.Serve(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Serve after Close: %v", err)
	}
}

func TestServeEndsWithItsContext(t *testing.T) {
	fdtest.Check(t)
	s, err := Listen("tcp", "127.0.0.1:0", echo{}, WithLoops(2))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Serve(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Serve: %v; want its context's error", err)
	}
	if _, err := net.Dial("tcp", s.Addr().String()); err == nil {
		t.Fatal("server still accepts after its Serve's context ended")
	}
}

func TestLoopsArePinnedToTheirCPUs(t *testing.T) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil || all.Count() < 2 {
		t.Skip("needs two CPUs")
	}
	ts := serve(t, "tcp", echo{}, WithLoops(2), WithCPUs(1, 0))
	for i, w := range ts.workers {
		var set unix.CPUSet
		onLoop(t, w, func() { unix.SchedGetaffinity(0, &set) })
		if want := 1 - i; set.Count() != 1 || !set.IsSet(want) {
			t.Fatalf("loop %d runs on %d CPUs (CPU %d: %v); want CPU %d alone", i, set.Count(), want, set.IsSet(want), want)
		}
	}
}

// TestServeFailsOnACPUItCannotRunOn: WithCPUs naming a CPU the machine does
// not have ends Serve with the loop's EINVAL, closes the server and leaks
// nothing; it does not serve unpinned.
func TestServeFailsOnACPUItCannotRunOn(t *testing.T) {
	fdtest.Check(t)
	s, err := Listen("tcp", "127.0.0.1:0", echo{}, WithLoops(2), WithCPUs(0, 4095))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Serve(ctx); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("Serve with CPU 4095: %v; want EINVAL", err)
	}
	if _, err := net.Dial("tcp", s.Addr().String()); err == nil {
		t.Fatal("the server accepts after Serve failed")
	}
}
