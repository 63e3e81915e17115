// Package server serves TCP, Unix and UDP sockets from a few goroutines: a
// set of loops (package loop), each an epoll instance driven by one
// goroutine locked to its thread, each serving its share of the
// connections. It is what gnet, nbio and cloudwego/netpoll are for, with
// what their users ask them for: a descriptor shortage that pauses
// accepting instead of killing the reactor, memory bounded by
// configuration rather than by what a peer does, timeouts per connection,
// and idle connections that cost a few hundred bytes.
//
// # Synopsis
//
//	type echo struct{ server.NopHandler }
//
//	func (echo) OnData(c *server.Conn) {
//		b, _ := c.Next(-1) // everything received
//		c.Write(b)         // to the socket at once; what it does not take is queued
//	}
//
//	s, err := server.Listen("tcp", ":7000", echo{}, server.WithIdleTimeout(time.Minute))
//	go s.Serve(ctx)                  // the loops, until Shutdown, Close or ctx
//	err = s.Shutdown(ctx)            // stop accepting, write what is queued, close
//
// # What runs where
//
// Every method of a Handler (OnOpen, OnData, OnClose, and OnEOF for an
// EOFHandler) and of a PacketHandler runs on the loop that serves the
// connection or socket, one call at a time per loop, never concurrently with
// another call for the same loop. A connection stays on its loop for its
// life. A handler must not block: while it runs, no other connection of its
// loop is read, written or timed out. Work that takes time goes to another
// goroutine, whose result comes back with Conn.AsyncWrite (which writes it
// on the loop) or Conn.Wake (which calls OnData again).
//
// Conn's methods belong to its loop: call them from the handler, or from a
// function running on the loop (an AsyncWrite's done). AsyncWrite and Wake
// are the two that any goroutine may call. Server's methods may be called
// from any goroutine; Shutdown blocks until the connections are closed, so
// a handler that wants the server gone calls Close, or Shutdown from a
// goroutine of its own.
//
// # Modes
//
// A TCP or Unix server spreads its connections over its loops in one of
// three ways (seed 003: one queue every waiter shares, or one queue per
// waiter); see Mode for when to pick which.
//
//   - MultiQueue (the default): a listening socket per loop, bound with
//     SO_REUSEPORT; the kernel hashes each connection to one of them.
//   - SharedQueue: one listening socket in every loop's epoll instance with
//     EPOLLEXCLUSIVE; one waiting loop is woken per connection, and accepts.
//   - Acceptor: one more loop accepts and hands each connection to a serving
//     loop (round-robin or least-connections), which registers it.
//
// Accepting is batched: one readiness of a listener accepts until EAGAIN,
// at most 64 connections, and the listener, level-triggered, is reported
// again in the loop's next iteration if more wait.
//
// # Reading
//
// A connection is registered once, with EPOLLIN, EPOLLOUT, EPOLLRDHUP and
// EPOLLPRI, edge-triggered: no epoll_ctl is made for it again until it
// closes. Its loop reads it until the socket is empty (a read shorter than
// the buffer says so, except after a hang-up or urgent data, when it reads
// until EAGAIN), at most four read buffers per event; a connection that
// had more is put on the loop's list and read again in the next iteration,
// so one busy peer cannot starve the others.
//
// A loop reads into its one read buffer (WithReadBuffer) and hands the bytes
// to OnData, where Peek, Next and Discard consume them in place. Bytes the
// handler leaves unread, a message not yet complete, are copied into a
// buffer of the connection's own, from a pool, kept for the next OnData
// with the new bytes after them, and given back as soon as the handler has
// consumed them all. A handler that leaves more than the read limit closes
// its connection with ErrReadLimit. A connection holding nothing unread
// holds no input buffer.
//
// # Writing
//
// Write and Writev go straight to the socket (write(2), writev(2)) when
// nothing is queued. What the socket does not take is copied to the
// connection's queue, in 16 KiB chunks from a pool, and sent when the
// socket drains: the registration's EPOLLOUT edge says when, so a write
// never needs an epoll_ctl. Chunks go back to the pool as they are sent;
// a connection whose queue is empty holds none. When the queue grows past
// the write limit's high mark, the connection stops being read, so that a
// peer that sends without reading cannot make the server queue without
// end; once the queue has drained to the low mark the connection is read
// again, at once, for what arrived in the meantime.
//
// # Closing
//
// Conn.Close closes a connection after its queued output is written. The
// connection's end (a FIN) follows its data, and the server waits for the
// peer's kernel to acknowledge all of it, or for the peer's end, before
// close(2): closing with input unread, or receiving data on a closed socket,
// makes the kernel reset the connection and throw away what it had still to
// deliver, the reply's tail. CloseWrite sends the connection's end and goes
// on reading. When the peer ends its side, the server closes the connection
// once its queue is written (OnClose gets io.EOF), unless the handler is an
// EOFHandler, which keeps it open to write.
//
// Shutdown stops accepting, stops reading, lets every connection write its
// queue and closes it as Close does; Close closes everything at once.
//
// # Memory
//
// What a server holds is bounded by its configuration, never by a peer:
// per loop, one read buffer; per connection, at most the read limit plus a
// read buffer of input while its handler leaves bytes unread, and about the
// high mark plus what one OnData writes of output while its peer does not
// read. An idle connection holds no buffer: its Conn, its registration in
// the loop's table and, with a timeout, a timer, under 1 KiB of Go heap in
// all (the package's tests hold 10,000 and measure it).
//
// # Timeouts
//
// WithIdleTimeout, WithReadTimeout and WithWriteTimeout set a server's
// timeouts, and Conn.SetIdleTimeout, SetReadTimeout and SetWriteTimeout a
// connection's own. The idle timeout counts from the last byte read or
// written; the read timeout from the moment the handler first left bytes
// unread (a message that trickles in, slowloris); the write timeout from the
// last progress of a queue that is not empty (a peer that stopped reading).
// Each closes the connection with its error (ErrIdleTimeout, ErrReadTimeout,
// ErrWriteTimeout). They run on the loop's timers, one per connection that
// has a timeout, re-armed lazily: a read or a write only stores the time,
// and the timer, when it fires, finds which deadline has really passed.
//
// # Faults are states
//
// When accept4 fails with EMFILE or ENFILE (no descriptor left), ENOBUFS or
// ENOMEM, the loop does not spin on the still-readable listener: it takes
// the listener out of its interest set and tries again after a backoff
// (1 ms, doubling to 20 ms; one accept4 per try, nothing more), and at
// once when one of the server's own connections closes. On the first
// EMFILE or ENFILE of a run it refuses the connection at the head of the
// queue with the reserve-descriptor trick (close a descriptor kept for
// this, accept and close, take the reserve again), so that client is
// answered instead of left waiting. Open connections are served
// throughout. A connection's ECONNRESET, EPIPE or ETIMEDOUT closes that
// connection alone, and reaches OnClose as its error. A panic in a handler
// closes its connection (OnClose gets the *loop.PanicError), is reported to
// the fault handler (WithFaultHandler; by default logged with its stack),
// and the loop goes on.
//
// # UDP
//
// A UDP server has one socket per loop, bound to the address with
// SO_REUSEPORT (the kernel keeps each sender on one socket). Each loop
// receives datagrams in batches with recvmmsg(2) into slots made once,
// calls OnPacket for each, and sends the replies the batch produced
// (Packet.Reply) with one sendmmsg(2).
//
// # Options and their defaults
//
//	WithLoops           runtime.GOMAXPROCS(0) serving loops (+1 in Acceptor mode)
//	WithMode            MultiQueue
//	WithBalance         RoundRobin (Acceptor mode)
//	WithReadBuffer      64 KiB per loop
//	WithReadLimit       1 MiB left unread per connection
//	WithWriteLimit      high 1 MiB, low 256 KiB of queued output
//	WithIdleTimeout     none
//	WithReadTimeout     none
//	WithWriteTimeout    none (a closing connection: LingerTimeout without progress)
//	WithNoDelay         true (TCP_NODELAY)
//	WithKeepAlive       off
//	WithSocketBuffers   the kernel's autotuning
//	WithBacklog         net.core.somaxconn
//	WithCPUs            no pinning
//	WithEngine          loop.EngineEpoll
//	WithFaultHandler    log to the standard logger
//	WithPacketSize      2048 bytes (UDP)
//	WithPacketBatch     32 datagrams per recvmmsg/sendmmsg (UDP)
//
// # Stats
//
// Server.Stats returns, per loop and in total, the connections open,
// accepted and closed by cause, the bytes in and out, the accept pauses and
// refusals, the buffer bytes connections hold, the UDP datagrams and
// batches, and the loop's own counters (events, stale events dropped). The
// loops keep them with one atomic add where they change; they are always on.
package server
