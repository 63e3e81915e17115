package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestEMFILEPausesAcceptingServesOpenConnsAndResumesWithin100ms runs the
// server's process out of descriptors while a client process keeps
// dialing: the open connection goes on being answered, the server's loops
// do not spin (assertPausedIdle: at most one iteration per millisecond,
// and the loops, and without the race detector the whole process, under a
// quarter of a core, a ceiling for a loaded machine; a quiet one measures
// 1-3%), and the first new connection is accepted and answered within 100
// ms of descriptors being freed (elsewhere in the process: no connection
// of the server closes to re-arm accepting, so the backoff alone must bring
// it back, and its cap is 20 ms). Every client is answered in the end, or
// was refused with an orderly close.
func TestEMFILEPausesAcceptingServesOpenConnsAndResumesWithin100ms(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...Option) {
		ev := newEvents()
		h := answeringEcho{echoEvents{events: ev}, make(chan time.Time, 1024)}
		ts := serve(t, "tcp", h, opts...)
		asleep(t, ts)
		fl := startFlood(t)
		addr := ts.Addr().String()
		fl.do("dial %s", addr)
		ev.waitOpen(t)
		fl.do("echo before")
		var limit unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &limit); err != nil {
			t.Fatal(err)
		}
		free := exhaustDescriptors(t)
		fl.do("flood %s 512", addr)
		eventually(t, "accepting paused", func() bool { return ts.Stats().Total.AcceptPauses > 0 })
		eventually(t, "clients queued", func() bool {
			var dialed, pending int
			fmt.Sscan(fl.do("pending"), &dialed, &pending)
			return pending >= 8
		})
		// A loop may take the room another made to refuse a connection,
		// and accept one; after that, nothing opens until descriptors free.
		time.Sleep(20 * time.Millisecond)
		for len(ev.opened) > 0 {
			<-ev.opened
		}

		// Paused, with clients still dialing: the process sleeps.
		assertPausedIdle(t, ts, 500*time.Millisecond, func() string {
			var dialed, pending int
			fmt.Sscan(fl.do("pending"), &dialed, &pending)
			return fmt.Sprintf("%d clients dialed, %d waiting", dialed, pending)
		})
		// And the open connection is answered, every time.
		for i := range 20 {
			fl.do("echo during-%d", i)
		}
		select {
		case oe := <-ev.opened:
			t.Fatalf("a connection opened while descriptors were exhausted: %v", oe.c)
		default:
		}

		for len(h.answered) > 0 {
			<-h.answered
		}
		freed := monotonic()
		free()
		var first int64 = -1
		eventually(t, "a new connection answered after descriptors were freed", func() bool {
			fmt.Sscan(fl.do("first %d", freed), &first)
			return first >= 0
		})
		opened := ev.waitOpenAt(t)
		var answered time.Time
		select {
		case answered = <-h.answered:
		default:
			t.Fatal("a client got its echo, and the server answered no one")
		}
		// The server's part ends with its answer written; the client's
		// process, woken after, is timed too but is not the server's.
		resume := time.Duration(monotonicOf(answered) - freed)
		t.Logf("descriptors freed: first new connection accepted after %v, answered by the server after %v, its client had the answer after %v",
			time.Duration(monotonicOf(opened.at)-freed).Round(10*time.Microsecond), resume.Round(10*time.Microsecond),
			time.Duration(first-freed).Round(10*time.Microsecond))
		if resume > 100*time.Millisecond {
			t.Fatalf("first new connection answered %v after descriptors were freed; want within 100ms", resume)
		}

		// Room for every client: each is answered, or was refused with an
		// orderly close, one for each refusal the server counts.
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &limit); err != nil {
			t.Fatal(err)
		}
		res := fl.do("stop 10")
		var dialed, ok, refused, reset, bad, failed, unresolved int
		if _, err := fmt.Sscanf(res, "dialed %d ok %d refused %d reset %d bad %d failed %d unresolved %d",
			&dialed, &ok, &refused, &reset, &bad, &failed, &unresolved); err != nil {
			t.Fatalf("flood helper: %q: %v", res, err)
		}
		t.Logf("clients: %s; server refused %d", res, ts.Stats().Total.Refused)
		if bad != 0 || failed != 0 || unresolved != 0 || ok+refused+reset != dialed {
			t.Fatalf("clients: %s: want every one answered or refused", res)
		}
		// A refusal reaches its client as the end of the stream, or as a
		// reset when the client's request arrived after the server read
		// what had come and closed: either way one per refusal counted.
		if r := int(ts.Stats().Total.Refused); r != refused+reset {
			t.Fatalf("%d clients saw their connection closed unanswered and %d reset; the server refused %d", refused, reset, r)
		}
		fl.do("echo after")
	})
}

// answeringEcho is an echo handler that records opens and closes, and
// when it answered.
type answeringEcho struct {
	echoEvents
	answered chan time.Time
}

func (h answeringEcho) OnData(c *Conn) {
	// Recorded before the answer is written, so that the client cannot
	// see it before the test can.
	select {
	case h.answered <- time.Now():
	default:
	}
	h.echoEvents.OnData(c)
}

// loopsCPU is the CPU time the threads of the server's loops have used.
func loopsCPU(t *testing.T, ts *testServer) time.Duration {
	var sum time.Duration
	for _, w := range ts.loops() {
		onLoop(t, w, func() {
			var ru unix.Rusage
			if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
				t.Error(err)
			}
			sum += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		})
	}
	return sum
}

// monotonicOf converts a time taken in this process to CLOCK_MONOTONIC.
func monotonicOf(at time.Time) int64 {
	return monotonic() - int64(time.Since(at))
}

// A reuse message is 32 bytes: the connection's id, its sequence number,
// flags and a check of the three, so that a byte lost, doubled, reordered
// or delivered to another connection shows.
const (
	reuseMsgLen = 32
	reuseClose  = 1 // the server closes the connection after echoing this message
)

func reuseCheck(id, seq, flags uint64) uint64 {
	return id*0x9e3779b97f4a7c15 ^ seq*0xc2b2ae3d27d4eb4f ^ flags ^ 0x5bd1e995
}

func putReuseMsg(b []byte, id, seq, flags uint64) {
	binary.LittleEndian.PutUint64(b[0:], id)
	binary.LittleEndian.PutUint64(b[8:], seq)
	binary.LittleEndian.PutUint64(b[16:], flags)
	binary.LittleEndian.PutUint64(b[24:], reuseCheck(id, seq, flags))
}

func parseReuseMsg(b []byte) (id, seq, flags uint64, ok bool) {
	id = binary.LittleEndian.Uint64(b[0:])
	seq = binary.LittleEndian.Uint64(b[8:])
	flags = binary.LittleEndian.Uint64(b[16:])
	return id, seq, flags, binary.LittleEndian.Uint64(b[24:]) == reuseCheck(id, seq, flags)
}

// reuseServer echoes reuse messages, checking on the server's side that a
// connection only ever receives its own id's messages, in sequence, and
// that no event reaches a connection after its OnClose; it counts the
// accepted descriptors whose number an earlier connection had.
type reuseServer struct {
	seen    []atomic.Bool // by descriptor number: accepted before
	reuses  atomic.Int64
	opened  atomic.Int64
	owners  sync.Map // id -> *reuseConn that received it first
	errs    atomic.Int64
	firstMu sync.Mutex
	first   error
}

type reuseConn struct {
	id     uint64
	seq    uint64
	bound  bool
	closed bool
}

func (h *reuseServer) fail(format string, args ...any) {
	h.errs.Add(1)
	h.firstMu.Lock()
	if h.first == nil {
		h.first = fmt.Errorf(format, args...)
	}
	h.firstMu.Unlock()
}

func (h *reuseServer) OnOpen(c *Conn) {
	h.opened.Add(1)
	if int(c.fd) < len(h.seen) && h.seen[c.fd].Swap(true) {
		h.reuses.Add(1)
	}
	c.SetContext(&reuseConn{})
}

func (h *reuseServer) OnData(c *Conn) {
	rc := c.Context().(*reuseConn)
	if rc.closed {
		h.fail("OnData on connection %d after its OnClose", rc.id)
		return
	}
	b, _ := c.Peek(-1)
	k := 0
	for ; k+reuseMsgLen <= len(b); k += reuseMsgLen {
		id, seq, flags, ok := parseReuseMsg(b[k:])
		switch {
		case !ok:
			h.fail("connection %d: a message that fails its check (seq %d)", rc.id, rc.seq)
		case !rc.bound:
			if other, dup := h.owners.LoadOrStore(id, rc); dup && other != rc {
				h.fail("connection %d's first message reached a second connection", id)
			}
			rc.id, rc.bound = id, true
		case id != rc.id:
			h.fail("connection %d received a message of connection %d", rc.id, id)
		}
		if seq != rc.seq {
			h.fail("connection %d: message %d where %d was due", rc.id, seq, rc.seq)
		}
		rc.seq = seq + 1
		if flags&reuseClose != 0 {
			k += reuseMsgLen
			c.Write(b[:k])
			c.Discard(k)
			c.Close()
			return
		}
	}
	c.Write(b[:k])
	c.Discard(k)
}

func (h *reuseServer) OnClose(c *Conn, err error) {
	rc := c.Context().(*reuseConn)
	if rc.closed {
		h.fail("OnClose twice on connection %d", rc.id)
	}
	rc.closed = true
}

// streamReuse sends numbered messages on one connection, 16 at a time
// with at most 64 unanswered, and checks every byte of the echo, until stop.
func streamReuse(c net.Conn, id uint64, stop <-chan struct{}, verified *atomic.Int64) error {
	credit := make(chan struct{}, 4)
	rerr := make(chan error, 1)
	go func() {
		buf := make([]byte, 16*reuseMsgLen)
		for seq := uint64(0); ; seq += 16 {
			if _, err := io.ReadFull(c, buf); err != nil {
				rerr <- fmt.Errorf("stream %d: reading echo of message %d: %v", id, seq, err)
				return
			}
			for i := range uint64(16) {
				gid, gseq, flags, ok := parseReuseMsg(buf[i*reuseMsgLen:])
				if !ok || gid != id || gseq != seq+i || flags != 0 {
					rerr <- fmt.Errorf("stream %d: echo %d is id %d seq %d (check %v)", id, seq+i, gid, gseq, ok)
					return
				}
			}
			verified.Add(16)
			<-credit
		}
	}()
	c.SetDeadline(time.Now().Add(10 * time.Minute))
	out := make([]byte, 16*reuseMsgLen)
	for seq := uint64(0); ; seq += 16 {
		select {
		case <-stop:
			// Every echo of what was sent comes back before the end.
			for len(credit) > 0 {
				select {
				case err := <-rerr:
					return err
				case <-time.After(10 * time.Second):
					return fmt.Errorf("stream %d: echoes still missing 10s after the last message", id)
				default:
					time.Sleep(time.Millisecond)
				}
			}
			return nil
		case err := <-rerr:
			return err
		case credit <- struct{}{}:
		}
		for i := range uint64(16) {
			putReuseMsg(out[i*reuseMsgLen:], id, seq+i, 0)
		}
		if _, err := c.Write(out); err != nil {
			return fmt.Errorf("stream %d: %v", id, err)
		}
		time.Sleep(500 * time.Microsecond) // the CPU is for the churn
	}
}

// churnOnce opens a connection, sends its one message and closes with a
// reset (SO_LINGER 0: no TIME_WAIT, so ports last): without waiting
// (kind 0), after its echo (1), or after its echo and the server's close
// (2).
func churnOnce(sa unix.Sockaddr, id uint64, kind int) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 10})
	if err := unix.Connect(fd, sa); err != nil {
		return fmt.Errorf("connect: %v", err)
	}
	var msg, got [reuseMsgLen]byte
	flags := uint64(0)
	if kind == 2 {
		flags = reuseClose
	}
	putReuseMsg(msg[:], id, 0, flags)
	if _, err := unix.Write(fd, msg[:]); err != nil {
		return fmt.Errorf("write: %v", err)
	}
	if kind == 0 {
		return nil
	}
	for n := 0; n < len(got); {
		k, err := unix.Read(fd, got[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || k == 0 {
			return fmt.Errorf("connection %d: %d bytes of its echo, then %v", id, n, err)
		}
		n += k
	}
	if got != msg {
		gid, gseq, _, ok := parseReuseMsg(got[:])
		return fmt.Errorf("connection %d: echo is id %d seq %d (check %v)", id, gid, gseq, ok)
	}
	if kind == 2 {
		var b [1]byte
		for {
			k, err := unix.Read(fd, b[:])
			if err == unix.EINTR {
				continue
			}
			if k != 0 || err != nil {
				return fmt.Errorf("connection %d: after the server's close read %d bytes, %v; want the end", id, k, err)
			}
			return nil
		}
	}
	return nil
}

// TestFdReuseNeverDeliversToTheWrongConnection opens and closes
// connections as fast as a few clients can, so that the server accepts the
// same descriptor numbers again and again, while other connections stream
// numbered messages whose every byte both sides check: no byte and no
// event may reach a connection that is not its own. The server-side reuses
// are counted; full size (without -race or -short) is 34,000 per mode and
// engine, over 200,000 in all, which with the loop's million-reuse storm
// (TestReusedFdNeverGetsOldRegistrationsEvents) passes a million.
func TestFdReuseNeverDeliversToTheWrongConnection(t *testing.T) {
	target := int64(34_000)
	switch {
	case testing.Short():
		target = 1_000
	case raceEnabled:
		target = 3_000
	}
	const streams, churners = 16, 4
	var total atomic.Int64
	begin := time.Now()
	forModes(t, func(t *testing.T, opts ...Option) {
		h := &reuseServer{seen: make([]atomic.Bool, 1<<16)}
		ts := serve(t, "tcp", h, opts...)
		port := ts.Addr().(*net.TCPAddr).Port

		stop := make(chan struct{})
		var verified atomic.Int64
		var wg sync.WaitGroup
		errc := make(chan error, streams+churners)
		for i := range streams {
			c := ts.dial()
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := streamReuse(c, uint64(i+1), stop, &verified); err != nil {
					errc <- err
				}
			}()
		}
		var churned atomic.Int64
		start := time.Now()
		for g := range churners {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Each its own: connect(2)'s wrapper writes into it.
				sa := &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}
				for n := uint64(0); ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					id := 1<<32 | uint64(g)<<28 | n
					if err := churnOnce(sa, id, int(n%3)); err != nil {
						errc <- fmt.Errorf("churn: %v", err)
						return
					}
					churned.Add(1)
				}
			}()
		}
		deadline := time.After(3 * time.Minute)
		var failure error
	wait:
		for h.reuses.Load() < target && h.errs.Load() == 0 {
			select {
			case err := <-errc:
				failure = err
				break wait
			case <-deadline:
				failure = fmt.Errorf("only %d server-side descriptor reuses in 3 minutes; want %d", h.reuses.Load(), target)
				break wait
			case <-time.After(10 * time.Millisecond):
			}
		}
		close(stop)
		wg.Wait()
		elapsed := time.Since(start)
		if failure == nil {
			select {
			case failure = <-errc:
			default:
			}
		}
		eventually(t, "every churned connection closed on the server", func() bool { return int(ts.Stats().Total.Open) == streams })
		st := ts.Stats().Total
		total.Add(h.reuses.Load())
		t.Logf("%d connections opened and closed, %d server-side descriptor reuses in %v (%.0f/s); %d stream messages echoed and checked on %d connections; %d stale events dropped",
			churned.Load(), h.reuses.Load(), elapsed.Round(time.Millisecond), float64(h.reuses.Load())/elapsed.Seconds(),
			verified.Load(), streams, st.Loop.Stale)
		if n := h.errs.Load(); n > 0 {
			t.Fatalf("%d misdeliveries on the server; the first: %v", n, h.first)
		}
		if failure != nil {
			t.Fatal(failure)
		}
	})
	t.Logf("%d server-side descriptor reuses in all, in %v", total.Load(), time.Since(begin).Round(time.Millisecond))
}

// A load request is 16 bytes: the connection's id, its sequence number,
// the size of the response body it asks for, and a check. The response is
// the request's header followed by that many bytes of the pattern, from
// an offset both sides derive from id and sequence.
const loadHeader = 16

func loadSize(id, seq uint32) uint32   { return 1 + (id*7919+seq*104729)%(32<<10) }
func loadOffset(id, seq uint32) uint32 { return (id*131 + seq*1031) % (64 << 10) }

func putLoadHeader(b []byte, id, seq, size uint32) {
	binary.LittleEndian.PutUint32(b[0:], id)
	binary.LittleEndian.PutUint32(b[4:], seq)
	binary.LittleEndian.PutUint32(b[8:], size)
	binary.LittleEndian.PutUint32(b[12:], id*0x9e3779b9^seq*0x85ebca6b^size)
}

func parseLoadHeader(b []byte) (id, seq, size uint32, ok bool) {
	id = binary.LittleEndian.Uint32(b[0:])
	seq = binary.LittleEndian.Uint32(b[4:])
	size = binary.LittleEndian.Uint32(b[8:])
	return id, seq, size, binary.LittleEndian.Uint32(b[12:]) == id*0x9e3779b9^seq*0x85ebca6b^size
}

// loadServer answers load requests and keeps, per connection, the bytes
// its handler has queued (written with Write) so far.
type loadServer struct {
	conns sync.Map // id -> *loadConn
	errs  atomic.Int64
	first atomic.Pointer[error]
}

type loadConn struct {
	id       uint32
	seq      uint32
	bound    bool
	written  atomic.Int64 // bytes the handler wrote: sent, or queued to be
	closeErr error
	closed   atomic.Bool
}

func (h *loadServer) fail(err error) {
	h.errs.Add(1)
	h.first.CompareAndSwap(nil, &err)
}

func (h *loadServer) OnOpen(c *Conn) { c.SetContext(&loadConn{}) }

func (h *loadServer) OnData(c *Conn) {
	lc := c.Context().(*loadConn)
	for c.Buffered() >= loadHeader {
		req, _ := c.Next(loadHeader)
		id, seq, size, ok := parseLoadHeader(req)
		switch {
		case !ok || size != loadSize(id, seq):
			h.fail(fmt.Errorf("connection %d: a bad request (seq %d)", lc.id, lc.seq))
		case !lc.bound:
			lc.id, lc.bound = id, true
			h.conns.Store(id, lc)
		case id != lc.id || seq != lc.seq:
			h.fail(fmt.Errorf("connection %d: request %d of connection %d where %d was due", lc.id, seq, id, lc.seq))
		}
		lc.seq = seq + 1
		off := loadOffset(id, seq)
		n1, _ := c.Write(req)
		n2, _ := c.Write(pattern[off : off+size])
		lc.written.Add(int64(n1 + n2))
	}
}

func (h *loadServer) OnClose(c *Conn, err error) {
	lc := c.Context().(*loadConn)
	lc.closeErr = err
	lc.closed.Store(true)
}

// loadClient keeps up to 4 requests outstanding on c and checks every
// byte of the responses, until the server ends the stream, which must
// fall between two responses.
func loadClient(c net.Conn, id uint32, responses *atomic.Int64) (got int64, err error) {
	done := make(chan struct{})
	credit := make(chan struct{}, 4)
	werr := make(chan error, 1)
	go func() {
		var req [loadHeader]byte
		for seq := uint32(0); ; seq++ {
			select {
			case credit <- struct{}{}:
			case <-done:
				werr <- nil
				return
			}
			putLoadHeader(req[:], id, seq, loadSize(id, seq))
			if _, err := c.Write(req[:]); err != nil {
				<-done // the server closed: the reader says how it ended
				werr <- nil
				return
			}
		}
	}()
	defer func() {
		close(done)
		<-werr
	}()
	c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	r := bufio.NewReaderSize(c, 64<<10)
	var hdr [loadHeader]byte
	body := make([]byte, 32<<10)
	for seq := uint32(0); ; seq++ {
		n, err := io.ReadFull(r, hdr[:])
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, fmt.Errorf("connection %d: response %d header: %d bytes, then %v", id, seq, n, err)
		}
		gid, gseq, size, ok := parseLoadHeader(hdr[:])
		if !ok || gid != id || gseq != seq || size != loadSize(id, seq) {
			return got, fmt.Errorf("connection %d: response %d has header id %d seq %d size %d (check %v)", id, seq, gid, gseq, size, ok)
		}
		if n, err := io.ReadFull(r, body[:size]); err != nil {
			return got, fmt.Errorf("connection %d: response %d cut after %d of %d bytes: %v", id, seq, n, size, err)
		}
		off := loadOffset(id, seq)
		if !bytes.Equal(body[:size], pattern[off:off+size]) {
			return got, fmt.Errorf("connection %d: response %d differs from what was asked", id, seq)
		}
		got += int64(loadHeader + size)
		responses.Add(1)
		<-credit
	}
}

// TestShutdownUnderLoadDeliversEveryQueuedResponse begins Shutdown while
// 200 connections (50 under -race) stream requests whose responses outrun
// small socket buffers: every response the handlers had written or queued
// arrives whole and checked, each connection's stream ends between two
// responses and exactly where its handler stopped writing (at or past what
// it had written when Shutdown was called), the handlers see
// ErrServerClosed, and nothing leaks.
func TestShutdownUnderLoadDeliversEveryQueuedResponse(t *testing.T) {
	conns := 200
	if raceEnabled {
		conns = 50
	}
	forModes(t, func(t *testing.T, opts ...Option) {
		h := &loadServer{}
		ts := serve(t, "tcp", h, append(opts, WithSocketBuffers(16<<10, 16<<10))...)
		clients := make([]net.Conn, conns)
		for i := range clients {
			clients[i] = ts.dial()
		}
		var responses atomic.Int64
		got := make([]int64, conns)
		errc := make(chan error, conns)
		var wg sync.WaitGroup
		for i, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := loadClient(c, uint32(i+1), &responses)
				got[i] = n
				if err != nil {
					errc <- err
				}
			}()
		}
		eventually(t, "every connection answered", func() bool {
			n := 0
			h.conns.Range(func(any, any) bool { n++; return true })
			return n == conns && responses.Load() >= int64(4*conns)
		})

		// What each handler has written (sent, or queued to be) as
		// Shutdown is called, read at once for every connection, and how
		// much of the server's output storage holds bytes not yet sent.
		// The clients keep the server loaded, but its queues drain and
		// fill from moment to moment: Shutdown is called at a moment
		// when they hold something (within 10 s).
		var before map[uint32]int64
		var asked, queued int64
		for give := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Microsecond) {
			before = make(map[uint32]int64, conns)
			h.conns.Range(func(k, v any) bool {
				before[k.(uint32)] = v.(*loadConn).written.Load()
				return true
			})
			asked = responses.Load()
			queued = ts.Stats().Total.HeldOut
			if queued > 0 || time.Now().After(give) {
				break
			}
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := ts.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		took := time.Since(start)
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Error(err)
		}
		var sumBefore, sumFinal, sumGot int64
		for i := range conns {
			id := uint32(i + 1)
			v, _ := h.conns.Load(id)
			lc := v.(*loadConn)
			final := lc.written.Load()
			sumBefore += before[id]
			sumFinal += final
			sumGot += got[i]
			switch {
			case !lc.closed.Load() || lc.closeErr != ErrServerClosed:
				t.Errorf("connection %d: closed %v with %v; want ErrServerClosed", id, lc.closed.Load(), lc.closeErr)
			case got[i] != final:
				t.Errorf("connection %d: client received %d bytes; its handler wrote %d (%d when Shutdown was called)", id, got[i], final, before[id])
			case final < before[id]:
				t.Errorf("connection %d: handler wrote %d bytes in all, %d when Shutdown was called", id, final, before[id])
			}
		}
		t.Logf("%d connections, %d responses checked before Shutdown, %d after; when Shutdown was called handlers had written %d bytes, with %d bytes of output storage holding what was not sent yet; they wrote %d in all, and clients received %d, every response whole; Shutdown took %v",
			conns, asked, responses.Load()-asked, sumBefore, queued, sumFinal, sumGot, took.Round(time.Millisecond))
		if n := h.errs.Load(); n > 0 {
			t.Fatalf("%d bad requests on the server; the first: %v", n, *h.first.Load())
		}
		if queued == 0 {
			t.Fatalf("nothing queued in the server when Shutdown was called: the test did not load it")
		}
	})
}
