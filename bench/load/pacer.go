package load

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/eventpoll/eventpoll/bench/plaintext"
)

// pacedConn is one connection of a paced run: a non-blocking socket and
// what its thread knows of it.
type pacedConn struct {
	id  int // the run's number for it: its place in the schedule, its echo pattern
	fd  int
	n   int // requests in the schedule
	due int // requests due so far

	sent int    // requests put in out
	out  []byte // requests being written; out[:off] went
	off  int
	// polling out: EPOLLOUT is registered because a write found the
	// socket's buffer full.
	pollingOut bool
	listed     bool // on the pacer's list of connections with new requests due

	in  []byte // bytes received that are not yet a whole reply
	got int    // replies received and verified

	pattern []byte // echo: the connection's message, stamped per request
	want    []byte // echo: the reply expected next

	batchAt  time.Time // closed loop: when the batch in flight was written
	finished bool      // every reply in: nothing more may come
}

// pacer drives a share of a run's connections from one thread: the open
// loop's (Paced), or, with closed set, a closed loop's (Echo and HTTP on
// threads): each connection sends depth requests, and the next depth once
// every reply to them is in, until the window ends. A run on several
// threads has a pacer on each, with its own epoll instance and timerfd, the
// connections split between them in blocks and the schedule shared.
type pacer struct {
	p      Paced
	label  string // "paced echo", "echo", ...: what errors begin with
	closed bool
	depth  int
	sc     *schedule
	conns  []pacedConn // connections lo, lo+1, ... of the run
	lo     int
	ep     int // epoll instance
	tfd    int // timerfd: the next due time
	// expirations is the timerfd's count, read to clear it (a field: a
	// local would escape to the heap under the race detector).
	expirations [8]byte
	events      []unix.EpollEvent

	next   int   // the next request of the schedule to fall due on this pacer's connections
	armed  int   // the request the timerfd is set for, -1 when disarmed
	listed []int // connections with requests newly due
	done   int   // connections with every reply in

	req []byte // http: the request
	rd  bytes.Reader
	br  *bufio.Reader // http: verifies one whole response at a time

	hist, late Histogram
	ops, bytes int64
	answered   int64 // replies received by the window's end
}

// headEnd ends an HTTP response's head.
var headEnd = []byte("\r\n\r\n")

// timerTag marks the timerfd's events; a connection's carry its index.
const timerTag = -1

// inBuffer is how much of a connection's input is read at once: every
// reply fits, and a reply that is not whole yet waits in it.
const inBuffer = 16 << 10

// newPacer sets up a pacer over fds, the run's connections lo, lo+1, ...:
// the open loop's when depth is 0, a closed loop of depth requests a batch
// otherwise (no timerfd then). Its epoll events carry a connection's index
// in fds.
func newPacer(p Paced, fds []int, lo, depth int) (*pacer, error) {
	pr := &pacer{p: p, label: "paced " + p.App, closed: depth > 0, depth: depth, lo: lo, ep: -1, tfd: -1, armed: -1,
		conns:  make([]pacedConn, len(fds)),
		events: make([]unix.EpollEvent, min(len(fds)+1, 256)),
		listed: make([]int, 0, len(fds))}
	for i, fd := range fds {
		c := &pr.conns[i]
		c.id, c.fd = lo+i, fd
		c.out = make([]byte, 0, max(maxPacedWrite, p.Size))
		if p.App == "echo" {
			c.in = make([]byte, 0, max(inBuffer, 2*p.Size))
			c.pattern, c.want = make([]byte, p.Size), make([]byte, p.Size)
			fillPattern(c.pattern, uint32(c.id))
			fillPattern(c.want, uint32(c.id))
		} else {
			c.in = make([]byte, 0, inBuffer)
		}
	}
	if p.App == "http" {
		pr.req = []byte(request(p.Addr, plaintext.Path))
		pr.br = bufio.NewReaderSize(nil, 4096)
	}
	var err error
	if pr.ep, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		pr.ep = -1
		pr.closeOwn()
		return nil, fmt.Errorf("paced: epoll_create1: %w", err)
	}
	if pr.closed {
		pr.label = p.App
	} else if pr.tfd, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC); err != nil {
		pr.tfd = -1
		pr.closeOwn()
		return nil, fmt.Errorf("paced: timerfd_create: %w", err)
	} else if err := unix.EpollCtl(pr.ep, unix.EPOLL_CTL_ADD, pr.tfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: timerTag}); err != nil {
		pr.closeOwn()
		return nil, fmt.Errorf("paced: epoll_ctl ADD timerfd: %w", err)
	}
	for i := range pr.conns {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}
		if err := unix.EpollCtl(pr.ep, unix.EPOLL_CTL_ADD, pr.conns[i].fd, &ev); err != nil {
			pr.closeOwn()
			return nil, fmt.Errorf("paced: epoll_ctl ADD connection %d: %w", i, err)
		}
	}
	return pr, nil
}

// closeOwn closes the epoll instance and the timerfd.
func (pr *pacer) closeOwn() {
	for _, fd := range []int{pr.ep, pr.tfd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	pr.ep, pr.tfd = -1, -1
}

// close closes everything the run opened, the connections with a reset.
func (pr *pacer) close() {
	pr.closeOwn()
	fds := make([]int, len(pr.conns))
	for i := range pr.conns {
		fds[i] = pr.conns[i].fd
	}
	closeRaw(fds)
}

// quietFor is how long the run listens after the last reply for bytes
// nobody asked for.
const quietFor = 20 * time.Millisecond

// start puts the pacer on the run's schedule: each connection's share of
// the open loop's requests, or a closed loop's first batch.
func (pr *pacer) start(sc *schedule) {
	pr.sc, pr.next = sc, pr.lo
	for i := range pr.conns {
		c := &pr.conns[i]
		if pr.closed {
			c.due = pr.depth
			pr.list(c)
		} else {
			c.n = sc.count(c.id)
		}
	}
}

// serve runs the pacer's connections to the end of the run and listens
// for bytes nobody asked for.
func (pr *pacer) serve(ctx context.Context) error {
	if err := pr.loop(ctx); err != nil {
		return err
	}
	return pr.quiet(ctx)
}

// runPacers runs a run's pacers, each on a goroutine of its own (the
// first on the caller's), and adds up what they measured. The first to
// fail stops the others; its error is the run's.
func runPacers(ctx context.Context, p Paced, prs []*pacer) (*Result, error) {
	now := time.Now()
	var sc *schedule
	if prs[0].closed {
		sc = &schedule{start: now, conns: p.Conns, from: now.Add(p.Warmup), to: now.Add(p.Warmup + p.Duration)}
	} else {
		sc = newSchedule(now, p.Rate, p.Conns, p.Timing)
	}
	for _, pr := range prs {
		pr.start(sc)
	}
	probed := p.probe(sc.from, sc.to)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(prs))
	var wg sync.WaitGroup
	for i, pr := range prs[1:] {
		wg.Go(func() {
			if errs[i+1] = pr.serve(ctx); errs[i+1] != nil {
				cancel()
			}
		})
	}
	if errs[0] = prs[0].serve(ctx); errs[0] != nil {
		cancel()
	}
	wg.Wait()
	err := firstCause(errs)
	probed(err != nil)
	if err != nil {
		return nil, err
	}
	all := prs[0]
	for _, pr := range prs[1:] {
		all.hist.Merge(&pr.hist)
		all.late.Merge(&pr.late)
		all.ops += pr.ops
		all.bytes += pr.bytes
		all.answered += pr.answered
	}
	res := &Result{Conns: p.Conns, Window: p.Duration, Latency: &all.hist, Ops: all.ops, Bytes: all.bytes}
	if all.closed {
		res.summarize()
		return res, nil
	}
	res.Paced = &Pacing{Offered: p.Rate, Lateness: &all.late, Outstanding: int64(sc.total) - all.answered}
	res.Paced.Due = int64(res.Latency.Count())
	res.summarize()
	res.Paced.Overloaded = overload(res.Rate(), p.Rate, res.Paced.Outstanding, p.Duration)
	return res, nil
}

// firstCause is the error that stopped a run of several pacers: the first
// that is not the cancellation the others saw because of it, or the
// cancellation when the caller's context ended the run.
func firstCause(errs []error) error {
	var first error
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// checkEvery bounds a wait, so that a cancelled context or a stalled
// server is noticed while nothing happens.
const checkEvery = 50

// loop sends on the schedule and reads every reply.
func (pr *pacer) loop(ctx context.Context) error {
	deadline := pr.sc.to.Add(pr.p.grace())
	for {
		if err := pr.makeDue(); err != nil {
			return err
		}
		if pr.done == len(pr.conns) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server stalled: replies still missing %v after the run's end", pr.p.grace())
		}
		timeout := checkEvery
		if pr.p.Spin {
			// A pass through the scheduler lets the probe run on time
			// where the generator has one P.
			runtime.Gosched()
			timeout = 0
		}
		n, err := unix.EpollWait(pr.ep, pr.events, timeout)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return fmt.Errorf("paced: epoll_wait: %w", err)
		}
		// Requests that fell due during the wait go out before the
		// replies are read.
		if err := pr.makeDue(); err != nil {
			return err
		}
		for _, ev := range pr.events[:n] {
			if ev.Fd == timerTag {
				unix.Read(pr.tfd, pr.expirations[:]) // EAGAIN when already read: nothing to do
				continue
			}
			c := &pr.conns[ev.Fd]
			if ev.Events&unix.EPOLLOUT != 0 {
				if err := pr.flush(c); err != nil {
					return err
				}
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
				if err := pr.receive(c); err != nil {
					return err
				}
			}
		}
	}
}

// makeDue makes due every request whose time has come, writes them, and
// sets the timerfd for the next.
func (pr *pacer) makeDue() error {
	sc, now := pr.sc, time.Now()
	for ; !pr.closed && pr.next < sc.total && !sc.at(pr.next).After(now); pr.step() {
		c := &pr.conns[pr.next%sc.conns-pr.lo]
		c.due++
		pr.list(c)
	}
	for _, i := range pr.listed {
		c := &pr.conns[i]
		c.listed = false
		if err := pr.flush(c); err != nil {
			return err
		}
	}
	pr.listed = pr.listed[:0]
	if !pr.closed && pr.next < sc.total && pr.armed != pr.next && !pr.p.Spin {
		// A zero it_value disarms the timer: the delay is at least 1 ns.
		d := max(time.Until(sc.at(pr.next)), 1)
		spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
		if err := unix.TimerfdSettime(pr.tfd, 0, &spec, nil); err != nil {
			return fmt.Errorf("paced: timerfd_settime: %w", err)
		}
		pr.armed = pr.next
	}
	return nil
}

// step moves next to the schedule's next request on this pacer's
// connections: the next connection's, or, after its last, its first
// connection's in the next round.
func (pr *pacer) step() {
	if pr.next%pr.sc.conns+1 < pr.lo+len(pr.conns) {
		pr.next++
	} else {
		pr.next += pr.sc.conns - len(pr.conns) + 1
	}
}

// list puts c on the list of connections with requests newly due.
func (pr *pacer) list(c *pacedConn) {
	if !c.listed {
		c.listed = true
		pr.listed = append(pr.listed, c.id-pr.lo)
	}
}

// flush writes c's due requests until they are all written or the socket
// is full; then it waits for EPOLLOUT. A write takes what is due when the
// previous one is done, up to maxPacedWrite, and each request's lateness
// is taken as it goes into a write.
func (pr *pacer) flush(c *pacedConn) error {
	for {
		if c.off == len(c.out) {
			c.out, c.off = c.out[:0], 0
			now := time.Now()
			if pr.closed && c.sent < c.due && c.sent%pr.depth == 0 {
				c.batchAt = now // a batch's first write: its replies are timed from here
			}
			for c.sent < c.due && (len(c.out) == 0 || len(c.out)+len(pr.req)+len(c.pattern) <= cap(c.out)) {
				if c.pattern != nil {
					stamp(c.pattern, uint32(c.id), uint64(c.sent))
					c.out = append(c.out, c.pattern...)
				} else {
					c.out = append(c.out, pr.req...)
				}
				if !pr.closed {
					if t := pr.sc.due(c.id, c.sent); pr.sc.inWindow(t) {
						pr.late.Record(now.Sub(t))
					}
				}
				c.sent++
			}
			if len(c.out) == 0 {
				break
			}
		}
		n, err := unix.Write(c.fd, c.out[c.off:])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return pr.pollOut(c, true)
		}
		if err != nil {
			return fmt.Errorf("%s: connection %d: write: %w", pr.label, c.id, err)
		}
		c.off += n
	}
	return pr.pollOut(c, false)
}

// pollOut registers or drops c's interest in EPOLLOUT.
func (pr *pacer) pollOut(c *pacedConn, on bool) error {
	if c.pollingOut == on {
		return nil
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c.id - pr.lo)}
	if on {
		ev.Events |= unix.EPOLLOUT
	}
	if err := unix.EpollCtl(pr.ep, unix.EPOLL_CTL_MOD, c.fd, &ev); err != nil {
		return fmt.Errorf("paced: epoll_ctl MOD connection %d: %w", c.id, err)
	}
	c.pollingOut = on
	return nil
}

// receive reads what c's socket holds and verifies and times every whole
// reply in it.
func (pr *pacer) receive(c *pacedConn) error {
	n, err := unix.Read(c.fd, c.in[len(c.in):cap(c.in)])
	now := time.Now()
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		return nil
	case err != nil:
		return fmt.Errorf("%s: connection %d, reply %d: read: %w", pr.label, c.id, c.got, err)
	case n == 0:
		if c.finished {
			return fmt.Errorf("%s: connection %d: connection ended after the last reply: EOF", pr.label, c.id)
		}
		return fmt.Errorf("%s: connection %d: the server closed the connection after %d replies, %d asked for", pr.label, c.id, c.got, c.sent)
	}
	c.in = c.in[:len(c.in)+n]
	pos := 0
	for {
		size, err := pr.reply(c, c.in[pos:])
		if err != nil {
			return err
		}
		if size == 0 {
			break
		}
		pos += size
		pr.count(c, size, now)
	}
	rest := copy(c.in, c.in[pos:])
	c.in = c.in[:rest]
	if rest == cap(c.in) {
		return fmt.Errorf("%s: connection %d, reply %d: no whole reply in %d bytes", pr.label, c.id, c.got, rest)
	}
	return nil
}

// reply verifies the reply at the head of b, c's next: its size, or 0
// when b does not hold all of it yet.
func (pr *pacer) reply(c *pacedConn, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if c.got >= c.sent {
		return 0, fmt.Errorf("%s: connection %d: server sent bytes nobody asked for (first 0x%02x) after reply %d",
			pr.label, c.id, b[0], c.got)
	}
	if c.pattern != nil {
		if len(b) < len(c.want) {
			return 0, nil
		}
		got := b[:len(c.want)]
		stamp(c.want, uint32(c.id), uint64(c.got))
		if !bytes.Equal(got, c.want) {
			return 0, mismatch(uint32(c.id), uint64(c.got), got, c.want)
		}
		return len(c.want), nil
	}
	head := bytes.Index(b, headEnd)
	if head < 0 || len(b) < head+4+len(plaintext.Body) {
		return 0, nil
	}
	whole := b[:head+4+len(plaintext.Body)]
	pr.rd.Reset(whole)
	pr.br.Reset(&pr.rd)
	size, err := readResponse(pr.br, http.StatusOK)
	if err == nil && size != len(whole) {
		err = badResponse(fmt.Sprintf("%d bytes where the head and body take %d", size, len(whole)), whole)
	}
	if err != nil {
		return 0, fmt.Errorf("%s: connection %d, response %d: %w", pr.label, c.id, c.got, err)
	}
	return size, nil
}

// count times and tallies c's next reply, of size bytes, received at now.
func (pr *pacer) count(c *pacedConn, size int, now time.Time) {
	sc := pr.sc
	if pr.closed {
		if !now.Before(sc.from) && !now.After(sc.to) {
			pr.ops++
			pr.bytes += int64(size)
			pr.hist.Record(now.Sub(c.batchAt))
		}
		c.got++
		if c.got == c.due { // the batch is in: the next, or the end
			if now.Before(sc.to) {
				c.due += pr.depth
				pr.list(c)
			} else {
				c.finished = true
				pr.done++
			}
		}
		return
	}
	if !now.After(sc.to) {
		pr.answered++
		if !now.Before(sc.from) {
			pr.ops++
			pr.bytes += int64(size)
		}
	}
	if t := sc.due(c.id, c.got); sc.inWindow(t) {
		pr.hist.Record(now.Sub(t))
	}
	c.got++
	if c.got == c.n {
		c.finished = true
		pr.done++
	}
}

// quiet fails if the server sends anything in quietFor after the last
// reply: a server that answers twice is caught here if not before.
func (pr *pacer) quiet(ctx context.Context) error {
	end := time.Now().Add(quietFor)
	for {
		left := time.Until(end)
		if left <= 0 {
			return ctx.Err()
		}
		n, err := unix.EpollWait(pr.ep, pr.events, int(left.Milliseconds())+1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return fmt.Errorf("paced: epoll_wait: %w", err)
		}
		for _, ev := range pr.events[:n] {
			if ev.Fd == timerTag {
				continue
			}
			if err := pr.receive(&pr.conns[ev.Fd]); err != nil {
				return err
			}
		}
	}
}

// dialRaw opens n TCP connections to addr as non-blocking sockets with
// TCP_NODELAY (as the net package's are), one at a time: a connection is
// established before the next is asked for, so the listen backlog is never
// overrun.
func dialRaw(ctx context.Context, addr string, n int) ([]int, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	var sa unix.Sockaddr
	family := unix.AF_INET
	if ip4 := ta.IP.To4(); ip4 != nil {
		sa = &unix.SockaddrInet4{Port: ta.Port, Addr: [4]byte(ip4)}
	} else if ip6 := ta.IP.To16(); ip6 != nil {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: ta.Port, Addr: [16]byte(ip6)}
	} else {
		return nil, fmt.Errorf("dial %s: no IP address", addr)
	}
	fds := make([]int, 0, n)
	for i := range n {
		fd, err := connectRaw(ctx, family, sa)
		if err != nil {
			closeRaw(fds)
			return nil, fmt.Errorf("dial %s (connection %d of %d): %w", addr, i, n, err)
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// connectTimeout bounds one connection's handshake.
const connectTimeout = 10 * time.Second

func connectRaw(ctx context.Context, family int, sa unix.Sockaddr) (int, error) {
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	fail := func(call string, err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("%s: %w", call, err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return fail("setsockopt TCP_NODELAY", err)
	}
	err = unix.Connect(fd, sa)
	if err == nil {
		return fd, nil
	}
	if err != unix.EINPROGRESS && err != unix.EINTR {
		return fail("connect", err)
	}
	end := time.Now().Add(connectTimeout)
	for {
		left := time.Until(end)
		if left <= 0 {
			return fail("connect", unix.ETIMEDOUT)
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		n, err := unix.Poll(pfd, int(min(left, 100*time.Millisecond).Milliseconds())+1)
		if err != nil && err != unix.EINTR {
			return fail("poll", err)
		}
		if err := ctx.Err(); err != nil {
			return fail("connect", err)
		}
		if n > 0 {
			break
		}
	}
	soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return fail("getsockopt SO_ERROR", err)
	}
	if soerr != 0 {
		return fail("connect", unix.Errno(soerr))
	}
	return fd, nil
}

// closeRaw closes connections with SO_LINGER 0: the kernel sends RST and
// keeps no TIME_WAIT state.
func closeRaw(fds []int) {
	for _, fd := range fds {
		if fd < 0 {
			continue
		}
		unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		unix.Close(fd)
	}
}

// drive dials p's connections and runs them on p.Threads threads (one
// when 0, never more than the connections), each with a block of them: the
// open loop when depth is 0, a closed loop of depth requests a batch
// otherwise.
func drive(ctx context.Context, p Paced, depth int) (*Result, error) {
	fds, err := dialRaw(ctx, p.Addr, p.Conns)
	if err != nil {
		return nil, err
	}
	threads := min(max(p.Threads, 1), len(fds))
	prs := make([]*pacer, 0, threads)
	defer func() {
		for _, pr := range prs {
			pr.close()
		}
	}()
	for t := range threads {
		lo, hi := t*len(fds)/threads, (t+1)*len(fds)/threads
		pr, err := newPacer(p, fds[lo:hi], lo, depth)
		if err != nil {
			closeRaw(fds[lo:])
			return nil, err
		}
		prs = append(prs, pr)
	}
	return runPacers(ctx, p, prs)
}
