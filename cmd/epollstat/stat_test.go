package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/fdtest"
	"github.com/eventpoll/eventpoll/internal/uring"
	"golang.org/x/sys/unix"
)

// wantCheck is how a healthy registration is matched on this kernel.
func wantCheck(s *Snapshot) string {
	if s.Kcmp != "" {
		return checkInode
	}
	return checkKcmp
}

// target is one file registered by TestEveryKindOfFileIsNamed and what the
// output must say of it.
type target struct {
	fd     int
	ev     epoll.Events
	kind   string
	detail string // Registration.Detail, exactly
}

func TestEveryKindOfFileIsNamed(t *testing.T) {
	fdtest.Check(t)
	ep := newInstance(t)
	pid := os.Getpid()
	var targets []target

	tcp4, p4 := listenTCP4(t)
	targets = append(targets, target{tcp4, epoll.In | epoll.Exclusive, "socket", fmt.Sprintf("tcp 127.0.0.1:%d LISTEN", p4)})

	if tcp6 := socket(t, unix.AF_INET6, unix.SOCK_STREAM); unix.Bind(tcp6, &unix.SockaddrInet6{Addr: [16]byte{15: 1}}) == nil {
		if err := unix.Listen(tcp6, 8); err != nil {
			t.Fatal(err)
		}
		targets = append(targets, target{tcp6, epoll.In, "socket", fmt.Sprintf("tcp6 [::1]:%d LISTEN", port(t, tcp6))})
	} else {
		t.Log("no IPv6 loopback: tcp6 not checked")
	}

	udpA, udpB := socket(t, unix.AF_INET, unix.SOCK_DGRAM), socket(t, unix.AF_INET, unix.SOCK_DGRAM)
	for _, fd := range []int{udpA, udpB} {
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Connect(udpA, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port(t, udpB)}); err != nil {
		t.Fatal(err)
	}
	targets = append(targets, target{udpA, epoll.In | epoll.Out | epoll.Edge, "socket",
		fmt.Sprintf("udp 127.0.0.1:%d -> 127.0.0.1:%d", port(t, udpA), port(t, udpB))})

	path := filepath.Join(t.TempDir(), "epollstat.sock")
	ux := socket(t, unix.AF_UNIX, unix.SOCK_STREAM)
	if err := unix.Bind(ux, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(ux, 8); err != nil {
		t.Fatal(err)
	}
	targets = append(targets, target{ux, epoll.In, "socket", "unix STREAM " + path + " LISTEN"})

	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, pair[0])
	closeLater(t, pair[1])
	targets = append(targets, target{pair[0], epoll.In | epoll.RDHup, "socket", "unix SEQPACKET (unnamed) CONNECTED"})

	pr, _ := fdtest.Pipe(t)
	targets = append(targets, target{pr, epoll.In, "pipe", ""})
	targets = append(targets, target{fdtest.Eventfd(t), epoll.In | epoll.OneShot, "eventfd", ""})

	tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC|unix.TFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, tfd)
	if err := unix.TimerfdSettime(tfd, 0, &unix.ItimerSpec{Value: unix.Timespec{Sec: 3600}}, nil); err != nil {
		t.Fatal(err)
	}
	targets = append(targets, target{tfd, epoll.In, "timerfd", "CLOCK_MONOTONIC, armed"})

	var mask unix.Sigset_t
	mask.Val[0] = 1<<(unix.SIGUSR2-1) | 1<<(unix.SIGWINCH-1)
	sfd, err := unix.Signalfd(-1, &mask, unix.SFD_CLOEXEC|unix.SFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, sfd)
	targets = append(targets, target{sfd, epoll.In, "signalfd", "SIGUSR2,SIGWINCH"})

	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, ifd)
	if _, err := unix.InotifyAddWatch(ifd, t.TempDir(), unix.IN_CREATE); err != nil {
		t.Fatal(err)
	}
	targets = append(targets, target{ifd, epoll.In, "inotify", "1 watch"})

	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeLater(t, pidfd)
	targets = append(targets, target{pidfd, epoll.In, "pidfd", "pid " + strconv.Itoa(pid)})

	if err := uring.Supported(); err == nil {
		r, err := uring.New(8, uring.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		targets = append(targets, target{r.Fd(), epoll.In, "io_uring", ""})
	} else {
		t.Logf("io_uring not checked: %v", err)
	}

	for _, tg := range targets {
		add(t, ep, tg.fd, tg.ev, uint64(0xabc000+tg.fd))
	}
	s := look(t, config{})
	in := instance(t, s, pid, ep.Fd())
	if len(in.Registrations) != len(targets) {
		t.Errorf("%d registrations, want %d", len(in.Registrations), len(targets))
	}
	out := text(t, s, false)
	for _, tg := range targets {
		r := registration(t, in, tg.fd)
		wantEv := (tg.ev | epoll.Err | epoll.Hup).String()
		if r.Kind != tg.kind || r.Detail != tg.detail || r.Events != wantEv || r.Data != fmt.Sprintf("%#x", 0xabc000+tg.fd) {
			t.Errorf("fd %d: kind %q detail %q events %s data %s\nwant kind %q detail %q events %s data %#x",
				tg.fd, r.Kind, r.Detail, r.Events, r.Data, tg.kind, tg.detail, wantEv, 0xabc000+tg.fd)
		}
		if r.Stale != nil || r.Check != wantCheck(s) {
			t.Errorf("fd %d (%s): stale %+v, check %q; want not stale, check %q", tg.fd, tg.kind, r.Stale, r.Check, wantCheck(s))
		}
		l := line(t, out, tg.fd)
		for _, part := range []string{wantEv, "data " + r.Data, tg.kind, tg.detail} {
			if !strings.Contains(l, part) {
				t.Errorf("text line of fd %d lacks %q: %q", tg.fd, part, l)
			}
		}
	}
	if t.Failed() {
		t.Logf("text output:\n%s", out)
	}
}

func TestSocketsAreDescribedInJSONWithTheirAddresses(t *testing.T) {
	fdtest.Check(t)
	ep := newInstance(t)
	ln, p := listenTCP4(t)
	add(t, ep, ln, epoll.In, 7)
	s := look(t, config{})
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Processes []struct {
			Pid       int `json:"pid"`
			Instances []struct {
				Fd            int                          `json:"fd"`
				Registrations []map[string]json.RawMessage `json:"registrations"`
			} `json:"instances"`
		} `json:"processes"`
		Watches    []map[string]any `json:"watches"`
		Unreadable []any            `json:"unreadable"`
		Stale      *int             `json:"stale"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Unreadable == nil || doc.Stale == nil || len(doc.Watches) == 0 {
		t.Fatalf("document lacks unreadable ([]), stale or watches:\n%s", b)
	}
	var reg map[string]json.RawMessage
	for _, in := range doc.Processes[0].Instances {
		if in.Fd == ep.Fd() && len(in.Registrations) == 1 {
			reg = in.Registrations[0]
		}
	}
	if reg == nil {
		t.Fatalf("instance %d not in the document:\n%s", ep.Fd(), b)
	}
	want := map[string]string{
		"tfd": strconv.Itoa(ln), "events": `"IN|ERR|HUP"`, "events_mask": "25", "data": `"0x7"`,
		"disarmed": "false", "kind": `"socket"`, "stale": "null",
		"socket": fmt.Sprintf(`{"proto":"tcp","local":"127.0.0.1:%d","state":"LISTEN"}`, p),
	}
	for k, v := range want {
		if string(reg[k]) != v {
			t.Errorf("%q = %s, want %s", k, reg[k], v)
		}
	}
	for _, k := range []string{"ino", "dev", "target", "check"} {
		if _, ok := reg[k]; !ok {
			t.Errorf("registration lacks %q: %s", k, b)
		}
	}
}

func TestNestedInstancesAreShownAsATree(t *testing.T) {
	fdtest.Check(t)
	outer, middle, inner := newInstance(t), newInstance(t), newInstance(t)
	e1, e2, e3 := fdtest.Eventfd(t), fdtest.Eventfd(t), fdtest.Eventfd(t)
	add(t, inner, e3, epoll.In, 3)
	add(t, middle, inner.Fd(), epoll.In, 2)
	add(t, middle, e2, epoll.In, 2)
	add(t, outer, middle.Fd(), epoll.In, 1)
	add(t, outer, e1, epoll.In, 1)

	s := look(t, config{})
	pid := os.Getpid()
	o, m, i := instance(t, s, pid, outer.Fd()), instance(t, s, pid, middle.Fd()), instance(t, s, pid, inner.Fd())
	if o.Nested || !m.Nested || !i.Nested {
		t.Errorf("nested: outer %v middle %v inner %v; want false true true", o.Nested, m.Nested, i.Nested)
	}
	r := registration(t, o, middle.Fd())
	if r.Kind != "epoll" || r.Nested == nil || *r.Nested != middle.Fd() || r.Detail != "2 registrations" {
		t.Errorf("outer's registration of the middle instance: kind %q nested %v detail %q", r.Kind, r.Nested, r.Detail)
	}

	out := text(t, s, false)
	header := fmt.Sprintf("pid %d (%s) epoll fd %d: 2 registrations", pid, s.Processes[0].Comm, outer.Fd())
	start := strings.Index(out, header)
	if start < 0 {
		t.Fatalf("no header %q in:\n%s", header, out)
	}
	if strings.Contains(out, fmt.Sprintf("epoll fd %d:", middle.Fd())) || strings.Contains(out, fmt.Sprintf("epoll fd %d:", inner.Fd())) {
		t.Errorf("a nested instance has a block of its own:\n%s", out)
	}
	// The outer block: the middle instance, its two registrations under
	// it (the inner instance and its eventfd one level further), then e1.
	if middle.Fd() > e1 || inner.Fd() > e2 {
		t.Skip("descriptor numbers came out of order; the tree's order is by number")
	}
	block := strings.Split(out[start:], "\n")[1:]
	prefixes := []struct {
		prefix string
		fd     int
	}{{"├─ fd ", middle.Fd()}, {"│  ├─ fd ", inner.Fd()}, {"│  │  └─ fd ", e3}, {"│  └─ fd ", e2}, {"└─ fd ", e1}}
	if len(block) < len(prefixes) {
		t.Fatalf("the block has %d lines:\n%s", len(block), out[start:])
	}
	for k, p := range prefixes {
		if want := p.prefix + strconv.Itoa(p.fd) + " "; !strings.HasPrefix(block[k], want) {
			t.Errorf("tree line %d = %q, want it to start with %q\n%s", k, block[k], want, out[start:])
		}
	}
}

func TestDupedThenClosedRegistrationIsStaleAndNamesTheHolder(t *testing.T) {
	fdtest.Check(t)
	ep := newInstance(t)
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	add(t, ep, efd, epoll.In|epoll.Edge, 0xfeed)
	held := dup(t, efd)
	unix.Close(efd) // the registration outlives the number: the dup holds the file

	s := look(t, config{})
	pid := os.Getpid()
	r := registration(t, instance(t, s, pid, ep.Fd()), efd)
	if r.Stale == nil || r.Stale.Reason != "closed" || len(r.Stale.HeldAs) != 1 || r.Stale.HeldAs[0] != (PidFd{pid, held}) {
		t.Fatalf("stale = %+v; want closed, held as fd %d", r.Stale, held)
	}
	if r.Kind != "eventfd" || r.Target != "anon_inode:[eventfd]" {
		t.Errorf("registered file described as %q %q, want the eventfd seen through fd %d", r.Kind, r.Target, held)
	}
	if s.Stale < 1 {
		t.Errorf("snapshot counts %d stale", s.Stale)
	}
	want := fmt.Sprintf("STALE closed: fd %d is closed, but the registered file is still open as fd %d: it stays registered and its events come with data 0xfeed", efd, held)
	if l := line(t, text(t, s, false), efd); !strings.Contains(l, want) {
		t.Errorf("text line %q lacks %q", l, want)
	}

	// The JSON says the same.
	code, out, _ := runCommand(t, t.Context(), "-json", strconv.Itoa(pid))
	var doc struct {
		Processes []struct {
			Instances []struct {
				Fd            int `json:"fd"`
				Registrations []struct {
					Tfd   int `json:"tfd"`
					Stale *struct {
						Reason string  `json:"reason"`
						Why    string  `json:"why"`
						HeldAs []PidFd `json:"held_as"`
					} `json:"stale"`
				} `json:"registrations"`
			} `json:"instances"`
		} `json:"processes"`
		Stale int `json:"stale"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 1 || doc.Stale < 1 {
		t.Fatalf("-json: exit %d, stale %d, %v", code, doc.Stale, err)
	}
	found := false
	for _, in := range doc.Processes[0].Instances {
		for _, r := range in.Registrations {
			if in.Fd == ep.Fd() && r.Tfd == efd {
				found = r.Stale != nil && r.Stale.Reason == "closed" && len(r.Stale.HeldAs) == 1 &&
					r.Stale.HeldAs[0] == (PidFd{pid, held}) && strings.HasPrefix(r.Stale.Why, fmt.Sprintf("fd %d is closed", efd))
			}
		}
	}
	if !found {
		t.Errorf("-json does not show the registration of fd %d as closed, held as fd %d:\n%s", efd, held, out)
	}

	// -stale prints the instance's header and this line only, and says so
	// in the exit status.
	code, out, errOut := runCommand(t, t.Context(), "-stale", strconv.Itoa(pid))
	if code != 1 || !strings.Contains(out, want) || strings.Contains(out, "registrations in") || errOut != "" {
		t.Errorf("-stale: exit %d, stdout:\n%s\nstderr: %s", code, out, errOut)
	}
	rows, why := 0, 0
	for l := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		switch f := strings.Fields(l); {
		case f[0] == "fd":
			rows++
		case f[0] == "STALE":
			why++
		case !strings.Contains(l, " stale"):
			t.Errorf("-stale printed a line that is neither a stale registration nor its instance: %q", l)
		}
	}
	if rows != 1 || why != 1 {
		t.Errorf("-stale printed %d rows and %d reasons, want 1 and 1:\n%s", rows, why, out)
	}
}

func pipe(t *testing.T) int    { r, _ := fdtest.Pipe(t); return r }
func eventfd(t *testing.T) int { return fdtest.Eventfd(t) }

func TestNumberReusedByAnotherFileIsStale(t *testing.T) {
	fdtest.Check(t)
	pid := os.Getpid()
	for _, c := range []struct {
		name      string
		noKcmp    bool
		other     func(t *testing.T) int
		nowPrefix string
		nowKind   string
		caught    bool // false: inode and device cannot tell these files apart
	}{
		{"by a pipe", false, pipe, "pipe:[", "pipe", true},
		{"by another eventfd", false, eventfd, "anon_inode:[eventfd]", "eventfd", true},
		{"by a pipe, without kcmp", true, pipe, "pipe:[", "pipe", true},
		{"by another eventfd, without kcmp", true, eventfd, "", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ep := newInstance(t)
			efd := fdtest.Eventfd(t)
			add(t, ep, efd, epoll.In, 42)
			held := dup(t, efd)
			dupTo(t, c.other(t), efd) // efd now names another file; the registration stays

			s := look(t, config{noKcmp: c.noKcmp})
			r := registration(t, instance(t, s, pid, ep.Fd()), efd)
			if !c.caught {
				if r.Stale != nil || r.Check != checkInode || s.Kcmp == "" {
					t.Errorf("without kcmp: stale %+v check %q kcmp %q; want not caught, check inode, kcmp off", r.Stale, r.Check, s.Kcmp)
				}
				if out := text(t, s, false); !strings.Contains(out, "kcmp unavailable (turned off)") {
					t.Errorf("the summary does not say kcmp was not used:\n%s", out)
				}
				return
			}
			if r.Stale == nil || r.Stale.Reason != "reused" || !strings.HasPrefix(r.Stale.Now, c.nowPrefix) {
				t.Fatalf("stale = %+v; want reused, now %s...", r.Stale, c.nowPrefix)
			}
			switch {
			case c.noKcmp:
				// Every eventfd is on one inode: the holder cannot be
				// told, and the reason says which descriptors it may be.
				if len(r.Stale.HeldAs) != 0 || !strings.Contains(r.Stale.Why, "without kcmp it cannot be told which of") ||
					!strings.Contains(r.Stale.Why, fmt.Sprintf("fd %d", held)) {
					t.Errorf("without kcmp: held as %v, why %q", r.Stale.HeldAs, r.Stale.Why)
				}
			case len(r.Stale.HeldAs) != 1 || r.Stale.HeldAs[0] != (PidFd{pid, held}) || r.Kind != "eventfd":
				t.Errorf("held as %v kind %q; want fd %d, eventfd", r.Stale.HeldAs, r.Kind, held)
			}
			wantCheck := checkKcmp
			if c.noKcmp {
				wantCheck = checkInode
			}
			if r.Check != wantCheck {
				t.Errorf("check %q, want %q", r.Check, wantCheck)
			}
			want := fmt.Sprintf("STALE reused: fd %d now names another file (%s", efd, c.nowKind)
			if l := line(t, text(t, s, false), efd); !strings.Contains(l, want) {
				t.Errorf("text line %q lacks %q", l, want)
			}
		})
	}
}

func TestRegistrationOfAFileInFlightIsStaleWithNoHolder(t *testing.T) {
	fdtest.Check(t)
	ep := newInstance(t)
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	add(t, ep, efd, epoll.In, 9)
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The message holds the file while it waits in pair[1]'s queue; the
	// descriptors close at the end (pair[1] last, which frees the file).
	closeLater(t, pair[1])
	closeLater(t, pair[0])
	if err := unix.Sendmsg(pair[0], []byte{0}, unix.UnixRights(efd), nil, 0); err != nil {
		t.Fatal(err)
	}
	unix.Close(efd)

	s := look(t, config{})
	r := registration(t, instance(t, s, os.Getpid(), ep.Fd()), efd)
	if r.Stale == nil || r.Stale.Reason != "closed" || len(r.Stale.HeldAs) != 0 || r.Kind != "unknown" {
		t.Fatalf("stale %+v kind %q; want closed, no holder, unknown", r.Stale, r.Kind)
	}
	if !strings.Contains(r.Stale.Why, "the registered file is open elsewhere") {
		t.Errorf("why = %q", r.Stale.Why)
	}
	b, _ := json.Marshal(r.Stale)
	if !strings.Contains(string(b), `"held_as":[]`) {
		t.Errorf("JSON of a stale registration without holders: %s", b)
	}
}

func TestFiredOneShotRegistrationIsShownDisarmed(t *testing.T) {
	fdtest.Check(t)
	ep := newInstance(t)
	efd := fdtest.Eventfd(t)
	add(t, ep, efd, epoll.In|epoll.OneShot, 1)
	fdtest.Signal(t, efd)
	evs := make([]unix.EpollEvent, 1)
	if n, err := unix.EpollWait(ep.Fd(), evs, 5000); n != 1 || err != nil {
		t.Fatalf("epoll_wait = %d, %v", n, err)
	}
	s := look(t, config{})
	r := registration(t, instance(t, s, os.Getpid(), ep.Fd()), efd)
	if !r.Disarmed || r.Events != "ONESHOT" {
		t.Errorf("disarmed %v events %q; want true, ONESHOT", r.Disarmed, r.Events)
	}
	if l := line(t, text(t, s, false), efd); !strings.Contains(l, "ONESHOT (disarmed)") {
		t.Errorf("text line %q does not say disarmed", l)
	}
}

func TestDupOfAnInstanceIsOneInstanceInTheWatchCount(t *testing.T) {
	fdtest.Check(t)
	ep := newInstance(t)
	for range 3 {
		add(t, ep, fdtest.Eventfd(t), epoll.In, 0)
	}
	before := look(t, config{})
	d := dup(t, ep.Fd())
	after := look(t, config{})
	pid := os.Getpid()
	in := instance(t, after, pid, ep.Fd())
	if len(in.SharedWith) != 1 || in.SharedWith[0] != (PidFd{pid, d}) {
		t.Errorf("shared with %v, want fd %d", in.SharedWith, d)
	}
	me := func(s *Snapshot) *WatchUse {
		for _, w := range s.Watches {
			if w.Uid == os.Getuid() {
				return w
			}
		}
		t.Fatal("no watch use for our uid")
		return nil
	}
	b, a := me(before), me(after)
	if a.Instances != b.Instances || a.Registrations != b.Registrations || !a.LowerBound {
		t.Errorf("watches before dup %+v, after %+v; want equal counts, a lower bound (pids named)", b, a)
	}
	if out := text(t, after, false); !strings.Contains(out, fmt.Sprintf("(also fd %d of pid %d)", d, pid)) {
		t.Errorf("text does not say the instance is shared:\n%s", out)
	}
}

func TestRunRefusesBadUsageWithStatus2(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"x"}, {"0"}, {"-watch", "1ms"}, {"-watch", "-1s"}} {
		code, _, errOut := runCommand(t, t.Context(), args...)
		if code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a message", args, code, errOut)
		}
	}
	if code, _, _ := runCommand(t, t.Context(), "-h"); code != 0 {
		t.Errorf("-h: exit %d, want 0", code)
	}
}

func TestNamedProcessThatDoesNotExistIsStatus2(t *testing.T) {
	pid := 1 << 30 // beyond pid_max (at most 2^22)
	code, out, errOut := runCommand(t, t.Context(), strconv.Itoa(pid))
	want := fmt.Sprintf("epollstat: could not read 1 process: no such process: %d\n", pid)
	if code != 2 || errOut != want {
		t.Errorf("exit %d stderr %q stdout %q; want 2, %q", code, errOut, out, want)
	}
	code, out, _ = runCommand(t, t.Context(), "-json", strconv.Itoa(pid))
	var s Snapshot
	if err := json.Unmarshal([]byte(out), &s); err != nil || code != 2 || len(s.Unreadable) != 1 || s.Unreadable[0].Error != "no such process" {
		t.Errorf("-json: exit %d, %v, %+v", code, err, s.Unreadable)
	}
}

func TestWatchLooksAgainUntilCancelled(t *testing.T) {
	fdtest.Check(t)
	ctx, cancel := context.WithTimeout(t.Context(), 450*time.Millisecond)
	defer cancel()
	start := time.Now()
	code, out, _ := runCommand(t, ctx, "-watch", "100ms", strconv.Itoa(os.Getpid()))
	if n := strings.Count(out, "\n# "); code != 0 || n < 1 || time.Since(start) > 10*time.Second {
		t.Errorf("exit %d, %d looks after the first in %v:\n%s", code, n, time.Since(start), out)
	}
}
