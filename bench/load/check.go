package load

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/eventpoll/eventpoll/bench/plaintext"
)

// CheckEcho proves an echo server correct before it is timed: a message
// that arrives in pieces comes back whole, a megabyte written while the
// generator reads at its own pace comes back byte for byte (the server keeps
// what the socket will not take yet), two connections' bytes never mix, and
// nothing comes back that was not sent.
func CheckEcho(ctx context.Context, addr string) error {
	conns, err := dialAll(ctx, addr, 2, nil)
	if err != nil {
		return err
	}
	defer func() { reset(conns[0]); reset(conns[1]) }()
	stop := context.AfterFunc(ctx, func() { conns[0].Close(); conns[1].Close() })
	defer stop()
	for _, c := range conns {
		c.SetDeadline(time.Now().Add(20 * time.Second))
	}
	msg := make([]byte, 300)
	fillPattern(msg, 1)
	stamp(msg, 1, 0)
	for _, piece := range [][]byte{msg[:5], msg[5:100], msg[100:]} {
		if _, err := conns[0].Write(piece); err != nil {
			return fmt.Errorf("echo check: write: %w", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := expectEcho(conns[0], msg, 1); err != nil {
		return fmt.Errorf("echo check, a message written in three pieces: %w", err)
	}
	big := make([]byte, 1<<20)
	fillPattern(big, 2)
	stamp(big, 2, 0)
	other := make([]byte, 64<<10)
	fillPattern(other, 3)
	stamp(other, 3, 0)
	errc := make(chan error, 2)
	go func() { _, err := conns[0].Write(big); errc <- err }()
	go func() { _, err := conns[1].Write(other); errc <- err }()
	if err := expectEcho(conns[1], other, 3); err != nil {
		return fmt.Errorf("echo check, 64 KiB on a second connection: %w", err)
	}
	if err := expectEcho(conns[0], big, 2); err != nil {
		return fmt.Errorf("echo check, 1 MiB written while read: %w", err)
	}
	for range 2 {
		if err := <-errc; err != nil {
			return fmt.Errorf("echo check: write: %w", err)
		}
	}
	for _, c := range conns {
		c.SetDeadline(time.Time{})
		if err := checkQuiet(c, 50*time.Millisecond); err != nil {
			return fmt.Errorf("echo check: %w", err)
		}
	}
	return nil
}

// expectEcho reads len(want) bytes from c, a few KiB at a time, and compares
// them with want.
func expectEcho(c net.Conn, want []byte, id uint32) error {
	got := make([]byte, len(want))
	for off := 0; off < len(got); {
		n, err := c.Read(got[off:min(off+8<<10, len(got))])
		off += n
		if err != nil {
			return fmt.Errorf("after %d of %d bytes: %w", off, len(got), err)
		}
	}
	if !bytes.Equal(got, want) {
		return mismatch(id, 0, got, want)
	}
	return nil
}

// CheckHTTP proves an HTTP server correct before it is timed: responses to
// 16 pipelined requests come in order (requests for a missing path, answered
// 404, are mixed in at known places, since identical responses cannot show
// their order), a request split across writes is answered once it is whole,
// a batch of 256 pipelined requests is answered completely, and nothing
// comes back that was not asked for.
func CheckHTTP(ctx context.Context, addr string) error {
	conns, err := dialAll(ctx, addr, 1, nil)
	if err != nil {
		return err
	}
	c := conns[0]
	defer reset(c)
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)

	ok, missing := request(addr, plaintext.Path), request(addr, "/missing")
	var batch strings.Builder
	var want []int
	for i := range 16 {
		if i%3 == 1 || i == 15 {
			batch.WriteString(missing)
			want = append(want, http.StatusNotFound)
		} else {
			batch.WriteString(ok)
			want = append(want, http.StatusOK)
		}
	}
	if err := exchange(c, br, []string{batch.String()}, want); err != nil {
		return fmt.Errorf("http check, 16 pipelined requests in order: %w", err)
	}
	split := ok + missing + ok
	pieces := []string{split[:7], split[7 : len(ok)+3], split[len(ok)+3 : len(split)-1], split[len(split)-1:]}
	if err := exchange(c, br, pieces, []int{200, 404, 200}); err != nil {
		return fmt.Errorf("http check, three requests written in four pieces: %w", err)
	}
	if err := exchange(c, br, []string{strings.Repeat(ok, 256)}, repeat(200, 256)); err != nil {
		return fmt.Errorf("http check, 256 pipelined requests: %w", err)
	}
	c.SetDeadline(time.Time{})
	if br.Buffered() > 0 {
		return fmt.Errorf("http check: %d bytes after the last response", br.Buffered())
	}
	if err := checkQuiet(c, 50*time.Millisecond); err != nil {
		return fmt.Errorf("http check: %w", err)
	}
	return nil
}

// exchange writes pieces with a pause between them and reads one response
// per status in want, checking each.
func exchange(c net.Conn, br *bufio.Reader, pieces []string, want []int) error {
	errc := make(chan error, 1)
	go func() {
		for i, p := range pieces {
			if i > 0 {
				time.Sleep(5 * time.Millisecond)
			}
			if _, err := io.WriteString(c, p); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i, status := range want {
		if _, err := readResponse(br, status); err != nil {
			c.Close() // unblocks the writer
			<-errc
			return fmt.Errorf("response %d of %d (want %d): %w", i+1, len(want), status, err)
		}
	}
	if err := <-errc; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

func repeat(v, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = v
	}
	return s
}
