package load

import (
	"context"
	"errors"
	"math"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/fdtest"
)

func TestScheduleStaggersTheConnectionsEvenly(t *testing.T) {
	start := time.Now()
	sc := newSchedule(start, 1000, 3, Timing{Warmup: 100 * time.Millisecond, Duration: 200 * time.Millisecond})
	if sc.total != 300 {
		t.Fatalf("%d requests due in 300 ms at 1000/s, want 300", sc.total)
	}
	sum, inWindow := 0, 0
	for c := range 3 {
		n := sc.count(c)
		if n != 100 {
			t.Errorf("connection %d sends %d requests, want 100", c, n)
		}
		sum += n
		for k := range n {
			due := sc.due(c, k)
			if due.Before(start) || !due.Before(sc.to) {
				t.Fatalf("connection %d request %d due at %v, outside the schedule", c, k, due.Sub(start))
			}
			if k > 0 {
				// Each connection sends at rate/conns: 3 ms apart.
				if gap := due.Sub(sc.due(c, k-1)); gap < 2999*time.Microsecond || gap > 3001*time.Microsecond {
					t.Fatalf("connection %d: %v between requests %d and %d, want 3 ms", c, gap, k-1, k)
				}
			}
			if sc.inWindow(due) {
				inWindow++
			}
		}
		// The connections are staggered by 1/rate: 1 ms.
		if off := sc.due(c, 0).Sub(start); off < time.Duration(c)*time.Millisecond-time.Microsecond || off > time.Duration(c)*time.Millisecond+time.Microsecond {
			t.Errorf("connection %d starts %v after the schedule, want %d ms", c, off, c)
		}
	}
	if sum != sc.total || inWindow != 200 {
		t.Fatalf("%d requests over the connections, %d in the window; want %d and 200", sum, inWindow, sc.total)
	}
}

// goroutinesSettle fails the test if the goroutines do not come back to
// at most n within a few seconds.
func goroutinesSettle(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left, %d before the run:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPacedKeepsTheOfferedRateAgainstAFastServer(t *testing.T) {
	for _, c := range []struct {
		app     string
		spin    bool
		threads int
	}{{"echo", false, 0}, {"http", false, 0}, {"echo", true, 0}, {"http", true, 0}, {"echo", false, 3}, {"http", false, 3}} {
		name := c.app
		if c.spin {
			name += "/spin"
		}
		if c.threads > 0 {
			name += "/threads"
		}
		t.Run(name, func(t *testing.T) {
			app := c.app
			addr := serve(t, app, nil)
			before := runtime.NumGoroutine()
			const rate = 2000
			tm := Timing{Warmup: 100 * time.Millisecond, Duration: time.Second}
			res, err := Paced{Addr: addr, App: app, Conns: 10, Size: 64, Rate: rate, Spin: c.spin, Threads: c.threads, Timing: tm}.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			pc := res.Paced
			// The schedule is exact: every request due in the window is
			// sent, answered and timed.
			if pc == nil || math.Abs(float64(pc.Due)-rate*tm.Duration.Seconds()) > 1 || pc.Lateness.Count() != uint64(pc.Due) {
				t.Fatalf("pacing %+v: want %v requests due in the window, each sent and timed", pc, rate*tm.Duration.Seconds())
			}
			if pc.Overloaded != "" || res.Rate() < minKeptUp*rate || res.Rate() > 1.1*rate {
				t.Fatalf("a fast server answered %.0f/s of %d/s offered (overloaded: %q)", res.Rate(), rate, pc.Overloaded)
			}
			if app == "echo" && res.Bytes != res.Ops*64 {
				t.Fatalf("%d bytes for %d messages of 64 bytes", res.Bytes, res.Ops)
			}
			if res.P50 <= 0 || res.P50 > res.P99 || res.P99 > res.P999 {
				t.Fatalf("percentiles out of order: p50 %v p99 %v p99.9 %v", res.P50, res.P99, res.P999)
			}
			goroutinesSettle(t, before)
		})
	}
}

func TestPacedAllocatesNothingPerRequest(t *testing.T) {
	// The generator's loop allocates nothing per request, so that no
	// garbage collection of its own comes between a due time and its
	// write. The test server allocates nothing per echo either: the
	// process's allocations over a run of 2,000 requests and one of 400
	// differ by its fixed costs alone.
	addr := serve(t, "echo", nil)
	allocs := func(rate float64) uint64 {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Paced{Addr: addr, App: "echo", Conns: 4, Size: 64, Rate: rate, Timing: Timing{Duration: 500 * time.Millisecond}}.Run(context.Background())
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		return after.Mallocs - before.Mallocs
	}
	allocs(800) // connections and histogram buckets of the test's first run
	few, many := allocs(800), allocs(4000)
	t.Logf("%d allocations for 400 requests, %d for 2,000", few, many)
	if many > few+200 {
		t.Fatalf("%d allocations for 2,000 requests against %d for 400: about %.2f per request", many, few, float64(many-few)/1600)
	}
}

func TestPacedChargesAStallToEveryRequestDueDuringIt(t *testing.T) {
	// The server answers at once, except that 300 ms into the run it
	// holds every reply for 200 ms. A closed loop would see one slow
	// reply per connection; at a fixed rate, every request that fell due
	// in those 200 ms waits until they end, and is timed from when it
	// fell due.
	const stall = 200 * time.Millisecond
	var first, stallEnd atomic.Int64
	addr := serve(t, "echo", func(_ int, b []byte) []byte {
		now := time.Now().UnixNano()
		first.CompareAndSwap(0, now)
		if now-first.Load() >= int64(300*time.Millisecond) {
			stallEnd.CompareAndSwap(0, now+int64(stall))
		}
		if end := stallEnd.Load(); now < end {
			time.Sleep(time.Duration(end - now))
		}
		return b
	})
	const rate = 1000
	tm := Timing{Duration: time.Second}
	res, err := Paced{Addr: addr, App: "echo", Conns: 4, Size: 64, Rate: rate, Timing: tm}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// A fifth of the window's requests fell due in the stall, waiting
	// from 200 ms down to nothing: the p90 is at least a quarter of it.
	if p90 := res.Latency.Quantile(0.9); p90 < stall/4 || res.P99 < stall/2 {
		t.Fatalf("p90 %v, p99 %v after a %v stall of the whole server: the requests due during it were not charged for it", p90, res.P99, stall)
	}
	if res.Latency.Max() < stall*3/4 {
		t.Fatalf("max latency %v after a %v stall", res.Latency.Max(), stall)
	}
	// The generator kept its schedule through the stall: the latency is
	// the server's, not late sends.
	if late := res.Paced.Lateness.Quantile(0.99); late > stall/4 {
		t.Fatalf("the sends' lateness p99 %v: the generator waited on the stalled server", late)
	}
}

func TestPacedTimesFromTheDueTimeWhenTheWritesAreLate(t *testing.T) {
	// The server stops reading for 600 ms with a small receive buffer:
	// the generator's socket fills and its writes block, so requests go
	// out late. Their latency must still run from when they fell due,
	// at least as long as their writes were late; timed from the write,
	// it would be the little the server took once it read again.
	fdtest.Check(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const stall = 600 * time.Millisecond
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.(*net.TCPConn).SetReadBuffer(32 << 10)
		buf := make([]byte, 64<<10)
		start, stalled := time.Now(), false
		for {
			if !stalled && time.Since(start) > 200*time.Millisecond {
				stalled = true
				time.Sleep(stall)
			}
			n, err := c.Read(buf)
			if n > 0 {
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
	tm := Timing{Duration: 1200 * time.Millisecond}
	res, err := Paced{Addr: ln.Addr().String(), App: "echo", Conns: 1, Size: 64 << 10, Rate: 400, Timing: tm}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Every request due in the stall more than 100 ms before its end
	// waited at least 100 ms from its due time, however late its write.
	late := res.Paced.Lateness
	want := 0.8 * (stall - 100*time.Millisecond).Seconds() * 400
	got := countAtLeast(res.Latency, 100*time.Millisecond)
	t.Logf("%.0f latencies >= 100 ms of %d (want >= %.0f); %.0f sends >= 100 ms late", got, res.Latency.Count(), want, countAtLeast(late, 100*time.Millisecond))
	if countAtLeast(late, 100*time.Millisecond) < want/4 {
		t.Fatalf("lateness p99 %v: the writes were not held up, the test proves nothing (socket buffers larger than expected?)", late.Quantile(0.99))
	}
	if got < want {
		t.Fatalf("%.0f requests waited 100 ms or more, want at least %.0f of those due in the stall: latency is not timed from the due time", got, want)
	}
}

// countAtLeast returns about how many durations in h are at least d, to
// within 1/1000 of the count.
func countAtLeast(h *Histogram, d time.Duration) float64 {
	for q := 0.001; q <= 1; q += 0.001 {
		if h.Quantile(q) >= d {
			return (1 - q + 0.001) * float64(h.Count())
		}
	}
	return 0
}

func TestPacedMarksASlowServerOverloaded(t *testing.T) {
	// The server answers at most about 500 messages a second, all
	// connections together; 2000 a second are offered.
	var mu sync.Mutex
	addr := serve(t, "echo", func(_ int, b []byte) []byte {
		mu.Lock()
		time.Sleep(time.Duration(len(b)/64) * 2 * time.Millisecond)
		mu.Unlock()
		return b
	})
	const rate = 2000
	tm := Timing{Warmup: 50 * time.Millisecond, Duration: 400 * time.Millisecond}
	res, err := Paced{Addr: addr, App: "echo", Conns: 4, Size: 64, Rate: rate, Timing: tm}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Paced.Overloaded == "" || !strings.Contains(res.Paced.Overloaded, "answered") || res.Rate() > 0.6*rate {
		t.Fatalf("a server answering about 500/s of %d/s offered: achieved %.0f/s, overloaded %q", rate, res.Rate(), res.Paced.Overloaded)
	}
	if res.Paced.Outstanding < rate/10 {
		t.Fatalf("%d requests outstanding at the window's end, want the growing queue", res.Paced.Outstanding)
	}
	// From the due times, latency grows with the queue: requests due at
	// the window's end wait for the whole backlog.
	if res.P50 < 100*time.Millisecond || res.P99 < 300*time.Millisecond {
		t.Fatalf("p50 %v, p99 %v: latency from the due times does not show the queue", res.P50, res.P99)
	}
}

func TestOverloadRules(t *testing.T) {
	const window = time.Second
	for _, c := range []struct {
		achieved    float64
		outstanding int64
		want        string
	}{
		{10000, 20, ""},            // all answered, 2 ms behind
		{9800, 20, ""},             // 98%
		{9600, 20, "answered"},     // 96%
		{10000, 400, ""},           // 40 ms behind, within a twentieth of the window
		{10000, 600, "unanswered"}, // 60 ms behind
	} {
		got := overload(c.achieved, 10000, c.outstanding, window)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("achieved %v, %d outstanding: %q, want %q", c.achieved, c.outstanding, got, c.want)
		}
	}
	// A short window still allows 10 ms of requests in flight.
	if got := overload(10000, 10000, 90, 50*time.Millisecond); got != "" {
		t.Errorf("9 ms behind in a 50 ms window: %q", got)
	}
}

func TestPacedFailsOnOneWrongByte(t *testing.T) {
	var flipped atomic.Bool
	addr := serve(t, "echo", func(n int, b []byte) []byte {
		if n >= 20 && len(b) >= 64 && flipped.CompareAndSwap(false, true) {
			b[40] ^= 0x04
		}
		return b
	})
	_, err := Paced{Addr: addr, App: "echo", Conns: 3, Size: 64, Rate: 1000, Timing: Timing{Duration: 2 * time.Second}}.Run(context.Background())
	var mm *MismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("a flipped bit in one reply gave %v, want a MismatchError", err)
	}
	if mm.Offset%64 != 40 || mm.Got^mm.Want != 0x04 || mm.GotConn != mm.Conn {
		t.Fatalf("mismatch at byte %d (0x%02x vs 0x%02x, header says conn %d), want byte 40 of a message flipped in conn %d's own reply",
			mm.Offset, mm.Got, mm.Want, mm.GotConn, mm.Conn)
	}
}

func TestPacedHTTPFailsOnABrokenResponse(t *testing.T) {
	addr := serve(t, "http", replace("Hello, World!", "Hello, World?"))
	_, err := Paced{Addr: addr, App: "http", Conns: 2, Rate: 500, Timing: Timing{Duration: time.Second}}.Run(context.Background())
	var re *ResponseError
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "body") {
		t.Fatalf("a wrong body gave %v, want a ResponseError about the body", err)
	}
}

func TestPacedRefusesBadConfigurations(t *testing.T) {
	ok := Paced{Addr: "x", App: "echo", Conns: 1, Size: 64, Rate: 100, Timing: quick}
	for name, p := range map[string]Paced{
		"app":        {Addr: "x", App: "ftp", Conns: 1, Size: 64, Rate: 100, Timing: quick},
		"no conns":   {Addr: "x", App: "echo", Size: 64, Rate: 100, Timing: quick},
		"small echo": {Addr: "x", App: "echo", Conns: 1, Size: 4, Rate: 100, Timing: quick},
		"no rate":    {Addr: "x", App: "echo", Conns: 1, Size: 64, Timing: quick},
		"inf rate":   {Addr: "x", App: "echo", Conns: 1, Size: 64, Rate: math.Inf(1), Timing: quick},
		"no time":    {Addr: "x", App: "http", Conns: 1, Rate: 100},
	} {
		if err := p.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := ok.validate(); err != nil {
		t.Errorf("a good configuration refused: %v", err)
	}
}
