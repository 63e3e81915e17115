package epollinfo

import (
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"

	"github.com/eventpoll/eventpoll/internal/errs"
)

// Socket is one socket of a /proc/net table.
type Socket struct {
	// Proto is the table it comes from: "tcp", "tcp6", "udp", "udp6",
	// "udplite", "udplite6", "raw", "raw6", "unix" or "netlink".
	Proto string
	// Ino is the inode number of the socket's file: readlink(2) of the
	// descriptor shows "socket:[Ino]".
	Ino uint64
	// Local is the bound address: "127.0.0.1:8080", "[::1]:53"; for unix
	// the path, "@name" for an abstract name, "" when unbound; for netlink
	// "portid N".
	Local string
	// Peer is the connected peer's address, "" when not connected (and
	// always for unix and netlink, whose tables do not say).
	Peer string
	// State is the TCP state ("LISTEN", "ESTABLISHED", ...) for the IP
	// tables, and for unix "LISTEN", "CONNECTED", "UNCONNECTED",
	// "CONNECTING" or "DISCONNECTING".
	State string
	// Type is the socket type of a unix socket ("STREAM", "DGRAM",
	// "SEQPACKET") and the protocol of a netlink one ("ROUTE", "GENERIC",
	// ...); "" for the IP tables, whose Proto says it.
	Type string
}

// String describes the socket in one line: "tcp 127.0.0.1:8080 LISTEN",
// "tcp6 [::1]:8080 -> [::1]:51234 ESTABLISHED", "udp 0.0.0.0:53",
// "unix STREAM /run/app.sock LISTEN", "netlink ROUTE portid 812".
func (s Socket) String() string {
	parts := []string{s.Proto}
	if s.Type != "" {
		parts = append(parts, s.Type)
	}
	local := s.Local
	if local == "" && s.Proto == "unix" {
		local = "(unnamed)"
	}
	if local != "" {
		parts = append(parts, local)
	}
	if s.Peer != "" {
		parts = append(parts, "->", s.Peer)
	}
	// A datagram or raw socket's "state" is CLOSE unless connected, which
	// the peer already says.
	if s.State != "" && (strings.HasPrefix(s.Proto, "tcp") || s.Proto == "unix") {
		parts = append(parts, s.State)
	}
	return strings.Join(parts, " ")
}

// NetTables lists the /proc/PID/net files ParseNet reads, in the order a
// reader should try them.
var NetTables = []string{"tcp", "tcp6", "udp", "udp6", "udplite", "udplite6", "raw", "raw6", "unix", "netlink"}

// ParseNet parses the text of /proc/PID/net/TABLE, where table is one of
// NetTables, and returns its sockets in the order listed. The header line is
// skipped.
//
// It fails with an *epoll.Error (Call "parse /proc/net/TABLE") wrapping a
// *SyntaxError when a line has too few columns or a column that is not the
// number or address the kernel prints there, and with an *epoll.Error
// wrapping unix.EINVAL for a table it does not know.
func ParseNet(table string, b []byte) ([]Socket, error) {
	var parse func(string) (Socket, error)
	switch table {
	case "tcp", "tcp6", "udp", "udp6", "udplite", "udplite6", "raw", "raw6":
		parse = parseIPLine
	case "unix":
		parse = parseUnixLine
	case "netlink":
		parse = parseNetlinkLine
	default:
		return nil, errs.Invalid(pkg, "parse /proc/net", -1, "unknown table "+strconv.Quote(table))
	}
	call := "parse /proc/net/" + table
	var out []Socket
	for n, line := range lines(b) {
		if isHeader(line) {
			continue
		}
		s, err := parse(line)
		if err != nil {
			return nil, syntaxError(call, n, line, err)
		}
		s.Proto = table
		out = append(out, s)
	}
	return out, nil
}

// isHeader reports whether line is a table's column header: "  sl  local_address
// ...", "Num       RefCount ...", "sk               Eth Pid ...".
func isHeader(line string) bool {
	w, _, _ := strings.Cut(strings.TrimSpace(line), " ")
	return w == "sl" || w == "Num" || w == "sk"
}

// tcpStates names the states of include/net/tcp_states.h, which every IP
// table prints in its "st" column.
var tcpStates = [...]string{
	1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
	6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
	11: "CLOSING", 12: "NEW_SYN_RECV", 13: "BOUND_INACTIVE",
}

// parseIPLine parses a line of tcp, udp, raw and their v6 and udplite
// twins (tcp4_seq_show, udp4_format_sock, ...):
//
//	sl  local_address rem_address   st tx_queue:rx_queue tr:tm->when retrnsmt   uid  timeout inode ...
//	0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 64866 ...
func parseIPLine(line string) (Socket, error) {
	var s Socket
	w := strings.Fields(line)
	if len(w) < 10 {
		return s, errorString("want at least 10 columns, have " + strconv.Itoa(len(w)))
	}
	local, err := parseAddrPort(w[1])
	if err != nil {
		return s, err
	}
	peer, err := parseAddrPort(w[2])
	if err != nil {
		return s, err
	}
	st, err := parseUint(w[3], 16, 8, "st")
	if err != nil {
		return s, err
	}
	if s.Ino, err = parseUint(w[9], 10, 64, "inode"); err != nil {
		return s, err
	}
	s.Local = local.String()
	if peer.Port() != 0 || !peer.Addr().IsUnspecified() {
		s.Peer = peer.String()
	}
	if int(st) < len(tcpStates) && tcpStates[st] != "" {
		s.State = tcpStates[st]
	} else {
		s.State = "STATE_" + w[3]
	}
	return s, nil
}

// parseAddrPort parses "0100007F:1F90" (IPv4) or 32 hex digits and a port
// (IPv6). The kernel prints each 32-bit word of the address with %08X as a
// number in the host's byte order, so the bytes of a word are reversed on
// little-endian machines; the port is an ordinary hexadecimal number.
func parseAddrPort(s string) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok || (len(h) != 8 && len(h) != 32) {
		return netip.AddrPort{}, errorString("address " + strconv.Quote(s) + " is not HEX:PORT with 8 or 32 hex digits")
	}
	raw, err := hex.DecodeString(h)
	if err != nil {
		return netip.AddrPort{}, errorString("address " + strconv.Quote(s) + " is not hexadecimal")
	}
	port, err := parseUint(p, 16, 16, "port")
	if err != nil {
		return netip.AddrPort{}, err
	}
	var b [16]byte
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	addr := netip.AddrFrom16(b)
	if len(raw) == 4 {
		addr = netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

var unixTypes = map[uint64]string{1: "STREAM", 2: "DGRAM", 5: "SEQPACKET"}

// unixStates names socket_state (include/uapi/linux/net.h).
var unixStates = [...]string{1: "UNCONNECTED", 2: "CONNECTING", 3: "CONNECTED", 4: "DISCONNECTING"}

// soAcceptCon is __SO_ACCEPTCON, the flag of a listening unix socket.
const soAcceptCon = 1 << 16

// parseUnixLine parses a line of /proc/net/unix (unix_seq_show):
//
//	Num       RefCount Protocol Flags    Type St Inode Path
//	0000000000000000: 00000002 00000000 00010000 0001 01 12345 /run/app.sock
//
// The path is the rest of the line and may hold blanks; an abstract name
// starts with '@'.
func parseUnixLine(line string) (Socket, error) {
	var s Socket
	rest := strings.TrimLeft(line, " ")
	var w [7]string
	for i := range w {
		rest = strings.TrimLeft(rest, " ")
		var ok bool
		if w[i], rest, ok = strings.Cut(rest, " "); !ok && i < len(w)-1 {
			return s, errorString("want at least 7 columns, have " + strconv.Itoa(i+1))
		}
	}
	flags, err := parseUint(w[3], 16, 32, "flags")
	if err != nil {
		return s, err
	}
	typ, err := parseUint(w[4], 16, 16, "type")
	if err != nil {
		return s, err
	}
	st, err := parseUint(w[5], 16, 8, "st")
	if err != nil {
		return s, err
	}
	if s.Ino, err = parseUint(w[6], 10, 64, "inode"); err != nil {
		return s, err
	}
	// The kernel writes one blank, then the path as it is: a path may
	// start or end with blanks of its own.
	s.Local = rest
	s.Type = unixTypes[typ]
	if s.Type == "" {
		s.Type = "TYPE_" + w[4]
	}
	switch {
	case flags&soAcceptCon != 0:
		s.State = "LISTEN"
	case int(st) < len(unixStates) && unixStates[st] != "":
		s.State = unixStates[st]
	default:
		s.State = "STATE_" + w[5]
	}
	return s, nil
}

// netlinkProtocols names the netlink families of include/uapi/linux/netlink.h.
var netlinkProtocols = map[uint64]string{
	0: "ROUTE", 2: "USERSOCK", 4: "SOCK_DIAG", 5: "NFLOG", 6: "XFRM", 7: "SELINUX",
	8: "ISCSI", 9: "AUDIT", 10: "FIB_LOOKUP", 11: "CONNECTOR", 12: "NETFILTER",
	13: "IP6_FW", 14: "DNRTMSG", 15: "KOBJECT_UEVENT", 16: "GENERIC", 18: "SCSITRANSPORT",
	19: "ECRYPTFS", 20: "RDMA", 21: "CRYPTO", 22: "SMC",
}

// parseNetlinkLine parses a line of /proc/net/netlink (netlink_seq_show):
//
//	sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode
//	ffff8f0a41c3e000 0   812        00000111 0        0        0     2        0        20417
func parseNetlinkLine(line string) (Socket, error) {
	var s Socket
	w := strings.Fields(line)
	if len(w) < 10 {
		return s, errorString("want at least 10 columns, have " + strconv.Itoa(len(w)))
	}
	proto, err := parseUint(w[1], 10, 32, "eth")
	if err != nil {
		return s, err
	}
	portid, err := parseUint(w[2], 10, 32, "pid")
	if err != nil {
		return s, err
	}
	if s.Ino, err = parseUint(w[9], 10, 64, "inode"); err != nil {
		return s, err
	}
	s.Type = netlinkProtocols[proto]
	if s.Type == "" {
		s.Type = "PROTO_" + w[1]
	}
	s.Local = "portid " + strconv.FormatUint(portid, 10)
	return s, nil
}
