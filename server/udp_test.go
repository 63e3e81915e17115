package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func udpEcho() PacketFunc { return func(p *Packet) { p.Reply(p.Data) } }

func TestUDPRepliesToEverySender(t *testing.T) {
	for _, e := range engines {
		t.Run(e.String(), func(t *testing.T) {
			ts := serve(t, "udp", udpEcho(), WithEngine(e), WithLoops(2))
			const senders, each = 8, 200
			var wg sync.WaitGroup
			errc := make(chan error, senders)
			for i := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := net.Dial("udp", ts.Addr().String())
					if err != nil {
						errc <- err
						return
					}
					defer c.Close()
					buf := make([]byte, 100)
					for j := range each {
						msg := fmt.Sprintf("sender %d datagram %d", i, j)
						c.Write([]byte(msg))
						c.SetReadDeadline(time.Now().Add(5 * time.Second))
						n, err := c.Read(buf)
						if err != nil || string(buf[:n]) != msg {
							errc <- fmt.Errorf("sender %d, datagram %d: got %q, %v", i, j, buf[:n], err)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
			eventually(t, "every reply counted", func() bool { return ts.Stats().Total.PacketsOut == senders*each })
			st := ts.Stats().Total
			if st.PacketsIn != senders*each || st.PacketsOut != senders*each || st.BytesIn != st.BytesOut {
				t.Fatalf("Stats: %d in, %d out, %d bytes in, %d out; want %d each way", st.PacketsIn, st.PacketsOut, st.BytesIn, st.BytesOut, senders*each)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := ts.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown of a UDP server: %v", err)
			}
		})
	}
}

func TestUDPReceivesAndRepliesInBatches(t *testing.T) {
	ts := serve(t, "udp", udpEcho(), WithLoops(1))
	c, err := net.Dial("udp", ts.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := ts.workers[0]
	before := ts.Stats().Total
	// Hold the loop while 32 datagrams queue, then let it find them all.
	hold := make(chan struct{})
	held := make(chan struct{})
	w.l.Post(func() { close(held); <-hold })
	<-held
	for i := range 32 {
		c.Write([]byte{byte(i)})
	}
	time.Sleep(20 * time.Millisecond)
	close(hold)
	buf := make([]byte, 10)
	got := make([]bool, 32)
	for range 32 {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil || n != 1 {
			t.Fatalf("reply: %d bytes, %v", n, err)
		}
		got[buf[0]] = true
	}
	eventually(t, "the replies counted", func() bool { return ts.Stats().Total.PacketsOut-before.PacketsOut == 32 })
	st := ts.Stats().Total
	recv, sent := st.RecvBatches-before.RecvBatches, st.SendBatches-before.SendBatches
	if st.PacketsIn-before.PacketsIn != 32 || recv != 1 || sent != 1 {
		t.Fatalf("32 queued datagrams took %d recvmmsg and %d sendmmsg calls; want one each", recv, sent)
	}
}

func TestUDPDropsDatagramsLongerThanThePacketSize(t *testing.T) {
	ts := serve(t, "udp", udpEcho(), WithLoops(1), WithPacketSize(100))
	c, err := net.Dial("udp", ts.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(bytes.Repeat([]byte("x"), 101))
	c.Write([]byte("fits"))
	buf := make([]byte, 200)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "fits" {
		t.Fatalf("got %q, %v; want only the datagram that fits echoed", buf[:n], err)
	}
	if d := ts.Stats().Total.PacketsDropped; d != 1 {
		t.Fatalf("Stats: %d dropped; want 1", d)
	}
}

func TestUDPReplyRefusesWhatCannotBeSent(t *testing.T) {
	errc := make(chan error, 1)
	ts := serve(t, "udp", PacketFunc(func(p *Packet) {
		errc <- p.Reply(make([]byte, 101))
	}), WithLoops(1), WithPacketSize(100))
	c, _ := net.Dial("udp", ts.Addr().String())
	defer c.Close()
	c.Write([]byte("?"))
	if err := <-errc; !errors.Is(err, unix.EMSGSIZE) {
		t.Fatalf("Reply longer than the packet size: %v; want EMSGSIZE", err)
	}
	var p Packet
	if err := p.Reply(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Reply on a zero Packet: %v; want ErrClosed", err)
	}
}

func TestUDPOverIPv6(t *testing.T) {
	if _, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	from := make(chan string, 1)
	ts := serve(t, "udp6", PacketFunc(func(p *Packet) {
		from <- p.Addr().Addr().String()
		p.Reply(p.Data)
	}), WithLoops(1))
	c, err := net.Dial("udp6", ts.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("six"))
	buf := make([]byte, 10)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "six" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
	if a := <-from; a != "::1" {
		t.Fatalf("sender address %s; want ::1", a)
	}
}
