package load

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"time"
)

// Echo is the echo generator: Conns connections, each sending Depth messages
// of Size bytes at a time (Depth 1: one message in flight) and verifying
// that every byte comes back in order.
//
// Each message starts with its connection's id and its sequence number, and
// the rest is a pattern drawn per connection, so a byte from another
// connection, an old message or a wrong place is told apart from the right
// one.
type Echo struct {
	Addr  string
	Conns int
	Size  int // bytes per message, at least EchoHeader
	Depth int // messages per batch; 0 means 1
	// Threads, above 0, runs the loop on that many goroutines, each
	// driving a block of the connections from an epoll instance of its own
	// on sockets the runtime's poller never sees (as Paced), instead of a
	// goroutine per connection: a generator that costs less CPU per
	// message and nothing per connection in Go's scheduler.
	Threads int
	// Spin makes those goroutines poll their instances (as Paced.Spin),
	// one goroutine when Threads is 0: for a generator with CPUs of its
	// own, which it keeps busy.
	Spin bool
	Timing
}

// EchoHeader is the size of a message's header: connection id (4 bytes) and
// sequence number (8 bytes), little endian.
const EchoHeader = 12

// maxEchoBatch bounds a batch: the generator writes a whole batch before it
// reads, so a batch larger than the sockets' buffers would deadlock.
const maxEchoBatch = 256 << 10

func (e Echo) validate() (Echo, error) {
	if e.Depth == 0 {
		e.Depth = 1
	}
	switch {
	case e.Conns < 1:
		return e, fmt.Errorf("echo: %d connections", e.Conns)
	case e.Size < EchoHeader:
		return e, fmt.Errorf("echo: message size %d is below the %d-byte header", e.Size, EchoHeader)
	case e.Depth < 1 || e.Size*e.Depth > maxEchoBatch:
		return e, fmt.Errorf("echo: depth %d x size %d outside 1..%d bytes per batch", e.Depth, e.Size, maxEchoBatch)
	case e.Duration <= 0:
		return e, fmt.Errorf("echo: duration %v", e.Duration)
	case e.Threads < 0:
		return e, fmt.Errorf("echo: %d threads", e.Threads)
	}
	return e, nil
}

// Run opens the connections, runs the closed loop for the warm-up and the
// measured duration, and closes them. The error names the first mismatch,
// or the server's failure to answer.
func (e Echo) Run(ctx context.Context) (*Result, error) {
	e, err := e.validate()
	if err != nil {
		return nil, err
	}
	if e.Spin || e.Threads > 0 {
		return drive(ctx, Paced{Addr: e.Addr, App: "echo", Conns: e.Conns, Size: e.Size, Spin: e.Spin, Threads: e.Threads, Timing: e.Timing}, e.Depth)
	}
	conns, err := dialAll(ctx, e.Addr, e.Conns, nil)
	if err != nil {
		return nil, err
	}
	s := &session{conns: conns}
	defer s.close()
	return s.measure(ctx, e.Timing, func(i int, c net.Conn, r *recorder) error {
		return e.loop(uint32(i), c, r)
	})
}

func (e Echo) loop(id uint32, c net.Conn, r *recorder) error {
	out := make([]byte, e.Size*e.Depth)
	in := make([]byte, len(out))
	fillPattern(out, id)
	var seq uint64
	for now := time.Now(); now.Before(r.to); {
		for m := range e.Depth {
			stamp(out[m*e.Size:], id, seq+uint64(m))
		}
		sent := time.Now()
		if _, err := c.Write(out); err != nil {
			return fmt.Errorf("echo: connection %d: write: %w", id, err)
		}
		for m := range e.Depth {
			got, want := in[m*e.Size:(m+1)*e.Size], out[m*e.Size:(m+1)*e.Size]
			if _, err := io.ReadFull(c, got); err != nil {
				return fmt.Errorf("echo: connection %d message %d: read: %w", id, seq+uint64(m), err)
			}
			now = time.Now()
			if !bytes.Equal(got, want) {
				return mismatch(id, seq+uint64(m), got, want)
			}
			r.done(sent, now, e.Size)
		}
		seq += uint64(e.Depth)
	}
	return checkQuiet(c, 20*time.Millisecond)
}

// fillPattern fills b with bytes drawn from a generator seeded by the
// connection's id.
func fillPattern(b []byte, id uint32) {
	r := rand.New(rand.NewPCG(uint64(id), 0x9e3779b97f4a7c15))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

func stamp(msg []byte, id uint32, seq uint64) {
	binary.LittleEndian.PutUint32(msg, id)
	binary.LittleEndian.PutUint64(msg[4:], seq)
}

// MismatchError is a reply that is not what was sent.
type MismatchError struct {
	Conn   uint32 // the connection that got it
	Seq    uint64 // the message it should have been
	Offset int    // the first byte that differs
	Got    byte
	Want   byte
	// The header the reply carries: another connection's id or an old
	// sequence number says where the bytes came from.
	GotConn uint32
	GotSeq  uint64
}

func (m *MismatchError) Error() string {
	return fmt.Sprintf("echo: connection %d message %d: byte %d is 0x%02x, want 0x%02x (the reply's header says connection %d message %d)",
		m.Conn, m.Seq, m.Offset, m.Got, m.Want, m.GotConn, m.GotSeq)
}

func mismatch(id uint32, seq uint64, got, want []byte) error {
	off := 0
	for off < len(got) && got[off] == want[off] {
		off++
	}
	return &MismatchError{
		Conn: id, Seq: seq, Offset: off, Got: got[off], Want: want[off],
		GotConn: binary.LittleEndian.Uint32(got), GotSeq: binary.LittleEndian.Uint64(got[4:]),
	}
}
