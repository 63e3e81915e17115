package epollinfo

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/eventpoll/eventpoll/epoll"
	"golang.org/x/sys/unix"
)

// The tables below are what Linux 6.18 printed on amd64 (little-endian: the
// bytes of each address word are reversed), trailing blanks included.
const (
	tcpTable = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     
   0: 0100007F:B94D 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 81464 1 0000000075ad7f9f 100 0 0 10 0                     
   2: 0100007F:B94D 0100007F:E02E 01 00000000:00000000 00:00000000 00000000     0        0 81466 1 0000000072015ce9 20 0 0 10 -1                     
   3: 020200C0:9E6A 507100CB:01BB 06 00000000:00000000 03:00000020 00000000     0        0 0 3 0000000018769c8c                                      
`
	tcp6Table = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:CC01 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 81467 1 00000000139a1a24 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 81480 1 00000000139a1a24 100 0 0 10 0
`
	udpTable = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            
10237: 0100007F:81C9 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 81468 2 000000005b2045bc 0         
10238: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 81490 2 000000005b2045bc 0         
`
	udp6Table = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  342: 00000000000000000000000000000000:DB22 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 81469 2 00000000a3f273fa 0
`
	unixTable = `Num       RefCount Protocol Flags    Type St Inode Path
00000000d8dc3151: 00000003 00000000 00000000 0001 03    62
00000000bb809f71: 00000002 00000000 00010000 0001 01 81470 /tmp/my sock
00000000f6bd617d: 00000003 00000000 00000000 0005 03 81472
00000000d7d869f0: 00000002 00000000 00000000 0002 01 81473 /run/systemd/notify
00000000579ad907: 00000002 00000000 00000000 0001 01 81471 @abstract
`
	netlinkTable = `sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode
00000000021d5131 0   22251      00000000 0        0        0     2        0        81474   
00000000c8b80996 15  0          00000000 0        0        0     2        0        8       
00000000c8b80997 99  0          00000000 0        0        0     2        0        9       
`
)

func TestParseNetReadsTheKernelsTables(t *testing.T) {
	if !littleEndian() {
		t.Skip("the canned tables were printed by a little-endian machine")
	}
	cases := []struct {
		table, text string
		want        []string // Socket.String of each, then "=ino"
	}{
		{"tcp", tcpTable, []string{
			"tcp 127.0.0.1:47437 LISTEN =81464",
			"tcp 127.0.0.1:47437 -> 127.0.0.1:57390 ESTABLISHED =81466",
			"tcp 192.0.2.2:40554 -> 203.0.113.80:443 TIME_WAIT =0",
		}},
		{"tcp6", tcp6Table, []string{
			"tcp6 [::1]:52225 LISTEN =81467",
			"tcp6 [::ffff:127.0.0.1]:8080 -> [::ffff:127.0.0.1]:54321 ESTABLISHED =81480",
		}},
		{"udp", udpTable, []string{"udp 127.0.0.1:33225 -> 127.0.0.1:53 =81468", "udp 0.0.0.0:68 =81490"}},
		{"udp6", udp6Table, []string{"udp6 [::]:56098 =81469"}},
		{"unix", unixTable, []string{
			"unix STREAM (unnamed) CONNECTED =62",
			"unix STREAM /tmp/my sock LISTEN =81470",
			"unix SEQPACKET (unnamed) CONNECTED =81472",
			"unix DGRAM /run/systemd/notify UNCONNECTED =81473",
			"unix STREAM @abstract UNCONNECTED =81471",
		}},
		{"netlink", netlinkTable, []string{
			"netlink ROUTE portid 22251 =81474",
			"netlink KOBJECT_UEVENT portid 0 =8",
			"netlink PROTO_99 portid 0 =9",
		}},
	}
	for _, c := range cases {
		socks, err := ParseNet(c.table, []byte(c.text))
		if err != nil {
			t.Errorf("%s: %v", c.table, err)
			continue
		}
		var got []string
		for _, s := range socks {
			if s.Proto != c.table {
				t.Errorf("%s: socket %+v has Proto %q", c.table, s, s.Proto)
			}
			got = append(got, s.String()+" ="+strconv.FormatUint(s.Ino, 10))
		}
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", c.table, got, c.want)
		}
	}
}

func TestParseNetRefusesMalformedLinesNamingTheLineAndCause(t *testing.T) {
	cases := []struct{ table, text, why string }{
		{"tcp", "   0: 0100007F:B94D 00000000:0000 0A\n", "want at least 10 columns, have 4"},
		{"tcp", "   0: 0100007F 00000000:0000 0A 0:0 0:0 0 0 0 1\n", `address "0100007F" is not HEX:PORT with 8 or 32 hex digits`},
		{"tcp", "   0: 0100007G:B94D 00000000:0000 0A 0:0 0:0 0 0 0 1\n", `address "0100007G:B94D" is not hexadecimal`},
		{"tcp6", "   0: 0100007F0:B94D 00000000:0000 0A 0:0 0:0 0 0 0 1\n", `address "0100007F0:B94D" is not HEX:PORT with 8 or 32 hex digits`},
		{"udp", "   0: 0100007F:1B94D 00000000:0000 0A 0:0 0:0 0 0 0 1\n", `port "1B94D" is out of range`},
		{"udp", "   0: 0100007F:B94D 00000000:0000 0X 0:0 0:0 0 0 0 1\n", `st "0X" is not a hexadecimal number`},
		{"raw", "   0: 0100007F:B94D 00000000:0000 0A 0:0 0:0 0 0 0 -1\n", `inode "-1" is not a decimal number`},
		{"unix", "00000000d8dc3151: 00000003 00000000 00000000 0001\n", "want at least 7 columns, have 5"},
		{"unix", "00000000d8dc3151: 00000003 00000000 0000000G 0001 03 62\n", `flags "0000000G" is not a hexadecimal number`},
		{"unix", "00000000d8dc3151: 00000003 00000000 00000000 0001 03 x62\n", `inode "x62" is not a decimal number`},
		{"netlink", "00000000021d5131 0 22251 00000000 0 0 0 2 0\n", "want at least 10 columns, have 9"},
		{"netlink", "00000000021d5131 x 22251 00000000 0 0 0 2 0 1\n", `eth "x" is not a decimal number`},
	}
	for _, c := range cases {
		socks, err := ParseNet(c.table, []byte(c.text))
		var ee *epoll.Error
		var se *SyntaxError
		if !errors.As(err, &ee) || ee.Call != "parse /proc/net/"+c.table || !errors.As(err, &se) {
			t.Errorf("ParseNet(%s, %q) = %v, %v; want an *epoll.Error of its call with a *SyntaxError", c.table, c.text, socks, err)
			continue
		}
		if !strings.HasPrefix(se.Why, c.why) || se.Line != 1 {
			t.Errorf("ParseNet(%s, %q): %v; want line 1, why %q", c.table, c.text, err, c.why)
		}
	}
}

func TestParseNetRefusesATableItDoesNotKnow(t *testing.T) {
	_, err := ParseNet("sctp", []byte("x\n"))
	if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), `unknown table "sctp"`) {
		t.Fatalf("ParseNet(sctp) = %v, want EINVAL naming the table", err)
	}
}

func littleEndian() bool { return binary.NativeEndian.Uint16([]byte{1, 0}) == 1 }
