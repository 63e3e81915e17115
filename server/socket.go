package server

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/eventpoll/eventpoll/internal/errs"
	"golang.org/x/sys/unix"
)

// endpoint is a resolved listening address.
type endpoint struct {
	network string // "tcp", "unix" or "udp": the family of protocols
	family  int
	sa      unix.Sockaddr
	v6only  int    // -1: leave IPV6_V6ONLY alone
	path    string // a Unix socket's file, removed when the server closes
}

// resolve turns Listen's network and address into an endpoint.
func resolve(network, addr string) (endpoint, error) {
	bad := func(why string) (endpoint, error) {
		return endpoint{}, errs.Invalid(pkg, "Listen", -1, why)
	}
	switch network {
	case "unix":
		if addr == "" {
			return bad("empty Unix socket path")
		}
		ep := endpoint{network: "unix", family: unix.AF_UNIX, sa: &unix.SockaddrUnix{Name: addr}, v6only: -1}
		if !strings.HasPrefix(addr, "@") { // "@name" is Linux's abstract namespace: no file
			ep.path = addr
		}
		return ep, nil
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
	default:
		return bad("unknown network " + strconv.Quote(network) + " (want tcp, tcp4, tcp6, unix, udp, udp4 or udp6)")
	}
	var ip net.IP
	var port int
	var zone string
	if network[0] == 't' {
		a, err := net.ResolveTCPAddr(network, addr)
		if err != nil {
			return endpoint{}, badAddress(err)
		}
		ip, port, zone = a.IP, a.Port, a.Zone
	} else {
		a, err := net.ResolveUDPAddr(network, addr)
		if err != nil {
			return endpoint{}, badAddress(err)
		}
		ip, port, zone = a.IP, a.Port, a.Zone
	}
	ep := endpoint{network: network[:3], v6only: -1}
	suffix := network[3:]
	ip4 := ip.To4()
	switch {
	case suffix == "4" && ip != nil && ip4 == nil:
		return bad("address " + ip.String() + " is not IPv4")
	case suffix == "6" && ip4 != nil:
		return bad("address " + ip.String() + " is not IPv6")
	case suffix == "4" || ip4 != nil:
		sa := &unix.SockaddrInet4{Port: port}
		if ip4 != nil {
			copy(sa.Addr[:], ip4)
		}
		ep.family, ep.sa = unix.AF_INET, sa
	default:
		// No address, or an IPv6 one: an IPv6 socket, which for "tcp" and
		// "udp" takes IPv4 peers too (as mapped addresses), as package net
		// does.
		sa := &unix.SockaddrInet6{Port: port}
		if ip != nil {
			copy(sa.Addr[:], ip.To16())
		}
		if zone != "" {
			if ifi, err := net.InterfaceByName(zone); err == nil {
				sa.ZoneId = uint32(ifi.Index)
			} else if n, err := strconv.Atoi(zone); err == nil {
				sa.ZoneId = uint32(n)
			}
		}
		ep.family, ep.sa, ep.v6only = unix.AF_INET6, sa, 0
		if suffix == "6" {
			ep.v6only = 1
		}
	}
	return ep, nil
}

// badAddress is the error of an address that does not resolve: the
// resolver's error, classified as an argument error (EINVAL).
func badAddress(err error) error {
	return &errs.Error{Pkg: pkg, Call: "Listen", Fd: -1, Err: err, Kind: &errs.ArgError{Why: "bad address"}}
}

// withPort returns ep bound to port (the one the kernel chose for the first
// of several SO_REUSEPORT sockets).
func (ep endpoint) withPort(port int) endpoint {
	switch sa := ep.sa.(type) {
	case *unix.SockaddrInet4:
		c := *sa
		c.Port = port
		ep.sa = &c
	case *unix.SockaddrInet6:
		c := *sa
		c.Port = port
		ep.sa = &c
	}
	return ep
}

// open makes a bound socket for ep, listening when it is a stream socket,
// with the server's options set on it so that accepted connections inherit
// them (Linux copies TCP_NODELAY, keep-alive and buffer sizes from the
// listener to every socket it accepts: no setsockopt per connection).
func (ep endpoint) open(cfg *config, reusePort bool) (int, error) {
	sotype := unix.SOCK_STREAM
	if ep.network == "udp" {
		sotype = unix.SOCK_DGRAM
	}
	fd, err := unix.Socket(ep.family, sotype|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, sysErr("socket", -1, err)
	}
	if err := ep.configure(fd, cfg, reusePort); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Bind(fd, ep.sa); err != nil {
		unix.Close(fd)
		return -1, sysErr("bind", fd, err)
	}
	if sotype == unix.SOCK_STREAM {
		if err := unix.Listen(fd, backlog(cfg)); err != nil {
			unix.Close(fd)
			return -1, sysErr("listen", fd, err)
		}
	}
	return fd, nil
}

func (ep endpoint) configure(fd int, cfg *config, reusePort bool) error {
	type opt struct {
		level, name, value int
		what               string
	}
	var opts []opt
	if ep.family != unix.AF_UNIX {
		opts = append(opts, opt{unix.SOL_SOCKET, unix.SO_REUSEADDR, 1, "SO_REUSEADDR"})
	}
	if reusePort {
		opts = append(opts, opt{unix.SOL_SOCKET, unix.SO_REUSEPORT, 1, "SO_REUSEPORT"})
	}
	if ep.v6only >= 0 {
		opts = append(opts, opt{unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, ep.v6only, "IPV6_V6ONLY"})
	}
	if ep.network == "tcp" {
		if cfg.noDelay {
			opts = append(opts, opt{unix.IPPROTO_TCP, unix.TCP_NODELAY, 1, "TCP_NODELAY"})
		}
		if cfg.keepAlive > 0 {
			secs := int((cfg.keepAlive + 999_999_999) / 1_000_000_000)
			opts = append(opts,
				opt{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1, "SO_KEEPALIVE"},
				opt{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, secs, "TCP_KEEPIDLE"},
				opt{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, secs, "TCP_KEEPINTVL"})
		}
	}
	if cfg.rcvBuf > 0 {
		opts = append(opts, opt{unix.SOL_SOCKET, unix.SO_RCVBUF, cfg.rcvBuf, "SO_RCVBUF"})
	}
	if cfg.sndBuf > 0 {
		opts = append(opts, opt{unix.SOL_SOCKET, unix.SO_SNDBUF, cfg.sndBuf, "SO_SNDBUF"})
	}
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, o.level, o.name, o.value); err != nil {
			return sysErr("setsockopt("+o.what+")", fd, err)
		}
	}
	return nil
}

var somaxconn = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			return n
		}
	}
	return 4096
})

func backlog(cfg *config) int {
	if cfg.backlog > 0 {
		return cfg.backlog
	}
	return somaxconn()
}

// localAddr returns the address fd is bound to, as a net.Addr of the
// endpoint's network.
func localAddr(network string, fd int) net.Addr {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil
	}
	return sockaddrToAddr(network, sa)
}

func sockaddrToAddr(network string, sa unix.Sockaddr) net.Addr {
	var ap netip.AddrPort
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		ap = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		a := netip.AddrFrom16(sa.Addr)
		if sa.ZoneId != 0 {
			a = a.WithZone(strconv.Itoa(int(sa.ZoneId)))
		}
		ap = netip.AddrPortFrom(a.Unmap(), uint16(sa.Port))
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: "unix"}
	default:
		return nil
	}
	return netAddr(network, ap)
}

// addrPortOf returns the address and port of a TCP or UDP address.
func addrPortOf(a net.Addr) (netip.AddrPort, bool) {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort(), true
	case *net.UDPAddr:
		return a.AddrPort(), true
	}
	return netip.AddrPort{}, false
}

func netAddr(network string, ap netip.AddrPort) net.Addr {
	if network == "udp" {
		return net.UDPAddrFromAddrPort(ap)
	}
	return net.TCPAddrFromAddrPort(ap)
}

// addrPort decodes a raw socket address of the inet families without
// allocating; other families give the zero AddrPort.
func addrPort(rsa *unix.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(p.Addr), ntohs(p.Port))
	case unix.AF_INET6:
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		a := netip.AddrFrom16(p.Addr).Unmap()
		if p.Scope_id != 0 && a.Is6() {
			a = a.WithZone(strconv.Itoa(int(p.Scope_id)))
		}
		return netip.AddrPortFrom(a, ntohs(p.Port))
	}
	return netip.AddrPort{}
}

// The kernel keeps ports in network byte order.
func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// accept4 takes one connection from the listener's queue, non-blocking
// and close-on-exec, its peer's address in rsa. It calls the kernel
// directly: unix.Accept4 allocates a Sockaddr per connection.
func accept4(fd int, rsa *unix.RawSockaddrAny, n *uint32) (int, error) {
	for {
		*n = unix.SizeofSockaddrAny
		r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(rsa)), uintptr(unsafe.Pointer(n)),
			unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return -1, e
		}
		return int(r), nil
	}
}

// writev writes iov with one system call, without the iovec slice
// unix.Writev allocates per call.
func writev(fd int, iov []unix.Iovec) (int, error) {
	for {
		r, _, e := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(r), nil
	}
}

// read and write retry EINTR, which a non-blocking socket call can still
// get when a signal lands during the copy.
func read(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Read(fd, b)
		if err != unix.EINTR {
			return n, err
		}
	}
}

func write(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Write(fd, b)
		if err != unix.EINTR {
			if n < 0 {
				n = 0
			}
			return n, err
		}
	}
}

// peerAddr is a connection's peer address in 24 bytes, where a
// netip.AddrPort takes 32: the address's 16 bytes (an IPv4 one mapped),
// the IPv6 scope, the port and the family.
type peerAddr struct {
	ip    [16]byte
	scope uint32
	port  uint16
	fam   uint8 // 0: none (a Unix socket), 4 or 6
}

// peerOf packs ap, whose zone, if any, is a scope number (as addrPort
// makes it).
func peerOf(ap netip.AddrPort) peerAddr {
	a := ap.Addr()
	if !a.IsValid() {
		return peerAddr{}
	}
	p := peerAddr{ip: a.As16(), port: ap.Port(), fam: 6}
	if a.Is4() {
		p.fam = 4
	}
	if z := a.Zone(); z != "" {
		if n, err := strconv.ParseUint(z, 10, 32); err == nil {
			p.scope = uint32(n)
		}
	}
	return p
}

// addrPort unpacks p; it allocates only for a scoped IPv6 address.
func (p *peerAddr) addrPort() netip.AddrPort {
	switch p.fam {
	case 4:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(p.ip[12:])), p.port)
	case 6:
		a := netip.AddrFrom16(p.ip)
		if p.scope != 0 {
			a = a.WithZone(strconv.FormatUint(uint64(p.scope), 10))
		}
		return netip.AddrPortFrom(a, p.port)
	}
	return netip.AddrPort{}
}
