// Package chaos drives a server over loopback with a seeded random mix of
// hostile and well-behaved clients, and counts what a server must never
// do: deliver a byte to the wrong connection or out of order, lose a byte
// of a client that behaved, or answer what it should have refused.
//
// The protocol is a framed echo: a frame is a 4-byte big-endian length of
// the rest, an 8-byte connection id, an 8-byte sequence number and a
// payload that is a pure function of (id, seq), so a client checks every
// byte it gets back without keeping a copy. The server under test echoes
// every whole frame back unchanged (FrameLen says when one is whole) and
// closes a connection whose frame header is malformed (a length under 16)
// or oversized (above the server's limit); one built for the Panic
// behaviour panics in its handler on a frame whose sequence is PanicSeq
// (FrameHeader reads it).
package chaos

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// HeaderLen is the length of a frame's header: length, id, sequence.
const HeaderLen = 4 + 8 + 8

// MinBody is the smallest valid frame length field: id and sequence.
const MinBody = 16

// AppendFrame appends the frame (id, seq) with n payload bytes.
func AppendFrame(dst []byte, id, seq uint64, n int) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(MinBody+n))
	dst = binary.BigEndian.AppendUint64(dst, id)
	dst = binary.BigEndian.AppendUint64(dst, seq)
	x := mix(id, seq)
	for i := 0; i < n; i++ {
		if i%8 == 0 {
			x = next(x)
		}
		dst = append(dst, byte(x>>(8*(i%8))))
	}
	return dst
}

// FrameLen returns the whole length of the frame at the start of b, or
// -1 when b does not yet hold a whole header. A length field under MinBody
// or above max (when max > 0) is an error: a server closes such a
// connection.
func FrameLen(b []byte, max int) (int, error) {
	if len(b) < 4 {
		return -1, nil
	}
	n := int(binary.BigEndian.Uint32(b))
	if n < MinBody {
		return 0, ErrMalformed
	}
	if max > 0 && n > max {
		return 0, ErrOversized
	}
	return 4 + n, nil
}

// PanicSeq is the sequence number of a Panic client's last frame: a
// server under test built for it panics in its handler on such a frame
// (see FrameHeader), and must then close that connection alone.
const PanicSeq = 1<<64 - 1

// FrameHeader returns the connection id and sequence number of the whole
// frame f.
func FrameHeader(f []byte) (id, seq uint64) {
	return binary.BigEndian.Uint64(f[4:]), binary.BigEndian.Uint64(f[12:])
}

// ErrMalformed and ErrOversized are FrameLen's refusals.
var (
	ErrMalformed = errors.New("chaos: malformed frame header")
	ErrOversized = errors.New("chaos: frame above the limit")
)

// checkFrame verifies a whole frame against the id and sequence its
// reader expects.
func checkFrame(f []byte, id, seq uint64) error {
	gotID := binary.BigEndian.Uint64(f[4:])
	gotSeq := binary.BigEndian.Uint64(f[12:])
	if gotID != id {
		return fmt.Errorf("frame of connection %d delivered to connection %d", gotID, id)
	}
	if gotSeq != seq {
		return fmt.Errorf("connection %d: frame %d arrived where %d was due", id, gotSeq, seq)
	}
	x := mix(id, seq)
	p := f[HeaderLen:]
	for i := range p {
		if i%8 == 0 {
			x = next(x)
		}
		if p[i] != byte(x>>(8*(i%8))) {
			return fmt.Errorf("connection %d frame %d: payload byte %d corrupted", id, seq, i)
		}
	}
	return nil
}

func mix(id, seq uint64) uint64 {
	return id*0x9e3779b97f4a7c15 ^ seq*0xbf58476d1ce4e5b9 ^ 0x94d049bb133111eb
}

func next(x uint64) uint64 {
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	return x
}
