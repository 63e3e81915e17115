package server

import (
	"bytes"
	"net/netip"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/eventpoll/eventpoll/internal/fdtest"
)

// idleConns is how many idle connections the memory test holds; their
// client ends live in a helper process, the server's in this one.
const idleConns = 10_000

// heapAndStack returns the Go heap and stack in use, after two
// collections.
func heapAndStack() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

func TestIdleConnectionsCostUnderAKiBEach(t *testing.T) {
	fdtest.RaiseLimit(t, idleConns+1000)
	cl := startClients(t)
	forModes(t, func(t *testing.T, opts ...Option) { idleCost(t, cl, opts...) })
	// A timeout adds one timer per connection, whatever the mode.
	t.Run("idle-timeout", func(t *testing.T) { idleCost(t, cl, WithIdleTimeout(time.Hour), WithLoops(2)) })
}

// idleCost holds idleConns idle connections and checks what each costs.
func idleCost(t *testing.T, cl *clientProc, opts ...Option) {
	ts := serve(t, "tcp", echo{}, opts...)
	cl = cl.with(t)
	cl.do("dial tcp %s 1", ts.Addr()) // loops awake once, helper warm
	cl.do("closeall")
	eventually(t, "warm-up connection closed", func() bool { return ts.Stats().Total.Open == 0 })
	before := heapAndStack()
	cl.do("dial tcp %s %d", ts.Addr(), idleConns)
	eventually(t, "every connection open", func() bool { return ts.Stats().Total.Open == idleConns })
	after := heapAndStack()
	per := (int64(after) - int64(before)) / idleConns
	t.Logf("%d idle connections: %d bytes of Go heap and stack each", idleConns, per)
	if per > 1024 {
		t.Fatalf("%d idle connections cost %d bytes each; want at most 1 KiB", idleConns, per)
	}
	if st := ts.Stats().Total; st.HeldIn != 0 || st.HeldOut != 0 {
		t.Fatalf("idle connections hold buffers: %d in, %d out", st.HeldIn, st.HeldOut)
	}
	cl.do("closeall")
	eventually(t, "every connection closed", func() bool { return ts.Stats().Total.Open == 0 })
}

// TestConnSize keeps a connection in the runtime's 128-byte size class:
// the next one up is 144, 12% more per idle connection.
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(Conn{}); n > 128 {
		t.Fatalf("a Conn is %d bytes; want at most 128", n)
	}
	if n := unsafe.Sizeof(peerAddr{}); n != 24 {
		t.Fatalf("a peerAddr is %d bytes; want 24", n)
	}
}

func TestPeerAddrKeepsEveryAddress(t *testing.T) {
	for _, s := range []string{
		"127.0.0.1:80", "0.0.0.0:0", "255.255.255.255:65535", "[::1]:8080", "[::]:1",
		"[fe80::1%7]:443", "[::ffff:10.0.0.1]:9", "[2001:db8::ff00:42:8329%4294967295]:65535",
	} {
		ap := netip.MustParseAddrPort(s)
		if got := peerOf(ap); got.addrPort() != ap {
			t.Errorf("peerOf(%v).addrPort() = %v", ap, got.addrPort())
		}
	}
	if p := peerOf(netip.AddrPort{}); p.addrPort() != (netip.AddrPort{}) {
		t.Errorf("the zero AddrPort comes back as %v", p.addrPort())
	}
}

// TestOutputQueueKeepsOrderAcrossChunks pushes and consumes at every
// chunk border of the ring of chunks and checks the bytes and the chunk
// counts.
func TestOutputQueueKeepsOrderAcrossChunks(t *testing.T) {
	var want []byte
	for i := range 5*chunkSize + 17 {
		want = append(want, byte(i*7+i/251))
	}
	for _, step := range []int{1, 100, chunkSize - 1, chunkSize, chunkSize + 1, 3 * chunkSize} {
		var q outq
		taken, given := 0, 0
		var got []byte
		in := want
		for len(in) > 0 || q.n > 0 {
			if len(in) > 0 {
				k := min(step, len(in))
				taken += q.push(in[:k])
				in = in[k:]
			}
			// Take what two iovecs hold, at most step+5 bytes.
			iov := q.iovecs(make([]unix.Iovec, 0, 2))
			n := 0
			for _, v := range iov {
				b := unsafe.Slice(v.Base, v.Len)
				k := min(len(b), step+5-n)
				got = append(got, b[:k]...)
				n += k
			}
			given += q.consume(n)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("step %d: the bytes out differ from the bytes in", step)
		}
		if taken != given || q.tail != nil {
			t.Fatalf("step %d: %d chunks taken, %d given back, tail %p", step, taken, given, q.tail)
		}
		q.push(want[:3*chunkSize])
		if n := q.release(); n != 3 || q.n != 0 || q.tail != nil {
			t.Fatalf("step %d: release gave back %d chunks of 3, left %d bytes", step, n, q.n)
		}
	}
}
