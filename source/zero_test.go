package source

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// eventfdAtZero puts an eventfd holding the count 1 at descriptor 0 for the
// test, restoring the old descriptor 0 after, and returns a check that fails
// the test unless descriptor 0 is still that eventfd and its count still
// exactly 1: a call that wrote to descriptor 0 would have raised the count, a
// read would have taken it to 0, a close would have left no descriptor 0.
func eventfdAtZero(t *testing.T) (check func(what string)) {
	t.Helper()
	efd, err := unix.Eventfd(1, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(efd) })
	fdtest.AtZero(t, efd)
	var want unix.Stat_t
	if err := unix.Fstat(efd, &want); err != nil {
		t.Fatal(err)
	}
	return func(what string) {
		t.Helper()
		var st unix.Stat_t
		if err := unix.Fstat(0, &st); err != nil || st.Ino != want.Ino || st.Dev != want.Dev {
			t.Fatalf("after %s: descriptor 0 is no longer the test's eventfd (fstat: %v)", what, err)
		}
		v, err := readUint64(efd)
		if err != nil || v != 1 {
			t.Fatalf("after %s: descriptor 0's count is %d (%v), want 1: it was written or read", what, v, err)
		}
		if err := writeUint64(efd, 1); err != nil {
			t.Fatal(err)
		}
	}
}

// wantNotCreated fails unless err is the zero-value error: it matches
// ErrClosed and epoll.ErrNotCreated and names the call.
func wantNotCreated(t *testing.T, what string, err error) {
	t.Helper()
	var e *epoll.Error
	if !errors.Is(err, ErrClosed) || !errors.Is(err, epoll.ErrNotCreated) || !errors.As(err, &e) || e.Pkg != "source" || e.Call == "" {
		t.Fatalf("%s on a zero value: %v; want a source error matching ErrClosed and ErrNotCreated", what, err)
	}
}

// TestZeroValuesReturnErrClosedAndNeverTouchDescriptorZero calls every
// method of every source type on its zero value, with descriptor 0 an
// eventfd whose count shows any read or write: each returns an error
// matching ErrClosed (ErrNotCreated), Fd is -1, nothing panics, and
// descriptor 0 is neither read, written nor closed.
func TestZeroValuesReturnErrClosedAndNeverTouchDescriptorZero(t *testing.T) {
	check := eventfdAtZero(t)
	dir := t.TempDir()
	calls := map[string]map[string]func() error{
		"Timer": {
			"Arm":         func() error { return new(Timer).Arm(time.Millisecond, 0) },
			"ArmAbsolute": func() error { return new(Timer).ArmAbsolute(time.Millisecond, 0) },
			"ArmAt":       func() error { return new(Timer).ArmAt(time.Now(), 0) },
			"Stop":        func() error { return new(Timer).Stop() },
			"Remaining":   func() error { _, _, err := new(Timer).Remaining(); return err },
			"Expirations": func() error { _, err := new(Timer).Expirations(); return err },
			"Close":       func() error { return new(Timer).Close() },
		},
		"Notifier": {
			"Notify":       func() error { return new(Notifier).Notify() },
			"Notify twice": func() error { n := new(Notifier); n.Notify(); return n.Notify() },
			"Read":         func() error { _, err := new(Notifier).Read(); return err },
			"Close":        func() error { return new(Notifier).Close() },
		},
		"Signals": {
			"Read":  func() error { _, err := new(Signals).Read(); return err },
			"Close": func() error { return new(Signals).Close() },
		},
		"Watcher": {
			"Add":    func() error { _, err := new(Watcher).Add(dir, WatchCreate); return err },
			"Remove": func() error { return new(Watcher).Remove(1) },
			"Read":   func() error { _, err := new(Watcher).Read(nil); return err },
			"Close":  func() error { return new(Watcher).Close() },
		},
		"Process": {
			"Signal": func() error { return new(Process).Signal(syscall.SIGTERM) },
			"Wait":   func() error { _, err := new(Process).Wait(); return err },
			"Close":  func() error { return new(Process).Close() },
		},
	}
	for typ, methods := range calls {
		for name, call := range methods {
			wantNotCreated(t, typ+"."+name, call())
			check(typ + "." + name)
		}
	}
	for typ, src := range map[string]Source{"Timer": new(Timer), "Notifier": new(Notifier), "Signals": new(Signals), "Watcher": new(Watcher), "Process": new(Process)} {
		if fd := src.Fd(); fd != -1 {
			t.Errorf("zero %s: Fd = %d, want -1", typ, fd)
		}
	}
	if s := new(Signals).Signals(); len(s) != 0 {
		t.Errorf("zero Signals: Signals = %v, want none", s)
	}
}
