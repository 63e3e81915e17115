package epoll

import (
	"errors"
	"testing"

	"github.com/eventpoll/eventpoll/internal/errs"
	"golang.org/x/sys/unix"
)

// FuzzParseEvents: parseEvents never panics, and what it accepts prints
// back to a string it parses to the same set.
func FuzzParseEvents(f *testing.F) {
	for _, s := range []string{"IN|OUT|ET", "epollin", "0x10|hup", "", "|", "IN||", "0xffffffff", "ONESHOT|EXCLUSIVE"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := parseEvents(s)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Call != "parse events" {
				t.Fatalf("parseEvents(%q) error %v does not name the call", s, err)
			}
			return
		}
		back, err := parseEvents(e.String())
		if err != nil || back != e {
			t.Fatalf("parseEvents(%q) = %v, but String %q parses to %v, %v", s, e, e.String(), back, err)
		}
	})
}

// FuzzCtlArgs: Add, Modify and Delete with arbitrary arguments never panic,
// an argument error is always one of the documented errnos, and a number
// with high bits set is refused with EBADF, never cut to the descriptor in
// its low bits.
func FuzzCtlArgs(f *testing.F) {
	f.Add(uint8(0), int32(0), uint32(In), uint32(0))
	f.Add(uint8(1), int32(-1), uint32(Edge|OneShot), uint32(0))
	f.Add(uint8(2), int32(3), uint32(Exclusive|OneShot), uint32(0))
	f.Add(uint8(0), int32(1), uint32(1<<20), uint32(0))
	f.Add(uint8(2), int32(0), uint32(In), uint32(1))
	f.Add(uint8(0), int32(0), uint32(In), uint32(0xffffffff))
	ep, err := New()
	if err != nil {
		f.Fatal(err)
	}
	defer ep.Close()
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		f.Fatal(err)
	}
	defer unix.Close(efd)
	f.Fuzz(func(t *testing.T, op uint8, fd int32, ev uint32, high uint32) {
		// Only the eventfd and invalid numbers: fuzzing must not register
		// the test binary's own descriptors.
		target := efd
		if fd < 0 {
			target = int(fd)
		} else if fd%7 == 6 {
			target = 1 << 20 // surely not open
		}
		if high != 0 {
			target = int(uint64(high)<<32 | uint64(uint32(target)))
		}
		var err error
		switch op % 3 {
		case 0:
			err = ep.Add(target, Events(ev), uint64(fd))
		case 1:
			err = ep.Modify(target, Events(ev), uint64(fd))
		case 2:
			err = ep.Delete(target)
		}
		// Cmd.Check refuses exactly what the call refuses before the
		// system call, with the same error.
		cmd := Cmd{Op: [...]Op{OpAdd, OpModify, OpDelete}[op%3], Fd: target, Events: Events(ev)}
		if chk := cmd.Check(); chk != nil && (err == nil || err.Error() != chk.Error()) {
			t.Fatalf("op %d fd %#x events %v: Check says %v, the call %v", op%3, target, Events(ev), chk, err)
		}
		if !errs.ValidFd(target) {
			if !errors.Is(err, unix.EBADF) {
				t.Fatalf("op %d fd %#x: %v, want EBADF before any system call", op%3, target, err)
			}
			return
		}
		if err == nil {
			return
		}
		for _, ok := range []error{unix.EINVAL, unix.EBADF, unix.EEXIST, unix.ENOENT} {
			if errors.Is(err, ok) {
				return
			}
		}
		t.Fatalf("op %d fd %d events %v: unexpected error %v", op%3, target, Events(ev), err)
	})
}
