package epoll

import (
	"errors"
	"testing"

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
// and an argument error is always one of the documented errnos.
func FuzzCtlArgs(f *testing.F) {
	f.Add(uint8(0), int32(0), uint32(In))
	f.Add(uint8(1), int32(-1), uint32(Edge|OneShot))
	f.Add(uint8(2), int32(3), uint32(Exclusive|OneShot))
	f.Add(uint8(0), int32(1), uint32(1<<20))
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
	f.Fuzz(func(t *testing.T, op uint8, fd int32, ev uint32) {
		// Only the eventfd and invalid numbers: fuzzing must not register
		// the test binary's own descriptors.
		target := efd
		if fd < 0 {
			target = int(fd)
		} else if fd%7 == 6 {
			target = 1 << 20 // surely not open
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
