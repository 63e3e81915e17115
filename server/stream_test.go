package server

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/fdtest"
)

// pattern is random bytes; connection i sends pattern[off(i):][:size], so
// a byte out of order, lost, doubled or delivered to another connection
// shows as a mismatch.
var pattern = func() []byte {
	b := make([]byte, 1<<20+64<<10)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

func patternOffset(i int) int { return i * 1031 % (64 << 10) }

// sendAndCheck writes size bytes of connection i's stream in pieces of
// random size, half-closes, and reads the echo back to EOF, comparing.
func sendAndCheck(c net.Conn, i, size int) error {
	off := patternOffset(i)
	want := pattern[off : off+size]
	r := rand.New(rand.NewPCG(uint64(i), 7))
	werr := make(chan error, 1)
	go func() {
		r := rand.New(rand.NewPCG(uint64(i), 8))
		for sent := 0; sent < size; {
			k := min(1+r.IntN(64<<10), size-sent)
			if _, err := c.Write(want[sent : sent+k]); err != nil {
				werr <- err
				return
			}
			sent += k
		}
		werr <- c.(interface{ CloseWrite() error }).CloseWrite()
	}()
	buf := make([]byte, 64<<10)
	got := 0
	c.SetReadDeadline(time.Now().Add(100 * time.Second))
	for {
		n, err := c.Read(buf[:1+r.IntN(len(buf))])
		if n > 0 {
			if got+n > size {
				return fmt.Errorf("conn %d: %d bytes echoed, sent %d", i, got+n, size)
			}
			if !bytes.Equal(buf[:n], want[got:got+n]) {
				return fmt.Errorf("conn %d: bytes %d..%d differ from those sent", i, got, got+n)
			}
			got += n
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("conn %d: read after %d bytes: %v", i, got, err)
		}
	}
	if got != size {
		return fmt.Errorf("conn %d: %d bytes echoed, sent %d", i, got, size)
	}
	return <-werr
}

func TestEchoKeepsEachConnectionsBytesIntactAndInOrder(t *testing.T) {
	conns, size := 1000, 1<<20
	if raceEnabled {
		size = 128 << 10 // the race runtime makes every byte dearer; the rule is the same
	}
	fdtest.RaiseLimit(t, 3*uint64(conns)+100)
	forModes(t, func(t *testing.T, opts ...Option) {
		ts := serve(t, "tcp", echo{}, opts...)
		var wg sync.WaitGroup
		errc := make(chan error, conns)
		for i := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.DialTimeout("tcp", ts.Addr().String(), 20*time.Second)
				if err != nil {
					errc <- err
					return
				}
				defer c.Close()
				if err := sendAndCheck(c, i, size); err != nil {
					errc <- err
				}
			}()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		eventually(t, "every connection closed", func() bool { return ts.Stats().Total.Closed.Peer == uint64(conns) })
		st := ts.Stats()
		if want := uint64(conns * size); st.Total.BytesIn != want || st.Total.BytesOut != want {
			t.Fatalf("bytes in %d, out %d; want %d each", st.Total.BytesIn, st.Total.BytesOut, want)
		}
		if st.Total.Open != 0 || st.Total.HeldIn != 0 || st.Total.HeldOut != 0 {
			t.Fatalf("after every close: open %d, held in %d, out %d", st.Total.Open, st.Total.HeldIn, st.Total.HeldOut)
		}
		for i, l := range st.Loops {
			if !l.Accepting && l.Accepted == 0 {
				t.Errorf("loop %d served no connection of %d", i, conns)
			}
		}
	})
}
