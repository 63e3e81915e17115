package epoll

import (
	"errors"
	"math"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

func TestEventHasKernelLayout(t *testing.T) {
	want := uintptr(16)
	if runtime.GOARCH == "amd64" || runtime.GOARCH == "386" {
		want = 12 // struct epoll_event is __attribute__((packed)) there
	}
	if got := unsafe.Sizeof(Event{}); got != want {
		t.Fatalf("sizeof(Event) = %d, want %d on %s", got, want, runtime.GOARCH)
	}
	if got := unsafe.Sizeof(unix.EpollEvent{}); got != want {
		t.Fatalf("x/sys EpollEvent is %d bytes, Event %d: layouts disagree", got, want)
	}
	if off := unsafe.Offsetof(Event{}.Events); off != 0 {
		t.Fatalf("Events at offset %d, want 0", off)
	}
}

func TestEventConstantsMatchKernel(t *testing.T) {
	for _, c := range []struct {
		ours Events
		sys  int64
	}{
		{In, unix.EPOLLIN}, {Pri, unix.EPOLLPRI}, {Out, unix.EPOLLOUT}, {Err, unix.EPOLLERR},
		{Hup, unix.EPOLLHUP}, {RDHup, unix.EPOLLRDHUP}, {Exclusive, unix.EPOLLEXCLUSIVE},
		{Wakeup, unix.EPOLLWAKEUP}, {OneShot, unix.EPOLLONESHOT}, {RDNorm, unix.EPOLLRDNORM},
		{RDBand, unix.EPOLLRDBAND}, {WRNorm, unix.EPOLLWRNORM}, {WRBand, unix.EPOLLWRBAND},
		{Msg, unix.EPOLLMSG},
	} {
		if uint32(c.ours) != uint32(c.sys) {
			t.Errorf("%v = %#x, kernel says %#x", c.ours, uint32(c.ours), uint32(c.sys))
		}
	}
	// unix.EPOLLET is negative on amd64; its bit pattern is still 1<<31.
	if uint32(Edge) != uint32(int64(unix.EPOLLET)&0xffffffff) || Edge != 1<<31 {
		t.Errorf("Edge = %#x, want 0x80000000", uint32(Edge))
	}
}

func TestEventsStringNamesEveryBit(t *testing.T) {
	for _, c := range []struct {
		e    Events
		want string
	}{
		{In | Out | Edge, "IN|OUT|ET"},
		{0, "0"},
		{In, "IN"},
		{OneShot | Exclusive, "EXCLUSIVE|ONESHOT"},
		{Err | Hup | RDHup, "ERR|HUP|RDHUP"},
		{In | 1<<20, "IN|0x100000"},
		{1 << 11, "0x800"},
	} {
		if got := c.e.String(); got != c.want {
			t.Errorf("Events(%#x).String() = %q, want %q", uint32(c.e), got, c.want)
		}
	}
}

func TestParseEventsInvertsString(t *testing.T) {
	for _, e := range []Events{In, In | Out | Edge, interestMask, Err | Hup | 1<<20, 1 << 11} {
		got, err := parseEvents(e.String())
		if err != nil || got != e {
			t.Errorf("parseEvents(%q) = %v, %v; want %v", e.String(), got, err, e)
		}
	}
	got, err := parseEvents(" epollin | EPOLLOUT|edge|0x100000 ")
	if err != nil || got != In|Out|Edge|1<<20 {
		t.Errorf("parseEvents with prefixes and spaces = %v, %v", got, err)
	}
	for _, bad := range []string{"", "IN|BOGUS", "IN||OUT", "0x1ffffffff"} {
		if _, err := parseEvents(bad); err == nil {
			t.Errorf("parseEvents(%q) succeeded, want an error", bad)
		}
	}
}

func TestDataRoundTripsAllBits(t *testing.T) {
	ep := newInstance(t)
	efd := fdtest.Eventfd(t)
	for _, d := range []uint64{0, 1, math.MaxUint32, 1 << 32, 0xdeadbeefcafebabe, math.MaxUint64 - 1} {
		if err := ep.Add(efd, In, d); err != nil {
			t.Fatal(err)
		}
		fdtest.Signal(t, efd)
		evs := make([]Event, 4)
		n, err := ep.Wait(evs, time.Second)
		if err != nil || n != 1 {
			t.Fatalf("Wait = %d, %v", n, err)
		}
		if got := evs[0].Data(); got != d {
			t.Errorf("data %#x came back as %#x", d, got)
		}
		if evs[0].Events != In {
			t.Errorf("events = %v, want IN", evs[0].Events)
		}
		fdtest.Drain(efd)
		if err := ep.Delete(efd); err != nil {
			t.Fatal(err)
		}
	}
	var e Event
	e.SetData(0x0102030405060708)
	if e.Data() != 0x0102030405060708 {
		t.Errorf("SetData/Data lost bits: %#x", e.Data())
	}
}

func TestErrorNamesCallAndKeepsErrno(t *testing.T) {
	ep, efd := watching(t, In, 0)
	err := ep.Add(efd, In, 0)
	if !errors.Is(err, unix.EEXIST) {
		t.Fatalf("second Add = %v, want EEXIST", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Call != "epoll_ctl(ADD)" || e.Fd != efd {
		t.Fatalf("error %#v does not name the call and fd", err)
	}
	if want := "epoll: epoll_ctl(ADD) fd "; len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
		t.Errorf("message %q", err.Error())
	}
}
