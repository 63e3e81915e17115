package soak

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/eventpoll/eventpoll/internal/chaos"
	"github.com/eventpoll/eventpoll/internal/uring"
	"github.com/eventpoll/eventpoll/loop"
	"github.com/eventpoll/eventpoll/server"
)

// childEnv carries a phase's server configuration, as JSON, to the
// process re-run from this binary to serve it (see Child).
const childEnv = "EPOLLBENCH_SOAK_SERVER"

// panicBit marks the connection ids of the soak's own panicking clients;
// panicSeq is the sequence number of the frame on which the handler
// panics.
const (
	panicBit = 1 << 63
	panicSeq = 1 << 62
)

// serverConfig is one phase's server, as the child runs it.
type serverConfig struct {
	Mode        server.Mode
	Engine      loop.Engine
	Loops       int
	ReadBuffer  int
	ReadLimit   int
	WriteHigh   int
	WriteLow    int
	MaxFrame    int
	ReadTimeout time.Duration
	FdRoom      int // >0: RLIMIT_NOFILE lowered to this many above the descriptors open once serving
}

// bound is the most Go heap the server may hold above its baseline (the
// server listening, its loops' read buffers included) with open
// connections at once, as package server states it: per connection, input up to the read limit plus a read buffer
// while the handler leaves bytes unread, output up to the high mark plus
// what one OnData writes (here an echo of what it was handed), and under
// 1 KiB of bookkeeping.
func (c serverConfig) bound(open int64) int64 {
	perConn := int64(2*(c.ReadLimit+c.ReadBuffer) + c.WriteHigh + 1024)
	return open * perConn
}

// serverReport is what the child says about its server: at a "stats"
// command, after a restart and when it stops.
type serverReport struct {
	Stats        server.LoopStats // totals over the server's lives in this phase
	Engine       string           // the engine that ran: "ring", or "epoll" (the ring's fallback included)
	HeapBase     int64            // heap bytes with the server listening, before any connection
	HeapPeak     int64            // most heap bytes sampled while serving, garbage included
	LiveBase     int64            // live heap bytes at the baseline
	LivePeak     int64            // most live heap bytes (as the last collection found them) sampled while serving
	OpenPeak     int64            // most connections open at once
	HeldPeak     int64            // most buffer bytes the connections held at once (Stats HeldIn+HeldOut)
	Restarts     int
	FdsBefore    int // descriptors before the first Listen
	FdsAfter     []int
	GoBefore     int   // goroutines before the first Listen
	GoAfter      []int // after each Shutdown
	ShutdownErrs []string
	Faults       int64 // faults reported that were not panics
	Room         int   // descriptors the server had, with FdRoom
}

// Child runs the soak's server process when this process was started as
// one, and returns its exit status with ok true; otherwise it returns ok
// false at once. epollbench's main and the soak's tests call it first.
func Child() (code int, ok bool) {
	spec := os.Getenv(childEnv)
	if spec == "" {
		return 0, false
	}
	var cfg serverConfig
	if err := json.Unmarshal([]byte(spec), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "soak server: bad %s: %v\n", childEnv, err)
		return 2, true
	}
	if err := serveChild(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "soak server: %v\n", err)
		return 1, true
	}
	return 0, true
}

// echo is the chaos protocol's server: every whole frame back, unchanged;
// a connection whose header is malformed or above the limit closed
// without an answer; and a panic on a frame of a panicking client.
type echo struct {
	server.NopHandler
	max int
}

func (e echo) OnData(c *server.Conn) {
	for {
		b, _ := c.Peek(-1)
		n, err := chaos.FrameLen(b, e.max)
		if err != nil {
			c.Close()
			return
		}
		if n < 0 || len(b) < n || n < chaos.HeaderLen {
			return
		}
		if binary.BigEndian.Uint64(b[4:])&panicBit != 0 && binary.BigEndian.Uint64(b[12:]) == panicSeq {
			panic("soak: injected handler panic")
		}
		c.Write(b[:n])
		c.Discard(n)
	}
}

type child struct {
	cfg     serverConfig
	mu      sync.Mutex
	rep     serverReport
	srv     *server.Server
	served  chan error
	addr    string
	faults  atomic.Int64
	done    server.LoopStats // counters of the servers shut down
	openMax atomic.Int64
	heapMax atomic.Int64
	liveMax atomic.Int64
	heldMax atomic.Int64
	fillers []int       // descriptors taken to leave the server FdRoom
	limit   unix.Rlimit // RLIMIT_NOFILE before exhaust
}

// exhaust lowers RLIMIT_NOFILE to a little above the highest descriptor
// open and takes every free descriptor below it but room, so that the
// server can open only room more: the descriptor table as a process that
// has run out of them sees it.
func (c *child) exhaust(room int) error {
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &c.limit); err != nil {
		return fmt.Errorf("getrlimit: %v", err)
	}
	lim := c.limit
	lim.Cur = uint64(maxFd() + 1 + room)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("setrlimit: %v", err)
	}
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.EMFILE {
			break
		}
		if err != nil {
			return fmt.Errorf("open /dev/null: %v", err)
		}
		c.fillers = append(c.fillers, fd)
	}
	for _, fd := range c.fillers[len(c.fillers)-min(room, len(c.fillers)):] {
		unix.Close(fd)
	}
	c.fillers = c.fillers[:len(c.fillers)-min(room, len(c.fillers))]
	c.rep.Room = room
	return nil
}

// unexhaust gives the descriptors and the limit back.
func (c *child) unexhaust() {
	for _, fd := range c.fillers {
		unix.Close(fd)
	}
	if c.fillers != nil {
		unix.Setrlimit(unix.RLIMIT_NOFILE, &c.limit)
	}
	c.fillers = nil
}

func serveChild(cfg serverConfig) error {
	c := &child{cfg: cfg}
	c.rep.Engine = cfg.Engine.String()
	if cfg.Engine == loop.EngineRing && !uring.OpSupported(uring.OpEpollWait) {
		c.rep.Engine = loop.EngineEpoll.String() // the ring engine's fallback
	}
	// The runtime opens its poller's descriptors (an epoll instance and an
	// eventfd) with the first timer: before the baseline, not after.
	time.Sleep(time.Millisecond)
	c.rep.FdsBefore = countFds()
	c.rep.GoBefore = runtime.NumGoroutine()
	if err := c.start("127.0.0.1:0"); err != nil {
		return err
	}
	// The baseline is the server listening with no connection: its loops'
	// tables and read buffers, which the bound does not count again.
	runtime.GC()
	c.rep.HeapBase, c.rep.LiveBase = heapBytes()
	if cfg.FdRoom > 0 {
		// Every loop opens its wake-up eventfd on its first blocking wait:
		// let them sleep once before descriptors run short.
		time.Sleep(100 * time.Millisecond)
		if err := c.exhaust(cfg.FdRoom); err != nil {
			return err
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the peaks, sampled
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			objects, live := heapBytes()
			raise(&c.heapMax, objects)
			raise(&c.liveMax, live)
			c.mu.Lock()
			if c.srv != nil {
				st := c.srv.Stats().Total
				raise(&c.openMax, st.Open)
				raise(&c.heldMax, st.HeldIn+st.HeldOut)
			}
			c.mu.Unlock()
		}
	}()
	out := bufio.NewWriter(os.Stdout)
	say := func(verb string, v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(out, "%s %s\n", verb, b)
		out.Flush()
	}
	say("addr", c.addr)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "stats":
			say("stats", c.report())
		case "restart":
			c.shutdown()
			c.rep.Restarts++
			// The old server is garbage now, not memory the new one holds.
			runtime.GC()
			if err := c.start(c.addr); err != nil {
				return err
			}
			say("restarted", c.report())
		case "stop":
			c.shutdown()
			close(stop)
			wg.Wait()
			say("stopped", c.report())
			return nil
		}
	}
	return fmt.Errorf("stdin closed without stop: %v", in.Err())
}

func (c *child) start(addr string) error {
	cfg := c.cfg
	srv, err := server.Listen("tcp", addr, echo{max: cfg.MaxFrame},
		server.WithMode(cfg.Mode), server.WithEngine(cfg.Engine), server.WithLoops(cfg.Loops),
		server.WithReadBuffer(cfg.ReadBuffer), server.WithReadLimit(cfg.ReadLimit),
		server.WithWriteLimit(cfg.WriteHigh, cfg.WriteLow), server.WithReadTimeout(cfg.ReadTimeout),
		server.WithFaultHandler(func(conn *server.Conn, err error) {
			if _, ok := err.(*loop.PanicError); !ok {
				c.faults.Add(1)
				fmt.Fprintf(os.Stderr, "soak server: fault: %v\n", err)
			}
		}))
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	c.mu.Lock()
	c.srv, c.served, c.addr = srv, served, srv.Addr().String()
	c.mu.Unlock()
	// A Shutdown that came before Serve began would close a server that
	// never served (Serve then returns ErrClosed), and the restart phase
	// would not have restarted anything: report the address only once a
	// frame has been echoed.
	return probe(c.addr)
}

// probe sends one frame to the server at addr and waits for its echo.
func probe(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return fmt.Errorf("soak: probe of the new server: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	f := chaos.AppendFrame(nil, 0, 0, 8)
	if _, err := conn.Write(f); err != nil {
		return fmt.Errorf("soak: probe of the new server: %w", err)
	}
	back := make([]byte, len(f))
	if _, err := io.ReadFull(conn, back); err != nil {
		return fmt.Errorf("soak: probe of the new server: no echo: %w", err)
	}
	if !bytes.Equal(back, f) {
		return fmt.Errorf("soak: probe of the new server: echo differs from the frame sent")
	}
	return nil
}

// shutdown shuts the server down and records the descriptors and
// goroutines left, once Serve has returned, against those before the
// first Listen.
func (c *child) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := c.srv.Shutdown(ctx)
	cancel()
	if err != nil {
		c.rep.ShutdownErrs = append(c.rep.ShutdownErrs, "Shutdown: "+err.Error())
	}
	if err := <-c.served; err != nil {
		c.rep.ShutdownErrs = append(c.rep.ShutdownErrs, "Serve: "+err.Error())
	}
	c.mu.Lock()
	addCounts(&c.done, c.srv.Stats().Total)
	c.srv = nil
	c.mu.Unlock()
	c.unexhaust()
	// Descriptors close and goroutines end as Shutdown returns; allow the
	// runtime a moment for the last of them.
	// The child's one goroutine of its own since then is the sampler.
	fds, gs := countFds(), runtime.NumGoroutine()-1
	for deadline := time.Now().Add(2 * time.Second); (fds != c.rep.FdsBefore || gs != c.rep.GoBefore) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		fds, gs = countFds(), runtime.NumGoroutine()-1
	}
	c.rep.FdsAfter = append(c.rep.FdsAfter, fds)
	c.rep.GoAfter = append(c.rep.GoAfter, gs)
}

func (c *child) report() serverReport {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rep
	r.FdsAfter = append([]int(nil), r.FdsAfter...)
	r.GoAfter = append([]int(nil), r.GoAfter...)
	r.Stats = c.done
	if c.srv != nil {
		addCounts(&r.Stats, c.srv.Stats().Total)
		r.Stats.Open = c.srv.Stats().Total.Open
	}
	r.HeapPeak = c.heapMax.Load()
	r.LivePeak = c.liveMax.Load()
	r.OpenPeak = c.openMax.Load()
	r.HeldPeak = c.heldMax.Load()
	r.Faults = c.faults.Load()
	return r
}

func raise(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

var heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}

// heapBytes returns the heap's objects, garbage not yet swept included,
// and the heap the last collection found live.
func heapBytes() (objects, live int64) {
	metrics.Read(heapSample)
	return int64(heapSample[0].Value.Uint64()), int64(heapSample[1].Value.Uint64())
}

func countFds() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents) - 1 // the directory's own descriptor
}

func maxFd() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	m := 0
	for _, e := range ents {
		var n int
		fmt.Sscan(e.Name(), &n)
		m = max(m, n)
	}
	return m
}
