package system

import (
	"errors"
	"testing"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

func TestRaiseNofileReportsWhatItGot(t *testing.T) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	got, err := RaiseNofile(int(lim.Cur))
	if err != nil || got < int(lim.Cur) {
		t.Fatalf("raise to the current limit %d: got %d, %v", lim.Cur, got, err)
	}
	// Far past fs.nr_open: no process may have it, so the answer is a
	// smaller limit, never a claim of success.
	huge := NrOpen() + 1
	if huge <= 1 {
		t.Skip("cannot read /proc/sys/fs/nr_open")
	}
	got, _ = RaiseNofile(huge)
	if got >= huge {
		t.Errorf("raise to %d (past nr_open): claims %d", huge, got)
	}
	if err := NeedNofile(huge); err == nil {
		t.Errorf("NeedNofile(%d) past nr_open: no error", huge)
	}
}

func TestNestEpollChainsInstancesAndClosesThem(t *testing.T) {
	fdtest.Check(t)
	outer, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(outer)
	closeAll, err := NestEpoll(9, func(fd int) error {
		return unix.EpollCtl(outer, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLHUP})
	})
	if err != nil {
		t.Fatal(err)
	}
	closeAll()
	refused := errors.New("refused")
	if _, err := NestEpoll(2, func(int) error { return refused }); !errors.Is(err, refused) {
		t.Errorf("NestEpoll whose add fails: %v, want that error", err)
	}
}

func TestRawReadAndWriteMoveBytesAndReportEAGAIN(t *testing.T) {
	r, w := fdtest.Pipe(t)
	buf := make([]byte, 8)
	if _, errno := Read(r, buf); errno != unix.EAGAIN {
		t.Fatalf("read of an empty non-blocking pipe: %v, want EAGAIN", errno)
	}
	if n, errno := Write(w, []byte("tok")); n != 3 || errno != 0 {
		t.Fatalf("write: %d, %v", n, errno)
	}
	if n, errno := Read(r, buf); n != 3 || errno != 0 || string(buf[:n]) != "tok" {
		t.Fatalf("read: %d %q, %v", n, buf[:n], errno)
	}
}
