package server

import (
	"math/bits"
	"sync"

	"golang.org/x/sys/unix"
)

// Output is queued in fixed-size chunks from a pool: a connection whose
// queue is empty holds none, a queue grows and drains a chunk at a time, and
// a drained chunk goes back to the pool at once.
const chunkSize = 16 << 10

type chunk struct {
	next *chunk
	r, w int // unsent bytes are b[r:w]
	b    [chunkSize]byte
}

var chunkPool = sync.Pool{New: func() any { return new(chunk) }}

// outq is a connection's queue of bytes the socket has not taken yet: a
// ring of chunks reached from its tail, whose next is the head, so that
// the queue is two words.
type outq struct {
	tail *chunk
	n    int
}

// head returns the first chunk, or nil for an empty queue.
func (q *outq) head() *chunk {
	if q.tail == nil {
		return nil
	}
	return q.tail.next
}

// push copies b to the end of the queue and returns how many chunks it
// took from the pool.
func (q *outq) push(b []byte) (added int) {
	for len(b) > 0 {
		t := q.tail
		if t == nil || t.w == chunkSize {
			t = chunkPool.Get().(*chunk)
			t.r, t.w = 0, 0
			if q.tail == nil {
				t.next = t
			} else {
				t.next = q.tail.next
				q.tail.next = t
			}
			q.tail = t
			added++
		}
		k := copy(t.b[t.w:], b)
		t.w += k
		q.n += k
		b = b[k:]
	}
	return added
}

// iovecs appends the queued bytes to iov, a chunk per entry, up to
// cap(iov) entries.
func (q *outq) iovecs(iov []unix.Iovec) []unix.Iovec {
	c := q.head()
	for c != nil && len(iov) < cap(iov) {
		v := unix.Iovec{Base: &c.b[c.r]}
		v.SetLen(c.w - c.r)
		iov = append(iov, v)
		if c == q.tail {
			break
		}
		c = c.next
	}
	return iov
}

// consume drops the first n bytes, which the socket took, and returns the
// number of chunks given back to the pool.
func (q *outq) consume(n int) (freed int) {
	q.n -= n
	for n > 0 {
		c := q.tail.next
		k := min(n, c.w-c.r)
		c.r += k
		n -= k
		if c.r == c.w {
			if c == q.tail {
				q.tail = nil
			} else {
				q.tail.next = c.next
			}
			c.next = nil
			chunkPool.Put(c)
			freed++
		}
	}
	return freed
}

// release gives every chunk back and returns how many there were.
func (q *outq) release() (freed int) {
	if q.tail != nil {
		c := q.tail.next
		q.tail.next = nil // the ring becomes a list ending at the tail
		for c != nil {
			next := c.next
			c.next = nil
			chunkPool.Put(c)
			freed++
			c = next
		}
	}
	*q = outq{}
	return freed
}

// Input a handler leaves unread is kept in a buffer of a power-of-two size
// class, from 1 KiB to 4 MiB, pooled per class; larger ones are allocated
// and left to the collector.
const (
	minInShift = 10
	inClasses  = 13
)

type inbuf struct{ b []byte }

var inPools [inClasses]sync.Pool

// inClass returns the class whose buffers hold n bytes.
func inClass(n int) int {
	if n <= 1<<minInShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minInShift
}

// getIn returns a buffer of at least n bytes.
func getIn(n int) *inbuf {
	k := inClass(n)
	if k >= inClasses {
		return &inbuf{b: make([]byte, n)}
	}
	if ib, ok := inPools[k].Get().(*inbuf); ok {
		return ib
	}
	return &inbuf{b: make([]byte, 1<<(minInShift+k))}
}

// putIn gives a buffer back to its class's pool.
func putIn(ib *inbuf) {
	c := cap(ib.b)
	if k := inClass(c); k < inClasses && c == 1<<(minInShift+k) {
		ib.b = ib.b[:c]
		inPools[k].Put(ib)
	}
}
