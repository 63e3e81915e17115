package server

import (
	"runtime"
	"testing"
	"time"

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
