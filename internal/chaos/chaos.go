package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Behaviour is what one client does.
type Behaviour int

// The behaviours. The first five behave: every frame they send must come
// back, whole, in order, to them; a frame lost or misdelivered is a
// failure. The others misbehave, and the server must survive them.
const (
	Normal           Behaviour = iota // frames with a random pipeline depth, written in random pieces
	OneByteReads                      // Normal, reading the echoes one byte per read(2)
	HalfClose                         // sends every frame, shuts its writing half, reads to EOF
	DeepPipeline                      // sends hundreds of frames before reading any
	Burst                             // opens a burst of connections at once, one frame each
	Slowloris                         // a frame one byte per SlowInterval
	NeverRead                         // writes frames and never reads, until writing blocks
	ResetMidRequest                   // half a frame, then an RST (SO_LINGER 0)
	ResetMidResponse                  // a large frame, part of its echo, then an RST
	ConnectClose                      // connects and closes without a byte
	Oversized                         // a header announcing more than the server's limit
	Malformed                         // a header with a length under MinBody
	SlowReader                        // behaves: PipelineBytes/4 pushed at once, the echoes read a little at a time
	Panic                             // a few frames, then one with sequence PanicSeq: the server's handler panics on it
	numBehaviours
)

var names = [...]string{"normal", "one-byte-reads", "half-close", "deep-pipeline", "burst", "slowloris",
	"never-read", "reset-mid-request", "reset-mid-response", "connect-close", "oversized", "malformed",
	"slow-reader", "panic"}

// String returns the behaviour's name.
func (b Behaviour) String() string {
	if b >= 0 && b < numBehaviours {
		return names[b]
	}
	return fmt.Sprintf("Behaviour(%d)", int(b))
}

// Behaves reports whether every frame the behaviour sends must come back.
func (b Behaviour) Behaves() bool { return b <= Burst || b == SlowReader }

// Behaviours is every behaviour, in order.
func Behaviours() []Behaviour {
	bs := make([]Behaviour, numBehaviours)
	for i := range bs {
		bs[i] = Behaviour(i)
	}
	return bs
}

// NumBehaviours is the number of behaviours, the length of
// Result.ByBehaviour.
const NumBehaviours = int(numBehaviours)

// Config is a run.
type Config struct {
	Network, Addr string
	Seed          uint64
	Conns         int                              // connections over the run (a Burst counts each of its own)
	Concurrency   int                              // clients at once
	Weights       map[Behaviour]int                // the mix; nil: every behaviour alike but Panic, which needs a server built for it
	MaxFrame      int                              // the server's frame limit (Oversized exceeds it); 0: 1 MiB
	MaxPayload    int                              // largest payload of a behaved frame; 0: 4 KiB
	SlowInterval  time.Duration                    // Slowloris's pace; 0: 50 ms
	BurstSize     int                              // 0: 50
	OpTimeout     time.Duration                    // bound of every client operation; 0: 10 s
	Shutdown      bool                             // the server shuts down during the run: unanswered frames are not lost, torn ones are
	OnConnect     func(id uint64)                  // optional, for tests
	Log           func(format string, args ...any) // optional

	// PipelineBytes is how many bytes of frames a DeepPipeline client
	// writes while it reads (one goroutine writes, another reads, so the
	// pipeline may be deeper than every buffer between the two); 0: 200 to
	// 500 frames. A SlowReader client writes a quarter of it (0: 256 KiB).
	PipelineBytes int
	// SlowRead is the pause of a SlowReader client after each read of at
	// most 4 KiB; 0: 1 ms.
	SlowRead time.Duration
	// MayRefuse says the server may close a new connection before answering
	// anything, as a server out of descriptors refuses the connection at the
	// head of its queue: a behaved client whose connection ends before its
	// first echo is counted in Result.Unserved instead of Lost. The caller
	// compares Unserved with the refusals the server reports.
	MayRefuse bool
}

// Result is what a run saw.
type Result struct {
	Seed         uint64
	Conns        int64                // connections made
	ByBehaviour  [numBehaviours]int64 // clients per behaviour
	FramesSent   int64                // by behaved clients
	FramesBack   int64                // verified echoes
	BytesBack    int64
	Misdelivered int64 // frames of another connection, out of order, or corrupted
	Lost         int64 // frames of behaved clients that never came back
	Torn         int64 // echoes cut off in the middle
	Unrefused    int64 // oversized or malformed frames the server answered instead of closing
	Refused      int64 // oversized or malformed connections the server closed
	SlowClosed   int64 // slowloris clients the server closed
	NeverReadMax int64 // most bytes a never-reading client got the server to take
	DialErrors   int64
	Panicked     int64    // Panic clients closed by the server after their panic frame, the frames before it echoed
	PanicEchoed  int64    // Panic clients whose panic frame was echoed (a server that does not panic on it)
	SlowAlive    int64    // slowloris clients that sent a whole frame, or lasted OpTimeout, without being closed
	BurstMax     int64    // the largest burst of connections opened at once
	Unserved     int64    // behaved clients closed before their first echo, with Config.MayRefuse
	Failures     []string // the first failures, described
	mu           sync.Mutex
}

// Failed reports whether the server did what it must never do.
func (r *Result) Failed() bool {
	return r.Misdelivered != 0 || r.Lost != 0 || r.Torn != 0 || r.Unrefused != 0
}

// String is a one-paragraph summary, the seed first so a failure can be
// replayed.
func (r *Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: %d connections (", r.Seed, r.Conns)
	for i, n := range r.ByBehaviour {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", Behaviour(i), n)
	}
	fmt.Fprintf(&b, "); behaved frames sent %d, echoed %d (%d bytes); misdelivered %d, lost %d, torn %d; "+
		"refused %d, answered-instead-of-refused %d; slowloris closed %d; never-read clients pushed at most %d bytes; dial errors %d",
		r.FramesSent, r.FramesBack, r.BytesBack, r.Misdelivered, r.Lost, r.Torn, r.Refused, r.Unrefused,
		r.SlowClosed, r.NeverReadMax, r.DialErrors)
	if r.Panicked != 0 || r.PanicEchoed != 0 {
		fmt.Fprintf(&b, "; panic frames closed %d, echoed %d", r.Panicked, r.PanicEchoed)
	}
	return b.String()
}

func (r *Result) fail(format string, args ...any) {
	r.mu.Lock()
	if len(r.Failures) < 20 {
		r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
	}
	r.mu.Unlock()
}

func (c *Config) defaults() {
	if c.Network == "" {
		c.Network = "tcp"
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 64
	}
	if c.MaxFrame <= 0 {
		c.MaxFrame = 1 << 20
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = 4096
	}
	if c.SlowInterval <= 0 {
		c.SlowInterval = 50 * time.Millisecond
	}
	if c.BurstSize <= 0 {
		c.BurstSize = 50
	}
	if c.OpTimeout <= 0 {
		c.OpTimeout = 10 * time.Second
	}
	if c.SlowRead <= 0 {
		c.SlowRead = time.Millisecond
	}
}

// Run drives cfg.Conns connections against the server, cfg.Concurrency at
// a time, until they are done or ctx ends, and returns what it saw.
func Run(ctx context.Context, cfg Config) *Result {
	cfg.defaults()
	res := &Result{Seed: cfg.Seed}
	var weights []Behaviour
	for b := Behaviour(0); b < numBehaviours; b++ {
		w := 1
		if cfg.Weights != nil {
			w = cfg.Weights[b]
		} else if b == Panic {
			w = 0
		}
		for range w {
			weights = append(weights, b)
		}
	}
	if len(weights) == 0 {
		return res
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(cfg.Conns) {
					return
				}
				rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
				b := weights[rng.IntN(len(weights))]
				atomic.AddInt64(&res.ByBehaviour[b], 1)
				c := &client{cfg: &cfg, res: res, rng: rng, id: uint64(i)<<16 + 1, ctx: ctx}
				if b == Burst {
					next.Add(int64(cfg.BurstSize - 1))
				}
				c.run(b)
			}
		}()
	}
	wg.Wait()
	return res
}

type client struct {
	cfg *Config
	res *Result
	rng *rand.Rand
	id  uint64
	ctx context.Context
}

func (c *client) dial() (net.Conn, error) {
	d := net.Dialer{Timeout: c.cfg.OpTimeout}
	conn, err := d.DialContext(c.ctx, c.cfg.Network, c.cfg.Addr)
	if err != nil {
		atomic.AddInt64(&c.res.DialErrors, 1)
		return nil, err
	}
	atomic.AddInt64(&c.res.Conns, 1)
	if c.cfg.OnConnect != nil {
		c.cfg.OnConnect(c.id)
	}
	conn.SetDeadline(time.Now().Add(c.cfg.OpTimeout))
	return conn, nil
}

func (c *client) run(b Behaviour) {
	switch b {
	case Normal, OneByteReads:
		c.echo(1+c.rng.IntN(64), 1+c.rng.IntN(4), b == OneByteReads, false)
	case HalfClose:
		c.echo(1+c.rng.IntN(32), 1<<30, false, true)
	case DeepPipeline:
		if c.cfg.PipelineBytes > 0 {
			c.stream(0, c.cfg.PipelineBytes, 0)
		} else {
			c.stream(200+c.rng.IntN(300), 0, 0)
		}
	case SlowReader:
		n := c.cfg.PipelineBytes / 4
		if n <= 0 {
			n = 256 << 10
		}
		c.stream(0, n, c.cfg.SlowRead)
	case Panic:
		c.panicFrame()
	case Burst:
		c.burst()
	case Slowloris:
		c.slowloris()
	case NeverRead:
		c.neverRead()
	case ResetMidRequest:
		c.resetMidRequest()
	case ResetMidResponse:
		c.resetMidResponse()
	case ConnectClose:
		if conn, err := c.dial(); err == nil {
			conn.Close()
		}
	case Oversized:
		c.refused(uint32(c.cfg.MaxFrame + 1))
	case Malformed:
		c.refused(uint32(c.rng.IntN(MinBody)))
	}
}

// echo sends frames frames, at most depth unanswered at a time, in random
// pieces, and verifies every echo. OpTimeout bounds each frame's write and
// each echo's read, not the connection: 64 frames read a byte at a time
// on a loaded machine may take longer in all than one operation may. With closeWrite it shuts its writing
// half after the last frame and then expects, after the last echo, EOF.
func (c *client) echo(frames, depth int, oneByte, closeWrite bool) {
	conn, err := c.dial()
	if err != nil {
		return
	}
	defer conn.Close()
	sent, back := 0, 0
	rd := &frameReader{conn: conn, oneByte: oneByte}
	var buf []byte
	for back < frames {
		for sent < frames && sent-back < depth {
			buf = AppendFrame(buf[:0], c.id, uint64(sent), c.rng.IntN(c.cfg.MaxPayload+1))
			conn.SetWriteDeadline(time.Now().Add(c.cfg.OpTimeout))
			if err := c.writePieces(conn, buf); err != nil {
				c.unanswered(sent, back, err)
				return
			}
			sent++
			atomic.AddInt64(&c.res.FramesSent, 1)
			if closeWrite && sent == frames {
				conn.(*net.TCPConn).CloseWrite()
			}
		}
		err := c.echoed(conn, rd, back)
		if errors.Is(err, errMisdelivered) {
			return
		}
		if err != nil {
			c.unanswered(sent, back, err)
			return
		}
		back++
	}
	if closeWrite {
		// The server has answered everything and sees our EOF: it must end
		// the connection, with nothing more.
		conn.SetReadDeadline(time.Now().Add(c.cfg.OpTimeout))
		if f, err := rd.next(); err == nil {
			atomic.AddInt64(&c.res.Misdelivered, 1)
			c.res.fail("connection %d: an extra frame %x after the last", c.id, f[:min(len(f), 24)])
		}
	}
}

// echoed reads the echo of frame seq within OpTimeout and counts it back.
// A read that fails returns its error, a torn frame (outside a shutdown)
// counted and failed as such; an echo that is not frame seq is counted
// misdelivered and failed, and returns errMisdelivered.
func (c *client) echoed(conn net.Conn, rd *frameReader, seq int) error {
	conn.SetReadDeadline(time.Now().Add(c.cfg.OpTimeout))
	f, err := rd.next()
	if err != nil {
		if errors.Is(err, errTorn) && !c.cfg.Shutdown {
			atomic.AddInt64(&c.res.Torn, 1)
			c.res.fail("connection %d: %v", c.id, err)
		}
		return err
	}
	if err := checkFrame(f, c.id, uint64(seq)); err != nil {
		atomic.AddInt64(&c.res.Misdelivered, 1)
		c.res.fail("%v", err)
		return errMisdelivered
	}
	atomic.AddInt64(&c.res.FramesBack, 1)
	atomic.AddInt64(&c.res.BytesBack, int64(len(f)))
	return nil
}

// unanswered records the frames a behaved client sent that did not come
// back, as lost unless the server was shutting down.
func (c *client) unanswered(sent, back int, err error) {
	if sent <= back || c.ctx.Err() != nil {
		return
	}
	if c.cfg.Shutdown {
		return
	}
	if c.cfg.MayRefuse && back == 0 && !errors.Is(err, errTorn) && !isTimeout(err) {
		atomic.AddInt64(&c.res.Unserved, 1)
		return
	}
	atomic.AddInt64(&c.res.Lost, int64(sent-back))
	c.res.fail("connection %d: %d frames unanswered: %v", c.id, sent-back, err)
}

// writePieces writes b in random-sized pieces, as a network would deliver
// it.
func (c *client) writePieces(conn net.Conn, b []byte) error {
	for len(b) > 0 {
		n := 1 + c.rng.IntN(len(b))
		if _, err := conn.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// stream writes frames from one goroutine (frames of them, or until
// bytes have been written) while this one reads and verifies the echoes,
// pausing pace after each read when pace > 0. Nothing waits for an echo
// before writing on: the pipeline is as deep as the server lets it be, so
// the server's backpressure (it stops reading past its write limit) is
// what keeps it bounded, and none of it may lose or reorder a byte.
func (c *client) stream(frames, bytes int, pace time.Duration) {
	conn, err := c.dial()
	if err != nil {
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Time{}) // each side sets its own below
	// The frames' sizes are drawn first, so the reader knows how many
	// will come.
	var sizes []int
	for total := 0; frames > 0 && len(sizes) < frames || bytes > 0 && total < bytes; {
		n := c.rng.IntN(c.cfg.MaxPayload + 1)
		sizes = append(sizes, n)
		total += HeaderLen + n
	}
	wrng := rand.New(rand.NewPCG(c.rng.Uint64(), c.rng.Uint64()))
	var sent atomic.Int64
	wdone := make(chan error, 1)
	go func() {
		var buf []byte
		for seq, n := range sizes {
			buf = AppendFrame(buf[:0], c.id, uint64(seq), n)
			// The writer stops when the reader does (it closes conn) or
			// when nothing moves for OpTimeout.
			conn.SetWriteDeadline(time.Now().Add(c.cfg.OpTimeout))
			for b := buf; len(b) > 0; {
				k := 1 + wrng.IntN(len(b))
				if _, err := conn.Write(b[:k]); err != nil {
					wdone <- err
					return
				}
				b = b[k:]
			}
			sent.Add(1)
			atomic.AddInt64(&c.res.FramesSent, 1)
		}
		wdone <- nil
	}()
	rd := &frameReader{conn: conn, want: 4 << 10}
	if pace <= 0 {
		rd.want = 0
	}
	back := 0
	for back < len(sizes) {
		err := c.echoed(conn, rd, back)
		if errors.Is(err, errMisdelivered) {
			conn.Close()
			<-wdone
			return
		}
		if err != nil {
			conn.Close()
			if werr := <-wdone; werr != nil {
				err = fmt.Errorf("%w (writing: %v)", err, werr)
			}
			c.unanswered(int(sent.Load()), back, err)
			return
		}
		back++
		if pace > 0 {
			time.Sleep(pace)
		}
	}
	<-wdone
}

// panicFrame echoes a few frames, then sends one with sequence PanicSeq,
// on which a server built for it panics: the connection must then end
// without an echo of it (the frames before it came back whole), and only
// this connection.
func (c *client) panicFrame() {
	conn, err := c.dial()
	if err != nil {
		return
	}
	defer conn.Close()
	frames := c.rng.IntN(4)
	rd := &frameReader{conn: conn}
	var buf []byte
	for seq := 0; seq < frames; seq++ {
		buf = AppendFrame(buf[:0], c.id, uint64(seq), c.rng.IntN(c.cfg.MaxPayload+1))
		if err := c.writePieces(conn, buf); err != nil {
			return
		}
		f, err := rd.next()
		if err != nil {
			if !c.cfg.Shutdown && c.ctx.Err() == nil {
				atomic.AddInt64(&c.res.Lost, 1)
				c.res.fail("connection %d (panic): frame %d unanswered: %v", c.id, seq, err)
			}
			return
		}
		if err := checkFrame(f, c.id, uint64(seq)); err != nil {
			atomic.AddInt64(&c.res.Misdelivered, 1)
			c.res.fail("%v", err)
			return
		}
	}
	buf = AppendFrame(buf[:0], c.id, PanicSeq, c.rng.IntN(64))
	if _, err := conn.Write(buf); err != nil {
		return
	}
	f, err := rd.next()
	switch {
	case err == nil && checkFrame(f, c.id, PanicSeq) == nil:
		atomic.AddInt64(&c.res.PanicEchoed, 1)
	case err == nil:
		atomic.AddInt64(&c.res.Misdelivered, 1)
		c.res.fail("connection %d (panic): %v", c.id, checkFrame(f, c.id, PanicSeq))
	case isTimeout(err):
		if !c.cfg.Shutdown {
			c.res.fail("connection %d: panic frame neither echoed nor closed within %v", c.id, c.cfg.OpTimeout)
		}
	case errors.Is(err, errTorn):
		atomic.AddInt64(&c.res.Torn, 1)
		c.res.fail("connection %d (panic): %v", c.id, err)
	default:
		atomic.AddInt64(&c.res.Panicked, 1)
	}
}

func (c *client) burst() {
	for {
		old := atomic.LoadInt64(&c.res.BurstMax)
		if int64(c.cfg.BurstSize) <= old || atomic.CompareAndSwapInt64(&c.res.BurstMax, old, int64(c.cfg.BurstSize)) {
			break
		}
	}
	var wg sync.WaitGroup
	for k := 0; k < c.cfg.BurstSize; k++ {
		wg.Add(1)
		sub := &client{cfg: c.cfg, res: c.res, rng: rand.New(rand.NewPCG(c.rng.Uint64(), uint64(k))), id: c.id + uint64(k), ctx: c.ctx}
		go func() {
			defer wg.Done()
			sub.echo(1, 1, false, false)
		}()
	}
	wg.Wait()
}

func (c *client) slowloris() {
	conn, err := c.dial()
	if err != nil {
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Time{})
	f := AppendFrame(nil, c.id, 0, 64)
	end := time.Now().Add(c.cfg.OpTimeout)
	for i := range f {
		if c.ctx.Err() != nil {
			return
		}
		if time.Now().After(end) {
			atomic.AddInt64(&c.res.SlowAlive, 1)
			return
		}
		if _, err := conn.Write(f[i : i+1]); err != nil {
			atomic.AddInt64(&c.res.SlowClosed, 1)
			return
		}
		// A closed connection shows as EOF on a short read.
		conn.SetReadDeadline(time.Now().Add(c.cfg.SlowInterval))
		var b [1]byte
		if _, err := conn.Read(b[:]); err != nil && !isTimeout(err) {
			atomic.AddInt64(&c.res.SlowClosed, 1)
			return
		}
	}
	atomic.AddInt64(&c.res.SlowAlive, 1)
}

func (c *client) neverRead() {
	conn, err := c.dial()
	if err != nil {
		return
	}
	defer conn.Close()
	var buf []byte
	pushed := int64(0)
	for seq := uint64(0); c.ctx.Err() == nil; seq++ {
		buf = AppendFrame(buf[:0], c.id, seq, c.cfg.MaxPayload)
		conn.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := conn.Write(buf)
		pushed += int64(n)
		if err != nil {
			break // blocked: the server stopped reading, as it should
		}
		if c.cfg.Shutdown && pushed > 16<<20 {
			// A server closing its connections reads what arrives and
			// drops it (closing with input unread would reset the
			// connection), until its drain times out.
			break
		}
		if pushed > 256<<20 {
			c.res.fail("connection %d: a client that never reads got the server to take %d bytes", c.id, pushed)
			break
		}
	}
	for {
		old := atomic.LoadInt64(&c.res.NeverReadMax)
		if pushed <= old || atomic.CompareAndSwapInt64(&c.res.NeverReadMax, old, pushed) {
			break
		}
	}
}

func (c *client) resetMidRequest() {
	conn, err := c.dial()
	if err != nil {
		return
	}
	f := AppendFrame(nil, c.id, 0, 1024)
	conn.Write(f[:len(f)/2])
	conn.(*net.TCPConn).SetLinger(0)
	conn.Close()
}

func (c *client) resetMidResponse() {
	conn, err := c.dial()
	if err != nil {
		return
	}
	f := AppendFrame(nil, c.id, 0, c.cfg.MaxPayload)
	conn.Write(f)
	var b [64]byte
	io.ReadFull(conn, b[:])
	conn.(*net.TCPConn).SetLinger(0)
	conn.Close()
}

// refused sends a header with the given length field and expects the
// server to close the connection without answering.
func (c *client) refused(length uint32) {
	conn, err := c.dial()
	if err != nil {
		return
	}
	defer conn.Close()
	h := AppendFrame(nil, c.id, 0, 0)
	h[0], h[1], h[2], h[3] = byte(length>>24), byte(length>>16), byte(length>>8), byte(length)
	conn.Write(h)
	var b [1]byte
	n, err := conn.Read(b[:])
	switch {
	case n > 0:
		atomic.AddInt64(&c.res.Unrefused, 1)
		c.res.fail("connection %d: header with length %d answered instead of refused", c.id, length)
	case isTimeout(err):
		atomic.AddInt64(&c.res.Unrefused, 1)
		c.res.fail("connection %d: header with length %d neither answered nor refused within %v", c.id, length, c.cfg.OpTimeout)
	default:
		atomic.AddInt64(&c.res.Refused, 1)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

var (
	errTorn         = errors.New("echo cut off in the middle of a frame")
	errMisdelivered = errors.New("echo is not the frame sent")
)

// frameReader reads whole frames, at most want bytes per read (0: 64
// KiB; oneByte: 1).
type frameReader struct {
	conn    net.Conn
	oneByte bool
	want    int
	buf     []byte
	off     int
}

func (r *frameReader) next() ([]byte, error) {
	for {
		if n, err := FrameLen(r.buf[r.off:], 0); err != nil {
			return nil, err
		} else if n > 0 && len(r.buf)-r.off >= n {
			f := r.buf[r.off : r.off+n]
			r.off += n
			return f, nil
		}
		if r.off > 0 {
			r.buf = r.buf[:copy(r.buf, r.buf[r.off:])]
			r.off = 0
		}
		want := 64 << 10
		if r.want > 0 {
			want = r.want
		}
		if r.oneByte {
			want = 1
		}
		if cap(r.buf)-len(r.buf) < want {
			r.buf = append(r.buf, make([]byte, want)...)[:len(r.buf)]
		}
		n, err := r.conn.Read(r.buf[len(r.buf) : len(r.buf)+want])
		r.buf = r.buf[:len(r.buf)+n]
		if err != nil {
			if len(r.buf) > r.off && err == io.EOF {
				return nil, fmt.Errorf("%w: %d bytes of a frame", errTorn, len(r.buf)-r.off)
			}
			return nil, err
		}
	}
}
