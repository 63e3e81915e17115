package epollinfo

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/eventpoll/eventpoll/epoll"
)

// kernelLine prints a registration the way ep_show_fdinfo does.
func kernelLine(r Registration) string {
	s := fmt.Sprintf("tfd: %8d events: %8x data: %16x", r.Fd, uint32(r.Events), r.Data)
	if r.HasFile {
		sdev := uint64(r.Dev.Major)<<20 | uint64(r.Dev.Minor)
		s += fmt.Sprintf("  pos:%d ino:%x sdev:%x", r.Pos, r.Ino, sdev)
	}
	return s + "\n"
}

// FuzzParseFdinfo: ParseFdinfo never panics, every error is an
// *epoll.Error with a *SyntaxError, and what it accepts prints back, in the
// kernel's format, to text it parses to the same registrations.
func FuzzParseFdinfo(f *testing.F) {
	f.Add([]byte(epollFdinfo))
	f.Add([]byte("pos:\t0\nflags:\t02\ntfd:        9 events:       19 data: 74253d2500000009\n"))
	f.Add([]byte("inotify wd:1 ino:3c4a3 sdev:fe00000 mask:fff\nPid:\t1\n"))
	f.Add([]byte("tfd: 1 events: 1 data: 1 pos:1 ino:1 sdev:1 later:7\n"))
	f.Add([]byte("tfd: 1 events: 1 data: 1 pos:1\n"))
	f.Add([]byte("\n\n:\n::\ntfd:\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fi, err := ParseFdinfo(b)
		if err != nil {
			var ee *epoll.Error
			var se *SyntaxError
			if !errors.As(err, &ee) || ee.Call != "parse fdinfo" || !errors.As(err, &se) || se.Line < 1 {
				t.Fatalf("error %v (%T) is not an *epoll.Error with a *SyntaxError", err, err)
			}
			return
		}
		var back strings.Builder
		for _, r := range fi.Registrations {
			if r.Fd < 0 || (!r.HasFile && (r.Pos != 0 || r.Ino != 0 || r.Dev != Dev{})) {
				t.Fatalf("accepted an impossible registration %+v", r)
			}
			back.WriteString(kernelLine(r))
		}
		again, err := ParseFdinfo([]byte(back.String()))
		if err != nil {
			t.Fatalf("kernel text of accepted registrations does not parse: %v\n%s", err, back.String())
		}
		if len(again.Registrations) != len(fi.Registrations) {
			t.Fatalf("%d registrations, printed and parsed again %d", len(fi.Registrations), len(again.Registrations))
		}
		for i, r := range again.Registrations {
			if r != fi.Registrations[i] {
				t.Fatalf("registration %d: %+v, printed and parsed again %+v", i, fi.Registrations[i], r)
			}
		}
	})
}

// FuzzParseNet: ParseNet never panics on any table, every error is an
// *epoll.Error naming the table with a *SyntaxError, and every socket it
// accepts from an IP table has addresses that parse as address:port.
func FuzzParseNet(f *testing.F) {
	for i, text := range []string{tcpTable, tcp6Table, udpTable, udp6Table, unixTable, netlinkTable} {
		f.Add(uint8(i), []byte(text))
	}
	f.Add(uint8(8), []byte("00000000d8dc3151: 00000003 00000000 00000000 0001 03    62   \n"))
	f.Add(uint8(0), []byte("   0: 0100007F:B94D 00000000:0000 FF 0:0 0:0 0 0 0 1\n"))
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		table := NetTables[int(which)%len(NetTables)]
		socks, err := ParseNet(table, b)
		if err != nil {
			var ee *epoll.Error
			var se *SyntaxError
			if !errors.As(err, &ee) || ee.Call != "parse /proc/net/"+table || !errors.As(err, &se) || se.Line < 1 {
				t.Fatalf("error %v (%T) is not an *epoll.Error of the table with a *SyntaxError", err, err)
			}
			return
		}
		if len(socks) > strings.Count(string(b), "\n")+1 {
			t.Fatalf("%d sockets from %d lines", len(socks), strings.Count(string(b), "\n")+1)
		}
		for _, s := range socks {
			if s.Proto != table || s.String() == "" {
				t.Fatalf("socket %+v from table %s", s, table)
			}
			if table == "unix" || table == "netlink" {
				continue
			}
			if _, err := netip.ParseAddrPort(s.Local); err != nil {
				t.Fatalf("local address %q: %v", s.Local, err)
			}
			if _, err := netip.ParseAddrPort(s.Peer); s.Peer != "" && err != nil {
				t.Fatalf("peer address %q: %v", s.Peer, err)
			}
		}
	})
}
