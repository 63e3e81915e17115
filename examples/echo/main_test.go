package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/server"
)

func start(t testing.TB, mode server.Mode) *server.Server {
	s, err := newServer("127.0.0.1:0", 2, mode)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(context.Background())
	t.Cleanup(func() { s.Close() })
	return s
}

func TestEchoWritesBackWhatItReads(t *testing.T) {
	for _, name := range []string{"multi-queue", "shared-queue", "acceptor"} {
		mode, err := parseMode(name)
		if err != nil {
			t.Fatal(err)
		}
		s := start(t, mode)
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		msg := bytes.Repeat([]byte("echo "), 100_000)
		go c.Write(msg)
		got := make([]byte, len(msg))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("%s: echoed %v", name, err)
		}
		c.Close()
	}
	if _, err := parseMode("round-robin"); err == nil {
		t.Fatal("parseMode accepted a balance's name")
	}
}

// BenchmarkEcho is a simple load: 64 connections each sending messages
// and reading each back before the next; an op is one message's round
// trip, the bytes one way.
func BenchmarkEcho(b *testing.B) {
	for _, size := range []int{64, 16 << 10} {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) { benchEcho(b, size) })
	}
}

func benchEcho(b *testing.B, size int) {
	s := start(b, server.MultiQueue)
	const conns = 64
	b.SetBytes(int64(size))
	var wg sync.WaitGroup
	per := b.N/conns + 1
	b.ResetTimer()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", s.Addr().String())
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			msg, got := make([]byte, size), make([]byte, size)
			for range per {
				if _, err := c.Write(msg); err != nil {
					b.Error(err)
					return
				}
				if _, err := io.ReadFull(c, got); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
