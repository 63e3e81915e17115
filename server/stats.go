package server

import (
	"errors"
	"io"
	"sync/atomic"

	"github.com/eventpoll/eventpoll/loop"
)

// Stats is what a server did, per loop and in total. Reading it costs a
// few atomic loads per loop; the loops keep the counters with one atomic
// add where they change, so they are always on.
type Stats struct {
	Loops []LoopStats // the serving loops, then the Acceptor mode's accepting loop
	Total LoopStats   // the sum over Loops
}

// LoopStats counts one loop's work.
type LoopStats struct {
	Accepting      bool       // the Acceptor mode's accepting loop (in Total: false)
	Open           int64      // connections open now
	Accepted       uint64     // connections taken in (by this loop, or handed to it)
	Closed         Closes     // connections closed, by cause
	Refused        uint64     // connections refused with the reserve descriptor while descriptors ran out
	AcceptPauses   uint64     // times accepting paused (EMFILE, ENFILE, ENOBUFS, ENOMEM)
	AcceptErrors   uint64     // connections lost in the queue (ECONNABORTED and the like)
	BytesIn        uint64     // bytes read from connections (and datagrams received)
	BytesOut       uint64     // bytes written to connections (and datagrams sent)
	HeldIn         int64      // bytes of input storage held by connections for bytes left unread
	HeldOut        int64      // bytes of output chunks held by connections' queues
	PacketsIn      uint64     // UDP datagrams received
	PacketsOut     uint64     // UDP datagrams sent
	PacketsDropped uint64     // UDP datagrams dropped: too long to receive, or replies the socket refused
	RecvBatches    uint64     // recvmmsg calls that returned datagrams
	SendBatches    uint64     // sendmmsg calls that sent datagrams
	Panics         uint64     // handler panics contained
	Loop           loop.Stats // the loop's own counters: events, stale events dropped, wake-ups, timers
}

// Closes counts closed connections by cause (the error OnClose got).
type Closes struct {
	Local        uint64 // Conn.Close (nil)
	Peer         uint64 // the peer ended the stream (io.EOF, io.ErrUnexpectedEOF)
	Server       uint64 // Shutdown or Close (ErrServerClosed)
	IdleTimeout  uint64
	ReadTimeout  uint64
	WriteTimeout uint64
	ReadLimit    uint64
	Panic        uint64 // a handler panicked
	Error        uint64 // the kernel's error (ECONNRESET, EPIPE, ETIMEDOUT, ...)
}

// Total returns the number of connections closed, whatever the cause.
func (c Closes) Total() uint64 {
	return c.Local + c.Peer + c.Server + c.IdleTimeout + c.ReadTimeout + c.WriteTimeout + c.ReadLimit + c.Panic + c.Error
}

const (
	causeLocal = iota
	causePeer
	causeServer
	causeIdle
	causeRead
	causeWrite
	causeLimit
	causePanic
	causeError
	numCauses
)

// counters are a loop's counters: written by its goroutine, read by Stats
// from any.
type counters struct {
	open           atomic.Int64
	accepted       atomic.Uint64
	closed         [numCauses]atomic.Uint64
	refused        atomic.Uint64
	acceptPauses   atomic.Uint64
	acceptErrors   atomic.Uint64
	bytesIn        atomic.Uint64
	bytesOut       atomic.Uint64
	heldIn         atomic.Int64
	heldOut        atomic.Int64
	packetsIn      atomic.Uint64
	packetsOut     atomic.Uint64
	packetsDropped atomic.Uint64
	recvBatches    atomic.Uint64
	sendBatches    atomic.Uint64
	panics         atomic.Uint64
}

// closedBy counts a close by its cause.
func (c *counters) closedBy(err error) {
	var pe *loop.PanicError
	cause := causeError
	switch {
	case err == nil:
		cause = causeLocal
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		cause = causePeer
	case err == ErrServerClosed:
		cause = causeServer
	case err == ErrIdleTimeout:
		cause = causeIdle
	case err == ErrReadTimeout:
		cause = causeRead
	case err == ErrWriteTimeout:
		cause = causeWrite
	case errors.Is(err, ErrReadLimit):
		cause = causeLimit
	case errors.As(err, &pe):
		cause = causePanic
	}
	c.closed[cause].Add(1)
}

func (c *counters) load() LoopStats {
	cl := func(i int) uint64 { return c.closed[i].Load() }
	return LoopStats{
		Open:     c.open.Load(),
		Accepted: c.accepted.Load(),
		Closed: Closes{
			Local: cl(causeLocal), Peer: cl(causePeer), Server: cl(causeServer),
			IdleTimeout: cl(causeIdle), ReadTimeout: cl(causeRead), WriteTimeout: cl(causeWrite),
			ReadLimit: cl(causeLimit), Panic: cl(causePanic), Error: cl(causeError),
		},
		Refused:        c.refused.Load(),
		AcceptPauses:   c.acceptPauses.Load(),
		AcceptErrors:   c.acceptErrors.Load(),
		BytesIn:        c.bytesIn.Load(),
		BytesOut:       c.bytesOut.Load(),
		HeldIn:         c.heldIn.Load(),
		HeldOut:        c.heldOut.Load(),
		PacketsIn:      c.packetsIn.Load(),
		PacketsOut:     c.packetsOut.Load(),
		PacketsDropped: c.packetsDropped.Load(),
		RecvBatches:    c.recvBatches.Load(),
		SendBatches:    c.sendBatches.Load(),
		Panics:         c.panics.Load(),
	}
}

// Stats returns the server's counters now, per loop and summed.
func (s *Server) Stats() Stats {
	if s == nil || s.workers == nil {
		return Stats{}
	}
	var st Stats
	for _, w := range s.loops() {
		ls := w.st.load()
		ls.Accepting = w.accepting
		ls.Loop = w.l.Stats()
		st.Loops = append(st.Loops, ls)
		st.Total.add(&ls)
	}
	return st
}

func (t *LoopStats) add(l *LoopStats) {
	t.Open += l.Open
	t.Accepted += l.Accepted
	a, b := &t.Closed, &l.Closed
	a.Local += b.Local
	a.Peer += b.Peer
	a.Server += b.Server
	a.IdleTimeout += b.IdleTimeout
	a.ReadTimeout += b.ReadTimeout
	a.WriteTimeout += b.WriteTimeout
	a.ReadLimit += b.ReadLimit
	a.Panic += b.Panic
	a.Error += b.Error
	t.Refused += l.Refused
	t.AcceptPauses += l.AcceptPauses
	t.AcceptErrors += l.AcceptErrors
	t.BytesIn += l.BytesIn
	t.BytesOut += l.BytesOut
	t.HeldIn += l.HeldIn
	t.HeldOut += l.HeldOut
	t.PacketsIn += l.PacketsIn
	t.PacketsOut += l.PacketsOut
	t.PacketsDropped += l.PacketsDropped
	t.RecvBatches += l.RecvBatches
	t.SendBatches += l.SendBatches
	t.Panics += l.Panics
	x, y := &t.Loop, &l.Loop
	x.Iterations += y.Iterations
	x.Events += y.Events
	x.Stale += y.Stale
	x.Wakeups += y.Wakeups
	x.Posts += y.Posts
	x.Timers += y.Timers
	x.Changes += y.Changes
	x.Batches += y.Batches
	x.Faults += y.Faults
	x.Panics += y.Panics
}
