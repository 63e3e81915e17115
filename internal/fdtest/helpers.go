package fdtest

import (
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// New returns what open makes, failing t when open fails, and closes it
// when the test ends: the set-up of a test that holds one epoll instance,
// timer, watcher or process for its whole length.
func New[T io.Closer](t testing.TB, open func() (T, error)) T {
	t.Helper()
	v, err := open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// CloseTwice closes c twice and fails t unless both calls return nil (a
// Close is idempotent) and, where c has an Fd method, Fd says -1 after.
func CloseTwice(t testing.TB, c io.Closer) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
	if f, ok := c.(interface{ Fd() int }); ok && f.Fd() != -1 {
		t.Fatalf("Fd after Close = %d, want -1", f.Fd())
	}
}

// AtZero makes descriptor 0 a duplicate of fd for the test, so that a call
// made on descriptor 0 by mistake (the zero value of a descriptor field)
// lands on fd, where the test can see it. The old descriptor 0 is put back
// when the test ends, or descriptor 0 closed again if there was none; fd
// stays the caller's.
func AtZero(t testing.TB, fd int) {
	t.Helper()
	saved, err := unix.FcntlInt(0, unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		saved = -1 // no descriptor 0 to put back
	}
	if err := unix.Dup3(fd, 0, 0); err != nil {
		t.Fatalf("dup3 onto descriptor 0: %v", err)
	}
	t.Cleanup(func() {
		if saved >= 0 {
			unix.Dup3(saved, 0, 0)
			unix.Close(saved)
		} else {
			unix.Close(0)
		}
	})
}

// Eventfd returns a non-blocking eventfd closed when the test ends.
func Eventfd(t testing.TB) int {
	t.Helper()
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatalf("eventfd: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// Pipe returns a non-blocking pipe whose ends are closed when the test ends.
func Pipe(t testing.TB) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatalf("pipe2: %v", err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return p[0], p[1]
}

// Signal adds 1 to an eventfd's counter, making it readable.
func Signal(t testing.TB, efd int) {
	t.Helper()
	one := [8]byte{1}
	if _, err := unix.Write(efd, one[:]); err != nil {
		t.Fatalf("eventfd write %d: %v", efd, err)
	}
}

// SignalAfter adds 1 to an eventfd's counter d from now, from another
// goroutine, as a peer would while the test waits. The test's end waits
// for the write, so that it never lands on a descriptor reused after.
func SignalAfter(t testing.TB, efd int, d time.Duration) {
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		time.Sleep(d)
		one := [8]byte{1}
		if _, err := unix.Write(efd, one[:]); err != nil {
			t.Errorf("write to eventfd %d: %v", efd, err)
		}
	}()
}

// Within returns the error done delivers, and fails t at once if none
// comes within d: what, the call awaited, never returned.
func Within(t testing.TB, done <-chan error, d time.Duration, what string) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s still running after %v", what, d)
		return nil
	}
}

// Drain reads an eventfd's counter to zero and reports whether there was
// anything to read.
func Drain(efd int) bool {
	var b [8]byte
	_, err := unix.Read(efd, b[:])
	return err == nil
}

// RaiseLimit raises RLIMIT_NOFILE to at least n for the test, or skips it
// saying why.
func RaiseLimit(t testing.TB, n uint64) {
	t.Helper()
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= n {
		return
	}
	old := lim
	lim.Cur = n
	if lim.Max < n {
		lim.Max = n
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("needs RLIMIT_NOFILE >= %d, have %d (hard %d) and cannot raise it: %v", n, old.Cur, old.Max, err)
	}
	t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &old) })
}

// Percentile returns the p-quantile (0..1) of ds, by rank.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1))]
}

// Threads returns the process's thread count, from /proc/self/status.
func Threads(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no Threads: line in /proc/self/status")
	return 0
}
