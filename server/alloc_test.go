package server

import (
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// The allocation tests count every allocation of the process while a
// round trip crosses the server: the loop's and the handler's included.
// The client side uses raw blocking system calls, which allocate nothing.

func skipUnderRace(t *testing.T) {
	if raceEnabled {
		t.Skip("the race runtime allocates in system-call wrappers; CI runs the Alloc tests without -race")
	}
}

// rawDial returns a blocking socket connected to addr.
func rawDial(t *testing.T, network string, addr net.Addr) int {
	t.Helper()
	var sa unix.Sockaddr
	family, sotype := unix.AF_INET, unix.SOCK_STREAM
	switch a := addr.(type) {
	case *net.TCPAddr:
		sa = &unix.SockaddrInet4{Port: a.Port, Addr: a.AddrPort().Addr().As4()}
	case *net.UDPAddr:
		sa = &unix.SockaddrInet4{Port: a.Port, Addr: a.AddrPort().Addr().As4()}
		sotype = unix.SOCK_DGRAM
	}
	fd, err := unix.Socket(family, sotype|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if sotype == unix.SOCK_STREAM {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	if err := unix.Connect(fd, sa); err != nil {
		t.Fatal(err)
	}
	return fd
}

func readFull(fd int, b []byte) error {
	for got := 0; got < len(b); {
		n, err := unix.Read(fd, b[got:])
		if err != nil {
			return err
		}
		if n == 0 {
			return unix.ECONNRESET
		}
		got += n
	}
	return nil
}

func TestOnDataDispatchAndDirectWriteAllocNothing(t *testing.T) {
	skipUnderRace(t)
	for _, timeouts := range []bool{false, true} {
		var opts []Option
		if timeouts {
			opts = append(opts, WithIdleTimeout(1<<40), WithReadTimeout(1<<40), WithWriteTimeout(1<<40))
		}
		ts := serve(t, "tcp", echo{}, append(opts, WithLoops(1))...)
		fd := rawDial(t, "tcp", ts.Addr())
		msg, buf := []byte("0123456789abcdef"), make([]byte, 16)
		var err error
		roundTrip := func() {
			if _, werr := unix.Write(fd, msg); werr != nil {
				err = werr
			}
			if rerr := readFull(fd, buf); rerr != nil {
				err = rerr
			}
		}
		for range 200 {
			roundTrip()
		}
		if a := testing.AllocsPerRun(2000, roundTrip); a != 0 {
			t.Fatalf("timeouts %v: an echo round trip (event, read, OnData, Write) allocates %v times", timeouts, a)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// fullConn makes a connection of w on one end of a socketpair whose other
// end, returned, is never read until the test says: the socket fills and
// the connection's writes queue.
func fullConn(t *testing.T, w *worker) (*Conn, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[1]) })
	w.adopt(fds[0], netip.AddrPort{})
	c := w.conns[len(w.conns)-1]
	for c.Outbound() == 0 {
		c.Write(pattern[:64<<10])
	}
	return c, fds[1]
}

func TestBufferedWriteAllocNothing(t *testing.T) {
	skipUnderRace(t)
	// The server is not served: its loop's goroutine is this one.
	s, err := Listen("tcp", "127.0.0.1:0", echo{}, WithLoops(1), WithWriteLimit(1<<30, 1<<29))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, peer := fullConn(t, s.workers[0])
	piece, sink := make([]byte, 1000), make([]byte, 64<<10)
	cycle := func() {
		for range 16 {
			c.Write(piece) // queued behind what the socket did not take
		}
		for n := 0; n < 16*len(piece); { // the peer reads as much
			k, err := unix.Read(peer, sink[:16*len(piece)-n])
			if err != nil {
				break
			}
			n += k
		}
		c.flush()
	}
	for range 100 {
		cycle()
	}
	if c.Outbound() == 0 {
		t.Fatal("the queue drained: the writes were not buffered")
	}
	if a := testing.AllocsPerRun(1000, cycle); a != 0 {
		t.Fatalf("16 buffered Writes and a flush allocate %v times", a)
	}
}

func TestHeldPartialMessageAllocNothing(t *testing.T) {
	skipUnderRace(t)
	ts := serve(t, "tcp", lineHandler{newEvents()}, WithLoops(1))
	fd := rawDial(t, "tcp", ts.Addr())
	head, tail, buf := []byte("0123456789"), []byte("abcdef\n"), make([]byte, 17)
	var err error
	roundTrip := func() {
		unix.Write(fd, head) // a partial line: held by the connection
		unix.Write(fd, tail)
		if rerr := readFull(fd, buf); rerr != nil {
			err = rerr
		}
	}
	for range 200 {
		roundTrip()
	}
	if a := testing.AllocsPerRun(2000, roundTrip); a != 0 {
		t.Fatalf("a line in two pieces (the first held unread) allocates %v times", a)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestUDPReplyAllocNothing(t *testing.T) {
	skipUnderRace(t)
	ts := serve(t, "udp", PacketFunc(func(p *Packet) { p.Reply(p.Data) }), WithLoops(1))
	fd := rawDial(t, "udp", ts.Addr())
	msg, buf := []byte("datagram"), make([]byte, 64)
	var err error
	roundTrip := func() {
		unix.Write(fd, msg)
		if _, rerr := unix.Read(fd, buf); rerr != nil {
			err = rerr
		}
	}
	for range 200 {
		roundTrip()
	}
	if a := testing.AllocsPerRun(2000, roundTrip); a != 0 {
		t.Fatalf("a datagram and its reply allocate %v times", a)
	}
	if err != nil {
		t.Fatal(err)
	}
}
