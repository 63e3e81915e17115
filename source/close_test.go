package source

import (
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// TestCloseWhileInUseIsSafe closes each kind of source while goroutines are
// inside its methods: every call completes or returns ErrClosed (or EAGAIN),
// a second Close returns nil, and no descriptor is left open. Under -race
// this also proves the closed flag is the only shared state touched.
func TestCloseWhileInUseIsSafe(t *testing.T) {
	fdtest.Check(t)
	dir := t.TempDir()
	kinds := map[string]func() (Source, func() error){
		"timer": func() (Source, func() error) {
			tm, err := NewTimer(Monotonic)
			if err != nil {
				t.Fatal(err)
			}
			return tm, func() error {
				if err := tm.Arm(time.Microsecond, 0); err != nil {
					return err
				}
				_, err := tm.Expirations()
				return err
			}
		},
		"watcher": func() (Source, func() error) {
			w, err := NewWatcher()
			if err != nil {
				t.Fatal(err)
			}
			return w, func() error {
				if _, err := w.Add(dir, WatchCreate); err != nil {
					return err
				}
				_, err := w.Read(nil)
				return err
			}
		},
		"signals": func() (Source, func() error) {
			s, err := NewSignals(syscall.SIGUSR1)
			if err != nil {
				t.Fatal(err)
			}
			return s, func() error { _, err := s.Read(); return err }
		},
		"process": func() (Source, func() error) {
			p, err := OpenProcess(1)
			if err != nil {
				t.Skip(err)
			}
			return p, func() error { return p.Signal(0) }
		},
	}
	for name, mk := range kinds {
		t.Run(name, func(t *testing.T) {
			for round := 0; round < 30; round++ {
				src, use := mk()
				var wg sync.WaitGroup
				for g := 0; g < 3; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < 50; i++ {
							err := use()
							if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, unix.EAGAIN) {
								t.Error(err)
								return
							}
						}
					}()
				}
				fdtest.CloseTwice(t, src)
				wg.Wait()
			}
		})
	}
}
