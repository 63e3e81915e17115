package server

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// FuzzResolve checks Listen's address parsing: it never panics, refuses
// with an error matching EINVAL, and what it accepts has the family the
// network names. Host names are left out: they would be looked up.
func FuzzResolve(f *testing.F) {
	for _, seed := range [][2]string{
		{"tcp", ":0"}, {"tcp4", "127.0.0.1:80"}, {"tcp6", "[::1]:8080"}, {"tcp4", "[::1]:1"},
		{"tcp6", "127.0.0.1:1"}, {"udp", "0.0.0.0:53"}, {"udp6", "[fe80::1%1]:9"}, {"unix", "/tmp/x"},
		{"unix", "@abstract"}, {"unix", ""}, {"tcp", "1.2.3.4:99999"}, {"sctp", ":1"}, {"tcp", "::1"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, network, addr string) {
		if host, _, err := net.SplitHostPort(addr); err == nil && host != "" {
			if _, err := netip.ParseAddr(host); err != nil {
				return
			}
		}
		ep, err := resolve(network, addr)
		if err != nil {
			if !errors.Is(err, unix.EINVAL) {
				t.Fatalf("resolve(%q, %q): %v; want an error matching EINVAL", network, addr, err)
			}
			return
		}
		switch {
		case strings.HasSuffix(network, "4") && ep.family != unix.AF_INET,
			strings.HasSuffix(network, "6") && (ep.family != unix.AF_INET6 || ep.v6only != 1),
			network == "unix" && ep.family != unix.AF_UNIX:
			t.Fatalf("resolve(%q, %q): family %d, v6only %d", network, addr, ep.family, ep.v6only)
		}
	})
}

// FuzzOptions checks the validation of Listen's options: it never panics,
// refuses with EINVAL, and what it accepts keeps the documented ranges.
func FuzzOptions(f *testing.F) {
	f.Add(2, 0, 64<<10, 1<<20, 1<<20, 256<<10, int64(0), 2048, 32)
	f.Add(0, 9, 10, -1, 5, 6, int64(-1), 70000, 0)
	f.Fuzz(func(t *testing.T, loops, mode, readBuf, readLimit, high, low int, timeout int64, psize, pbatch int) {
		cfg := defaultConfig()
		for _, o := range []Option{
			WithLoops(loops), WithMode(Mode(mode)), WithReadBuffer(readBuf), WithReadLimit(readLimit),
			WithWriteLimit(high, low), WithIdleTimeout(time.Duration(timeout)), WithPacketSize(psize), WithPacketBatch(pbatch),
		} {
			o(&cfg)
		}
		err := cfg.check()
		if err != nil {
			if !errors.Is(err, unix.EINVAL) {
				t.Fatalf("check: %v; want an error matching EINVAL", err)
			}
			return
		}
		if cfg.loops < 1 || cfg.readBuf < 512 || cfg.readLimit < 0 || cfg.writeLow > cfg.writeHigh ||
			cfg.writeLow < 0 || cfg.idle < 0 || cfg.packetSize < 1 || cfg.packetSize > 65535 || cfg.packetBatch < 1 {
			t.Fatalf("check accepted %+v", cfg)
		}
	})
}
