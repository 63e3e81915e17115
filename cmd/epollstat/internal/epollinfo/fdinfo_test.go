package epollinfo

import (
	"errors"
	"strings"
	"testing"

	"github.com/eventpoll/eventpoll/epoll"
	"golang.org/x/sys/unix"
)

// epollFdinfo is the fdinfo of an epoll descriptor on Linux 6.18: an
// instance watching another instance, two sockets, a pipe and two eventfds.
const epollFdinfo = `pos:	0
flags:	02000002
mnt_id:	17
ino:	26
tfd:       11 events: 80000019 data:                b  pos:0 ino:1a sdev:10
tfd:        8 events: 80000019 data:                8  pos:0 ino:fd62 sdev:9
tfd:        9 events: 80000019 data: ffffffffffffffff  pos:0 ino:fd63 sdev:9
tfd:        5 events: 50000019 data:                5  pos:0 ino:1a sdev:10
tfd:        6 events: 40000000 data:                6  pos:0 ino:fd61 sdev:f
tfd:        4 events:       1d data: 7fffffff00000004  pos:-1 ino:3c4a3 sdev:fe00000
`

func TestParseFdinfoReadsEveryRegistrationOfLinux413AndLater(t *testing.T) {
	f, err := ParseFdinfo([]byte(epollFdinfo))
	if err != nil {
		t.Fatal(err)
	}
	if f.Pos != 0 || f.Flags != 02000002 || f.MntID != 17 || f.Ino != 26 || len(f.Fields) != 0 {
		t.Errorf("header = pos %d flags %o mnt_id %d ino %d fields %v", f.Pos, f.Flags, f.MntID, f.Ino, f.Fields)
	}
	want := []Registration{
		{Fd: 11, Events: epoll.In | epoll.Err | epoll.Hup | epoll.Edge, Data: 0xb, HasFile: true, Ino: 0x1a, Dev: Dev{0, 16}},
		{Fd: 8, Events: epoll.In | epoll.Err | epoll.Hup | epoll.Edge, Data: 8, HasFile: true, Ino: 0xfd62, Dev: Dev{0, 9}},
		{Fd: 9, Events: epoll.In | epoll.Err | epoll.Hup | epoll.Edge, Data: 1<<64 - 1, HasFile: true, Ino: 0xfd63, Dev: Dev{0, 9}},
		{Fd: 5, Events: epoll.In | epoll.Err | epoll.Hup | epoll.OneShot | epoll.Exclusive, Data: 5, HasFile: true, Ino: 0x1a, Dev: Dev{0, 16}},
		{Fd: 6, Events: epoll.OneShot, Data: 6, HasFile: true, Ino: 0xfd61, Dev: Dev{0, 15}},
		{Fd: 4, Events: epoll.In | epoll.Out | epoll.Err | epoll.Hup, Data: 0x7fffffff00000004, HasFile: true, Pos: -1, Ino: 0x3c4a3, Dev: Dev{254, 0}},
	}
	if len(f.Registrations) != len(want) {
		t.Fatalf("%d registrations, want %d: %+v", len(f.Registrations), len(want), f.Registrations)
	}
	for i, r := range f.Registrations {
		if r != want[i] {
			t.Errorf("registration %d = %+v\nwant %+v", i, r, want[i])
		}
	}
}

func TestParseFdinfoReadsRegistrationsOfKernelsBefore413(t *testing.T) {
	// The example of proc_pid_fdinfo(5): Linux 3.8 to 4.12 end the line
	// after data, and Linux before 3.15 print no mnt_id.
	const old = "pos:\t0\nflags:\t02\ntfd:        9 events:       19 data: 74253d2500000009\n" +
		"tfd:        7 events:       19 data: 74253d2500000007\n"
	f, err := ParseFdinfo([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	if f.MntID != -1 || f.Ino != 0 {
		t.Errorf("mnt_id %d ino %d, want -1 and 0 for fields the kernel did not print", f.MntID, f.Ino)
	}
	want := []Registration{
		{Fd: 9, Events: epoll.In | epoll.Err | epoll.Hup, Data: 0x74253d2500000009},
		{Fd: 7, Events: epoll.In | epoll.Err | epoll.Hup, Data: 0x74253d2500000007},
	}
	if len(f.Registrations) != 2 || f.Registrations[0] != want[0] || f.Registrations[1] != want[1] {
		t.Errorf("registrations = %+v, want %+v", f.Registrations, want)
	}
}

func TestParseFdinfoKeepsTheFieldsOfOtherFiles(t *testing.T) {
	cases := []struct {
		name, text, key, value string
		count                  int
	}{
		{"pidfd", "pos:\t0\nflags:\t02000002\nmnt_id:\t4\nino:\t22424\nPid:\t22423\nNSpid:\t22423\n", "Pid", "22423", 1},
		{"timerfd", "pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t26\nclockid: 1\nticks: 0\nsettime flags: 00\nit_value: (0, 0)\nit_interval: (0, 0)\n", "clockid", "1", 1},
		{"signalfd", "pos:\t0\nflags:\t02\nmnt_id:\t17\nino:\t26\nsigmask:\t0000000000004002\n", "sigmask", "0000000000004002", 1},
		{"inotify", "pos:\t0\nflags:\t00\nmnt_id:\t17\nino:\t26\n" +
			"inotify wd:1 ino:3c4a3 sdev:fe00000 mask:fff ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:a3c4030000000000\n" +
			"inotify wd:2 ino:3c4a4 sdev:fe00000 mask:fff ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:a4c4030000000000\n",
			"inotify wd", "1 ino:3c4a3 sdev:fe00000 mask:fff ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:a3c4030000000000", 2},
		{"eventfd", "pos:\t0\nflags:\t02\nmnt_id:\t17\nino:\t26\neventfd-count:                0\neventfd-id: 153\neventfd-semaphore: 0\n", "eventfd-count", "0", 1},
		{"line without a colon", "pos:\t0\nPollList\n", "PollList", "", 1},
	}
	for _, c := range cases {
		f, err := ParseFdinfo([]byte(c.text))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if v, ok := f.Field(c.key); !ok || v != c.value || f.Count(c.key) != c.count {
			t.Errorf("%s: Field(%q) = %q, %v, count %d; want %q, %d", c.name, c.key, v, ok, f.Count(c.key), c.value, c.count)
		}
		if len(f.Registrations) != 0 {
			t.Errorf("%s: registrations %+v in a file that is not epoll", c.name, f.Registrations)
		}
	}
	if f, err := ParseFdinfo(nil); err != nil || len(f.Fields) != 0 || f.MntID != -1 {
		t.Errorf("empty input: %+v, %v; want no fields, no error", f, err)
	}
}

func TestParseFdinfoRefusesMalformedLinesNamingTheLineAndCause(t *testing.T) {
	cases := []struct{ text, why string }{
		{"pos:\tx\n", `pos "x" is not a decimal number`},
		{"pos:\t0\nflags:\t9\n", `flags "9" is not an octal number`},
		{"mnt_id:\t99999999999\n", `mnt_id "99999999999" is out of range`},
		{"ino:\t-1\n", `ino "-1" is not a decimal number`},
		{"tfd: 5\n", `want "tfd: N events: HEX data: HEX"`},
		{"tfd: 5 events: 19 data:\n", `want "tfd: N events: HEX data: HEX"`},
		{"tfd: 5 event: 19 data: 5\n", `want "tfd: N events: HEX data: HEX"`},
		{"tfd: -5 events: 19 data: 5\n", `tfd -5 is negative`},
		{"tfd: 5x events: 19 data: 5\n", `tfd "5x" is not a decimal number`},
		{"tfd: 3000000000 events: 19 data: 5\n", `tfd "3000000000" is out of range`},
		{"tfd: 5 events: 1ffffffff data: 5\n", `events "1ffffffff" is out of range`},
		{"tfd: 5 events: 19 data: 1ffffffffffffffff\n", `data "1ffffffffffffffff" is out of range`},
		{"tfd: 5 events: 19 data: zz\n", `data "zz" is not a hexadecimal number`},
		{"tfd: 5 events: 19 data: 5 pos:0 ino:1a\n", `pos, ino and sdev come together`},
		{"tfd: 5 events: 19 data: 5 pos:0 ino:1a sdev:g\n", `sdev "g" is not a hexadecimal number`},
		{"tfd: 5 events: 19 data: 5 pos:0 ino:1a sdev:10 junk\n", `word "junk" is not key:value`},
	}
	for _, c := range cases {
		f, err := ParseFdinfo([]byte(c.text))
		if err == nil {
			t.Errorf("ParseFdinfo(%q) = %+v, want an error", c.text, f)
			continue
		}
		var ee *epoll.Error
		var se *SyntaxError
		if !errors.As(err, &ee) || ee.Call != "parse fdinfo" || !errors.As(err, &se) {
			t.Errorf("ParseFdinfo(%q) error %v (%T) is not an *epoll.Error of \"parse fdinfo\" with a *SyntaxError", c.text, err, err)
			continue
		}
		lines := strings.Split(strings.TrimSuffix(c.text, "\n"), "\n")
		if se.Why != c.why && !strings.HasPrefix(se.Why, c.why) || se.Line != len(lines) || se.Text != lines[len(lines)-1] {
			t.Errorf("ParseFdinfo(%q): %v; want line %d, why %q", c.text, err, len(lines), c.why)
		}
	}
}

func TestParseFdinfoCutsTheCopyOfAHugeBadLine(t *testing.T) {
	bad := "tfd: " + strings.Repeat("9", 1<<20)
	_, err := ParseFdinfo([]byte(bad))
	var se *SyntaxError
	if !errors.As(err, &se) || len(se.Text) > maxText || len(err.Error()) > 300 {
		t.Fatalf("error for a 1 MB line is %d bytes: %.200v", len(err.Error()), err)
	}
}

func TestDisarmedIsAOneShotRegistrationThatFired(t *testing.T) {
	cases := []struct {
		ev   epoll.Events
		want bool
	}{
		{epoll.OneShot, true},
		{epoll.OneShot | epoll.Edge, true},
		{epoll.OneShot | epoll.In | epoll.Err | epoll.Hup, false},
		{epoll.Edge, false},
		{0, false},
	}
	for _, c := range cases {
		if got := (Registration{Events: c.ev}).Disarmed(); got != c.want {
			t.Errorf("Disarmed(%v) = %v, want %v", c.ev, got, c.want)
		}
	}
}

func TestDevFromKernelAndFromStatAgree(t *testing.T) {
	// fdinfo prints MKDEV (major<<20 | minor); stat(2) gives
	// new_encode_dev, which splits the minor around the major.
	cases := []struct {
		sdev         uint64
		major, minor uint32
	}{
		{0x10, 0, 16},
		{0xfe00000, 254, 0},
		{0x80012c, 8, 300},
		{0xfff00000 | 0xfffff, 0xfff, 0xfffff},
	}
	for _, c := range cases {
		want := Dev{c.major, c.minor}
		if got := DevFromKernel(c.sdev); got != want {
			t.Errorf("DevFromKernel(%#x) = %v, want %v", c.sdev, got, want)
		}
		if got := DevFromStat(unix.Mkdev(c.major, c.minor)); got != want {
			t.Errorf("DevFromStat(Mkdev(%d, %d)) = %v", c.major, c.minor, got)
		}
	}
	if s := (Dev{254, 3}).String(); s != "254:3" {
		t.Errorf("String = %q, want 254:3", s)
	}
}
