package server

import (
	"net"
	"net/netip"
	"unsafe"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/loop"
	"golang.org/x/sys/unix"
)

// PacketHandler is what a UDP server calls for each datagram, on the loop
// whose socket received it. OnPacket must not block.
type PacketHandler interface {
	OnPacket(p *Packet)
}

// PacketFunc adapts a function to a UDP server's handler: it is a
// PacketHandler, and a Handler whose stream methods do nothing.
type PacketFunc func(p *Packet)

// OnPacket calls f(p).
func (f PacketFunc) OnPacket(p *Packet) { f(p) }

// OnOpen does nothing: a UDP server has no connections.
func (PacketFunc) OnOpen(*Conn) {}

// OnData does nothing.
func (PacketFunc) OnData(*Conn) {}

// OnClose does nothing.
func (PacketFunc) OnClose(*Conn, error) {}

// Packet is one received datagram. It and its Data belong to the server
// and are valid only until OnPacket returns.
type Packet struct {
	Data []byte // the datagram
	u    *udpSocket
	from netip.AddrPort
	slot int // the receive slot, whose address Reply answers
}

// Addr returns the sender's address (an IPv4 sender of a dual-stack socket
// as IPv4). It allocates nothing.
func (p *Packet) Addr() netip.AddrPort { return p.from }

// RemoteAddr returns the sender's address as a *net.UDPAddr.
func (p *Packet) RemoteAddr() net.Addr { return net.UDPAddrFromAddrPort(p.from) }

// Reply sends b to the datagram's sender from the socket that received it.
// b is copied to one of the loop's send slots, and the slots go out
// together with one sendmmsg(2) when the batch of received datagrams has
// been handled (or when they are all taken). A socket that refuses to take
// more keeps the slots until EPOLLOUT.
//
// Errors: EMSGSIZE when b is longer than the packet size (WithPacketSize);
// EAGAIN when every send slot still waits for the socket (the reply is
// dropped and counted in Stats.PacketsDropped); ErrClosed outside OnPacket.
func (p *Packet) Reply(b []byte) error {
	u := p.u
	if u == nil || u.closed {
		return closedErr("Reply")
	}
	if len(b) > u.size {
		return sysErr("Reply", u.fd, unix.EMSGSIZE)
	}
	if u.sn == len(u.sh) {
		u.flushSends()
		if u.sn == len(u.sh) {
			u.w.st.packetsDropped.Add(1)
			return sysErr("sendmmsg", u.fd, unix.EAGAIN)
		}
	}
	i := u.sn
	copy(u.sbuf[i*u.size:], b)
	u.siov[i].SetLen(len(b))
	u.sname[i] = u.rname[p.slot]
	u.sh[i].Hdr.Namelen = u.rh[p.slot].Hdr.Namelen
	u.sn++
	return nil
}

// udpSocket is a loop's UDP socket with its batches of receive and send
// slots: message headers, iovecs and addresses made once and reused.
type udpSocket struct {
	w       *worker
	fd      int
	tok     loop.Token
	size    int
	rh      []unix.Mmsghdr
	riov    []unix.Iovec
	rname   []unix.RawSockaddrAny
	rbuf    []byte
	sh      []unix.Mmsghdr
	siov    []unix.Iovec
	sname   []unix.RawSockaddrAny
	sbuf    []byte
	s0, sn  int // queued replies are the send slots [s0, sn)
	wantOut bool
	closed  bool
	pkt     Packet
}

// openUDP gives every loop a socket bound to the address, with
// SO_REUSEPORT: the kernel spreads senders over them by hash, so one
// sender's datagrams all reach the same loop.
func (s *Server) openUDP() error {
	return s.openEach(func(w *worker, fd int) error {
		u := newUDPSocket(w, fd)
		tok, err := w.l.Register(fd, epoll.In, u)
		if err != nil {
			return err
		}
		u.tok = tok
		w.udp = u
		return nil
	})
}

func newUDPSocket(w *worker, fd int) *udpSocket {
	n, size := w.s.cfg.packetBatch, w.s.cfg.packetSize
	u := &udpSocket{
		w: w, fd: fd, size: size,
		rh: make([]unix.Mmsghdr, n), riov: make([]unix.Iovec, n), rname: make([]unix.RawSockaddrAny, n), rbuf: make([]byte, n*size),
		sh: make([]unix.Mmsghdr, n), siov: make([]unix.Iovec, n), sname: make([]unix.RawSockaddrAny, n), sbuf: make([]byte, n*size),
	}
	for i := range n {
		u.riov[i] = unix.Iovec{Base: &u.rbuf[i*size]}
		u.riov[i].SetLen(size)
		u.rh[i].Hdr.Name = (*byte)(unsafe.Pointer(&u.rname[i]))
		u.rh[i].Hdr.Iov = &u.riov[i]
		u.rh[i].Hdr.SetIovlen(1)
		u.siov[i] = unix.Iovec{Base: &u.sbuf[i*size]}
		u.sh[i].Hdr.Name = (*byte)(unsafe.Pointer(&u.sname[i]))
		u.sh[i].Hdr.Iov = &u.siov[i]
		u.sh[i].Hdr.SetIovlen(1)
	}
	u.pkt.u = u
	return u
}

// OnEvent receives (level-triggered: what a bounded round leaves is
// reported again) and sends what waited for the socket.
func (u *udpSocket) OnEvent(_ *loop.Loop, _ loop.Token, ev epoll.Events) {
	if ev&epoll.Out != 0 {
		u.flushSends()
	}
	if ev&(epoll.In|epoll.Err) != 0 {
		u.receive()
	}
}

// udpRounds bounds the recvmmsg calls of one event.
const udpRounds = 4

func (u *udpSocket) receive() {
	st := &u.w.st
	for range udpRounds {
		for i := range u.rh {
			u.rh[i].Hdr.Namelen = unix.SizeofSockaddrAny
			u.rh[i].Hdr.Flags = 0
			u.rh[i].Len = 0
		}
		n, err := mmsg(unix.SYS_RECVMMSG, u.fd, u.rh, unix.MSG_DONTWAIT)
		if err != nil {
			if err != unix.EAGAIN {
				u.w.s.cfg.fault(nil, sysErr("recvmmsg", u.fd, err))
			}
			return
		}
		st.recvBatches.Add(1)
		for i := range n {
			h := &u.rh[i]
			if h.Hdr.Flags&unix.MSG_TRUNC != 0 {
				st.packetsDropped.Add(1)
				continue
			}
			st.packetsIn.Add(1)
			st.bytesIn.Add(uint64(h.Len))
			u.deliver(i, int(h.Len))
		}
		u.flushSends()
		if n < len(u.rh) {
			return
		}
	}
}

// deliver hands receive slot i to the handler, containing a panic.
func (u *udpSocket) deliver(i, n int) {
	p := &u.pkt
	p.Data = u.rbuf[i*u.size : i*u.size+n : i*u.size+n]
	p.from = addrPort(&u.rname[i])
	p.slot = i
	defer func() {
		p.Data = nil
		if v := recover(); v != nil {
			u.w.st.panics.Add(1)
			u.w.s.cfg.fault(nil, newPanicError(v))
		}
	}()
	u.w.s.ph.OnPacket(p)
}

// flushSends sends the queued replies; a datagram the kernel refuses
// (EMSGSIZE, ENETUNREACH, ...) is dropped and the rest go on.
func (u *udpSocket) flushSends() {
	st := &u.w.st
	for u.s0 < u.sn {
		n, err := mmsg(unix.SYS_SENDMMSG, u.fd, u.sh[u.s0:u.sn], 0)
		if err == unix.EAGAIN {
			if !u.wantOut && u.w.l.Modify(u.tok, epoll.In|epoll.Out) == nil {
				u.wantOut = true
			}
			return
		}
		if err != nil {
			st.packetsDropped.Add(1)
			u.s0++
			continue
		}
		st.sendBatches.Add(1)
		st.packetsOut.Add(uint64(n))
		for i := u.s0; i < u.s0+n; i++ {
			st.bytesOut.Add(uint64(u.sh[i].Len))
		}
		u.s0 += n
	}
	u.s0, u.sn = 0, 0
	if u.wantOut && u.w.l.Modify(u.tok, epoll.In) == nil {
		u.wantOut = false
	}
}

func (u *udpSocket) close() {
	if u.closed {
		return
	}
	u.closed = true
	if err := u.w.l.UnregisterClose(u.tok); err != nil && !isClosed(err) {
		unix.Close(u.fd)
	}
}

// mmsg calls recvmmsg or sendmmsg on the headers.
func mmsg(trap uintptr, fd int, h []unix.Mmsghdr, flags int) (int, error) {
	for {
		r, _, e := unix.Syscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&h[0])), uintptr(len(h)), uintptr(flags), 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(r), nil
	}
}
