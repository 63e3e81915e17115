package epoll

import (
	"context"
	"errors"
	"testing"
	"time"
	"unsafe"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// fd0Trap puts a fresh epoll instance at descriptor 0 for the test, with a
// ready eventfd registered OneShot, so that any system call made on fd 0 by
// mistake leaves a trace: a wait consumes the one event, an Add registers,
// a Close closes it, an ioctl changes its busy-poll settings, WaitContext
// makes it non-blocking. check fails the test on any such trace. Standard
// input is restored when the test ends.
func fd0Trap(t *testing.T) (check func()) {
	t.Helper()
	trap, err := unix.EpollCreate1(0)
	if err != nil {
		t.Fatal(err)
	}
	fdtest.AtZero(t, trap)
	unix.Close(trap)
	ready, err := unix.Eventfd(1, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(ready) })
	if errno := ctlRaw(0, unix.EPOLL_CTL_ADD, ready, In|OneShot, 77); errno != 0 {
		t.Fatal(errno)
	}
	var before unix.Stat_t
	unix.Fstat(0, &before)
	flags, _ := unix.FcntlInt(0, unix.F_GETFL, 0)
	return func() {
		t.Helper()
		var now unix.Stat_t
		if err := unix.Fstat(0, &now); err != nil || now.Ino != before.Ino || now.Dev != before.Dev {
			t.Fatalf("descriptor 0 was closed or replaced (fstat: %v)", err)
		}
		if f, _ := unix.FcntlInt(0, unix.F_GETFL, 0); f != flags {
			t.Errorf("descriptor 0's flags changed from %#x to %#x", flags, f)
		}
		evs := make([]Event, 4)
		if n, errno := pollRaw(0, evs); n != 1 || errno != 0 || evs[0].Data() != 77 {
			t.Errorf("the trap at fd 0 reports %d events (%v): something waited on it or registered in it", n, errno)
		}
		var kp epollParams
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, 0, eppGet, uintptr(unsafe.Pointer(&kp)))
		if errno == 0 && kp != (epollParams{}) {
			t.Errorf("busy-poll settings of fd 0 changed to %+v", kp)
		}
	}
}

// TestZeroInstanceNeverTouchesFdZero calls every method on the zero
// Instance: each returns an error matching ErrClosed (ErrNotCreated), none
// panics or blocks, and descriptor 0 is left alone.
func TestZeroInstanceNeverTouchesFdZero(t *testing.T) {
	check := fd0Trap(t)
	efd := fdtest.Eventfd(t)
	var ep Instance
	evs := make([]Event, 4)
	calls := map[string]func() error{
		"Add":                   func() error { return ep.Add(efd, In, 1) },
		"Modify":                func() error { return ep.Modify(efd, In, 1) },
		"Delete":                func() error { return ep.Delete(efd) },
		"Wait(0)":               func() error { return second(ep.Wait(evs, 0)) },
		"Wait(-1)":              func() error { return second(ep.Wait(evs, -1)) },
		"PWait":                 func() error { return second(ep.PWait(evs, time.Hour, &unix.Sigset_t{})) },
		"WaitDeadline Monotone": func() error { return second(ep.WaitDeadline(evs, time.Now().Add(time.Hour), Monotonic)) },
		"WaitDeadline Realtime": func() error { return second(ep.WaitDeadline(evs, time.Now().Add(time.Hour), Realtime)) },
		"WaitContext":           func() error { return second(ep.WaitContext(context.Background(), evs)) },
		"Batch":                 func() error { return second(ep.Batch([]Cmd{{Op: OpAdd, Fd: efd, Events: In}})) },
		"BatchAll":              func() error { return second(ep.BatchAll([]Cmd{{Op: OpAdd, Fd: efd, Events: In}})) },
		"SetBusyPoll":           func() error { return ep.SetBusyPoll(BusyPollParams{Usecs: 10}) },
		"BusyPoll":              func() error { _, err := ep.BusyPoll(); return err },
		"Changes.Flush": func() error {
			c := NewChanges(&ep)
			c.Add(efd, In, 1)
			_, err := c.Flush()
			return err
		},
		"Close": ep.Close,
	}
	for name, call := range calls {
		done := make(chan error, 1)
		go func() { done <- call() }()
		err := fdtest.Within(t, done, 5*time.Second, name+" on the zero Instance")
		var e *Error
		if !errors.Is(err, ErrClosed) || !errors.Is(err, ErrNotCreated) || !errors.As(err, &e) || e.Pkg != "epoll" {
			t.Errorf("%s on the zero Instance = %v; want an *Error matching ErrClosed and ErrNotCreated", name, err)
		}
	}
	if fd := ep.Fd(); fd != -1 {
		t.Errorf("Fd of the zero Instance = %d, want -1", fd)
	}
	if b := ep.BatchBackend(); b != BatchAuto {
		t.Errorf("BatchBackend of the zero Instance = %v, want auto (what it was asked for)", b)
	}
	check()
}
