// Package fdtest lets tests prove they leave no file descriptor open: it
// compares /proc/self/fd when a test starts with what is open when it ends.
// It also holds the descriptor set-ups the packages' tests share: an
// eventfd or a pipe for the test's length, an object opened and closed
// with the test (New), a descriptor put at 0 (AtZero), a peer's write
// later (SignalAfter), the result of a call that must not hang (Within),
// the check that Close is idempotent (CloseTwice).
package fdtest

import (
	"os"
	"sort"
	"sync"
	"testing"
	"time"
)

// settle bounds how long Check waits for closes still in flight (a socket
// the Go runtime polls is closed promptly but not always synchronously).
const settle = time.Second

// Open returns the process's open descriptors, number to target (the
// readlink of /proc/self/fd/N). It fails the test if /proc cannot be read.
func Open(t testing.TB) map[string]string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("reading /proc/self/fd: %v", err)
	}
	fds := make(map[string]string, len(ents))
	for _, e := range ents {
		// The descriptor ReadDir itself used is closed by now: a number
		// that no longer resolves is not open.
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil {
			fds[e.Name()] = target
		}
	}
	return fds
}

// Leaked returns the descriptors open now that were not in before, as
// "N -> target", after waiting up to a second for them to close.
func Leaked(t testing.TB, before map[string]string) []string {
	t.Helper()
	deadline := time.Now().Add(settle)
	for {
		var extra []string
		for fd, target := range Open(t) {
			if _, ok := before[fd]; !ok {
				extra = append(extra, fd+" -> "+target)
			}
		}
		if len(extra) == 0 || time.Now().After(deadline) {
			sort.Strings(extra)
			return extra
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startPoller makes the Go runtime open its own epoll instance and
// eventfd, which it keeps for the life of the process: opened after a
// test's snapshot, they would be charged to the test as leaks.
var startPoller sync.Once

// Check records the open descriptors now and, when the test ends, fails it
// if any descriptor opened since is still open. Call it first, so that its
// cleanup runs after every other one.
func Check(t testing.TB) {
	t.Helper()
	startPoller.Do(func() {
		if r, w, err := os.Pipe(); err == nil { // registered with the runtime poller
			r.Close()
			w.Close()
		}
		time.Sleep(time.Nanosecond)
	})
	before := Open(t)
	t.Cleanup(func() {
		if leaked := Leaked(t, before); len(leaked) > 0 {
			t.Errorf("leaked %d descriptors: %v", len(leaked), leaked)
		}
	})
}
