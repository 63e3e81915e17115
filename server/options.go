package server

import (
	"log"
	"runtime"
	"strconv"
	"time"

	"github.com/eventpoll/eventpoll/internal/errs"
	"github.com/eventpoll/eventpoll/loop"
)

// Mode says how a TCP or Unix server spreads new connections over its
// loops (seed 003: one queue shared by every waiter, or a queue per waiter).
type Mode int

const (
	// MultiQueue, the default, gives every loop a listening socket of its
	// own, bound to the same address with SO_REUSEPORT: the kernel hashes
	// each incoming connection to one of them, and a loop accepts only from
	// its own queue. Nothing is shared between loops, no loop is woken for
	// another's connection, and accepting scales with the loops. Pick it
	// unless you need one of the others. Its limits: the spread is by hash,
	// not by load, so a loop stalled by a slow handler still gets its share;
	// the connections queued on a listener are reset when its loop stops; a
	// Unix socket path cannot be bound twice, so for "unix" MultiQueue runs
	// as SharedQueue.
	MultiQueue Mode = iota
	// SharedQueue makes one listening socket and registers it in every
	// loop's epoll instance with EPOLLEXCLUSIVE: a new connection wakes one
	// waiting loop (not all of them, the thundering herd) and whichever
	// loop wakes accepts. An idle loop takes the next connection, so the
	// spread follows load more than hashing does, at the price of every
	// loop accepting from one queue (one lock in the kernel). Pick it when
	// handlers vary in cost and connections are long-lived, or when several
	// processes must not share the port.
	SharedQueue
	// Acceptor adds one loop that only accepts, and hands each connection to
	// a serving loop, chosen by Balance (round-robin by default, or the loop
	// with the fewest connections), through that loop's Post; the serving
	// loop registers it. Accepting never waits behind a handler, and the
	// spread is exact. Each connection costs a cross-thread hand-over
	// (a posted function and, when the loop sleeps, a wake-up). Pick it for
	// many short connections whose handlers are uneven, or when
	// LeastConnections matters.
	Acceptor
)

// String returns "multi-queue", "shared-queue" or "acceptor".
func (m Mode) String() string {
	switch m {
	case MultiQueue:
		return "multi-queue"
	case SharedQueue:
		return "shared-queue"
	case Acceptor:
		return "acceptor"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Balance says how the Acceptor mode picks a serving loop.
type Balance int

const (
	// RoundRobin, the default, hands connections to the loops in turn.
	RoundRobin Balance = iota
	// LeastConnections hands each connection to the loop with the fewest
	// open (or in-flight) connections.
	LeastConnections
)

// String returns "round-robin" or "least-connections".
func (b Balance) String() string {
	switch b {
	case RoundRobin:
		return "round-robin"
	case LeastConnections:
		return "least-connections"
	}
	return "Balance(" + strconv.Itoa(int(b)) + ")"
}

// Option configures Listen.
type Option func(*config)

type config struct {
	loops       int
	mode        Mode
	balance     Balance
	readBuf     int
	readLimit   int
	writeHigh   int
	writeLow    int
	idle        time.Duration
	read        time.Duration
	write       time.Duration
	noDelay     bool
	keepAlive   time.Duration
	rcvBuf      int
	sndBuf      int
	backlog     int
	cpus        []int
	engine      loop.Engine
	loopOpts    []loop.Option
	fault       func(c *Conn, err error)
	packetSize  int
	packetBatch int
}

// The defaults of the options that take sizes.
const (
	DefaultReadBuffer  = 64 << 10  // WithReadBuffer: a loop's read buffer, in bytes
	DefaultReadLimit   = 1 << 20   // WithReadLimit: bytes a connection may leave unread
	DefaultWriteHigh   = 1 << 20   // WithWriteLimit: queued bytes past which reading stops
	DefaultWriteLow    = 256 << 10 // WithWriteLimit: queued bytes at which reading resumes
	DefaultPacketSize  = 2048      // WithPacketSize: the largest datagram received whole
	DefaultPacketBatch = 32        // WithPacketBatch: datagrams per recvmmsg or sendmmsg
)

func defaultConfig() config {
	return config{
		loops:       runtime.GOMAXPROCS(0),
		readBuf:     DefaultReadBuffer,
		readLimit:   DefaultReadLimit,
		writeHigh:   DefaultWriteHigh,
		writeLow:    DefaultWriteLow,
		noDelay:     true,
		fault:       logFault,
		packetSize:  DefaultPacketSize,
		packetBatch: DefaultPacketBatch,
	}
}

func (c *config) check() error {
	bad := func(why string) error { return errs.Invalid(pkg, "Listen", -1, why) }
	switch {
	case c.loops < 1 || c.loops > 1024:
		return bad("loops " + strconv.Itoa(c.loops) + " outside [1, 1024]")
	case c.mode < MultiQueue || c.mode > Acceptor:
		return bad("unknown mode " + c.mode.String())
	case c.balance < RoundRobin || c.balance > LeastConnections:
		return bad("unknown balance " + c.balance.String())
	case c.readBuf < 512 || c.readBuf > 16<<20:
		return bad("read buffer " + strconv.Itoa(c.readBuf) + " outside [512, 16 MiB]")
	case c.readLimit < 0 || c.readLimit > 1<<30:
		return bad("read limit " + strconv.Itoa(c.readLimit) + " outside [0, 1 GiB]")
	case c.writeHigh < 1 || c.writeHigh > 1<<30 || c.writeLow < 0 || c.writeLow > c.writeHigh:
		return bad("write limit marks " + strconv.Itoa(c.writeHigh) + "/" + strconv.Itoa(c.writeLow) + ": want 0 <= low <= high, 1 <= high <= 1 GiB")
	case c.idle < 0 || c.read < 0 || c.write < 0:
		return bad("negative timeout")
	case c.keepAlive < 0:
		return bad("negative keep-alive period")
	case c.rcvBuf < 0 || c.sndBuf < 0:
		return bad("negative socket buffer size")
	case c.backlog < 0:
		return bad("negative backlog")
	case c.fault == nil:
		return bad("nil fault handler")
	case c.packetSize < 1 || c.packetSize > 65535:
		return bad("packet size " + strconv.Itoa(c.packetSize) + " outside [1, 65535]")
	case c.packetBatch < 1 || c.packetBatch > 1024:
		return bad("packet batch " + strconv.Itoa(c.packetBatch) + " outside [1, 1024]")
	}
	for _, cpu := range c.cpus {
		if cpu < 0 {
			return bad("negative CPU " + strconv.Itoa(cpu))
		}
	}
	return nil
}

// WithLoops sets the number of loops serving connections, each a goroutine
// locked to its OS thread (default runtime.GOMAXPROCS(0); 1 to 1024). The
// Acceptor mode runs one more loop, which only accepts.
func WithLoops(n int) Option { return func(c *config) { c.loops = n } }

// WithMode sets how connections are spread over the loops (default
// MultiQueue). UDP ignores it: a UDP server always has one socket per loop.
func WithMode(m Mode) Option { return func(c *config) { c.mode = m } }

// WithBalance sets how the Acceptor mode picks a loop for a connection
// (default RoundRobin). The other modes ignore it.
func WithBalance(b Balance) Option { return func(c *config) { c.balance = b } }

// WithReadBuffer sets the size of each loop's read buffer, the most one
// read(2) takes from a socket (default 64 KiB; 512 B to 16 MiB). It is the
// only read buffer a loop has: a connection holds bytes of its own only
// while its handler leaves them unread.
func WithReadBuffer(n int) Option { return func(c *config) { c.readBuf = n } }

// WithReadLimit sets how many bytes a connection may hold unread between
// two calls of OnData (default 1 MiB; 0 means none may be left). A handler
// that leaves more, waiting for the rest of a message larger than this,
// has its connection closed with an error matching ErrReadLimit. A
// connection's input then never holds more than the limit plus one read
// buffer.
func WithReadLimit(n int) Option { return func(c *config) { c.readLimit = n } }

// WithWriteLimit sets the write queue's marks (default 1 MiB and 256 KiB).
// When a connection's queued output (what the socket did not take) grows
// past high, the connection stops being read, so a peer that sends without
// reading cannot make the server queue without end; it is read again once
// the queue has drained to low or below. Writes are never refused for
// being past the mark: a handler that writes without being asked (a push)
// watches Conn.Outbound itself.
func WithWriteLimit(high, low int) Option {
	return func(c *config) { c.writeHigh, c.writeLow = high, low }
}

// WithIdleTimeout closes a connection on which no byte was read or written
// for d, with ErrIdleTimeout (default 0: never). Conn.SetIdleTimeout
// overrides it per connection.
func WithIdleTimeout(d time.Duration) Option { return func(c *config) { c.idle = d } }

// WithReadTimeout closes a connection whose handler has left bytes unread
// (an incomplete message) for d without consuming them all, with
// ErrReadTimeout: a request that trickles in a byte at a time (slowloris)
// is cut at d after its first byte (default 0: never). Conn.SetReadTimeout
// overrides it per connection.
func WithReadTimeout(d time.Duration) Option { return func(c *config) { c.read = d } }

// WithWriteTimeout closes a connection whose queued output made no
// progress for d (the peer stopped reading), with ErrWriteTimeout
// (default 0: never). Conn.SetWriteTimeout overrides it per connection.
func WithWriteTimeout(d time.Duration) Option { return func(c *config) { c.write = d } }

// WithNoDelay sets TCP_NODELAY on the listening sockets, which accepted
// connections inherit (default true: small writes leave at once instead
// of waiting for Nagle's algorithm).
func WithNoDelay(on bool) Option { return func(c *config) { c.noDelay = on } }

// WithKeepAlive turns SO_KEEPALIVE on with TCP_KEEPIDLE and TCP_KEEPINTVL
// set to d (rounded up to whole seconds), inherited by accepted
// connections: a peer that vanished is found after d plus nine probes and
// its connection ends with ETIMEDOUT (default 0: off).
func WithKeepAlive(d time.Duration) Option { return func(c *config) { c.keepAlive = d } }

// WithSocketBuffers sets SO_RCVBUF and SO_SNDBUF on the listening sockets,
// inherited by accepted connections; 0 leaves the kernel's autotuning
// (the default for both). The kernel doubles the values given.
func WithSocketBuffers(rcv, snd int) Option { return func(c *config) { c.rcvBuf, c.sndBuf = rcv, snd } }

// WithBacklog sets listen(2)'s backlog (default 0: net.core.somaxconn, the
// most the kernel allows).
func WithBacklog(n int) Option { return func(c *config) { c.backlog = n } }

// WithCPUs pins loop i to cpus[i % len(cpus)] (loop.WithCPU) while it runs
// (default: no pinning). The Acceptor mode's accepting loop is not pinned.
// A CPU a loop's thread cannot run on makes Serve fail with an error
// matching EINVAL, the server closed.
func WithCPUs(cpus ...int) Option {
	return func(c *config) { c.cpus = append([]int(nil), cpus...) }
}

// WithEngine sets the loops' engine (loop.WithEngine; default
// loop.EngineEpoll).
func WithEngine(e loop.Engine) Option { return func(c *config) { c.engine = e } }

// WithLoopOptions passes options to every loop.New (timer slack, event
// buffer, busy polling). The server sets the engine, CPU and fault handler
// itself; options given here come after its own.
func WithLoopOptions(opts ...loop.Option) Option {
	return func(c *config) { c.loopOpts = append(c.loopOpts, opts...) }
}

// WithFaultHandler sets the function told of faults the server survives:
// a handler that panicked (err is a *loop.PanicError, c its connection,
// which has been closed with that error), and errors of a loop or a
// listener not tied to one connection (c is nil). It runs on the loop's
// goroutine and must not block. The default logs the fault, with the stack
// of a panic, to the standard logger.
func WithFaultHandler(f func(c *Conn, err error)) Option { return func(c *config) { c.fault = f } }

// WithPacketSize sets the largest UDP datagram received whole (default
// 2048; 1 to 65535); a longer one is dropped and counted in
// Stats.PacketsDropped. Each loop holds WithPacketBatch receive slots and
// as many send slots of this size.
func WithPacketSize(n int) Option { return func(c *config) { c.packetSize = n } }

// WithPacketBatch sets how many datagrams one recvmmsg or sendmmsg moves
// at most (default 32; 1 to 1024).
func WithPacketBatch(n int) Option { return func(c *config) { c.packetBatch = n } }

func logFault(c *Conn, err error) {
	who := "server"
	if c != nil {
		who = "server: connection " + c.RemoteAddrPort().String()
	}
	if pe, ok := err.(*loop.PanicError); ok {
		log.Printf("%s: %v\n%s", who, pe, pe.Stack)
		return
	}
	log.Printf("%s: %v", who, err)
}
