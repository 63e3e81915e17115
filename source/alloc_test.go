package source

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// The drain of every source allocates nothing: each read method that finds
// nothing pending returns an error made once. (Timer.Expirations,
// Notifier.Read and Process.Wait are proved beside their other tests.)

func TestSignalsReadAllocatesNothing(t *testing.T) {
	s := newSignals(t, syscall.SIGUSR1)
	empty := testing.AllocsPerRun(1000, func() {
		if _, err := s.Read(); !isEAGAIN(err) {
			t.Fatalf("Read with nothing pending: %v", err)
		}
	})
	// A signal handed over and read, then the drain to EAGAIN: the forwarder's
	// part is done here by hand, since the runtime's delivery is not ours.
	pending := testing.AllocsPerRun(1000, func() {
		s.mu.Lock()
		s.set[syscall.SIGUSR1] = true
		s.pending = append(s.pending, syscall.SIGUSR1)
		s.mu.Unlock()
		s.n.Notify()
		if sig, err := s.Read(); err != nil || sig != syscall.SIGUSR1 {
			t.Fatalf("Read = %v, %v", sig, err)
		}
		if _, err := s.Read(); !isEAGAIN(err) {
			t.Fatalf("Read after the signal: %v", err)
		}
	})
	if empty != 0 || pending != 0 {
		t.Fatalf("Signals.Read allocates %v times to find nothing, %v to read a signal and drain; want 0", empty, pending)
	}
}

func TestWatcherReadToEAGAINAllocatesNothing(t *testing.T) {
	w := fdtest.New(t, NewWatcher)
	if _, err := w.Add(t.TempDir(), WatchCreate); err != nil {
		t.Fatal(err)
	}
	dst := make([]WatchEvent, 0, 4)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := w.Read(dst); !isEAGAIN(err) {
			t.Fatalf("Read with nothing queued: %v", err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Watcher.Read to EAGAIN allocates %v times per call, want 0", allocs)
	}
}

// TestWatcherReadAllocatesOnlyEachEventsName: decoding allocates one string
// per event that carries a name (its Path, of which Name is the tail) and
// nothing for an event on the watched path itself, when dst has room.
func TestWatcherReadAllocatesOnlyEachEventsName(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(f, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	one := []byte{1}
	dst := make([]WatchEvent, 0, 4)
	for _, c := range []struct {
		path string
		want float64
	}{{f, 0}, {dir, 1}} {
		w := fdtest.New(t, NewWatcher)
		if _, err := w.Add(c.path, WatchModify); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(1000, func() {
			unix.Write(fd, one)
			evs, err := w.Read(dst[:0])
			if err != nil || len(evs) != 1 || evs[0].Op != WatchModify || evs[0].Path != f {
				t.Fatalf("Read = %+v, %v; want one MODIFY of %s", evs, err, f)
			}
		})
		if allocs != c.want {
			t.Fatalf("watching %s: Read of one event allocates %v times, want %v", c.path, allocs, c.want)
		}
		w.Close()
	}
}
