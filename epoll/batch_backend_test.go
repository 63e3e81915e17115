package epoll

import (
	"errors"
	"os"
	"testing"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"github.com/eventpoll/eventpoll/internal/uring"
	"golang.org/x/sys/unix"
)

func TestBatchBackendFollowsProbeAndOption(t *testing.T) {
	if ep := newInstance(t, WithBatchBackend(BatchSyscall)); ep.BatchBackend() != BatchSyscall {
		t.Errorf("WithBatchBackend(BatchSyscall) gives %v", ep.BatchBackend())
	}
	func() {
		defer uring.ForceUnsupported()()
		ep := newInstance(t)
		if got := ep.BatchBackend(); got != BatchSyscall {
			t.Errorf("BatchAuto with io_uring forced off resolved to %v, want syscall", got)
		}
		forced := newInstance(t, WithBatchBackend(BatchUring))
		fd := eventfds(t, 1)[0]
		cmds := []Cmd{{Op: OpAdd, Fd: fd, Events: In}}
		n, err := forced.Batch(cmds)
		if n != 0 || !errors.Is(err, ErrUnsupported) || !errors.Is(err, uring.ErrUnsupported) || cmds[0].Result != nil {
			t.Errorf("forced BatchUring with io_uring off = %d, %v; want 0, ErrUnsupported, nothing processed", n, err)
		}
		if err := forced.Delete(fd); !errors.Is(err, unix.ENOENT) {
			t.Errorf("the refused batch ran: Delete = %v", err)
		}
	}()
	ep := newInstance(t)
	want := BatchUring
	if batchUringOff() {
		want = BatchSyscall
	}
	if got := ep.BatchBackend(); got != want {
		t.Errorf("BatchAuto resolved to %v here, want %v", got, want)
	}
	if os.Getenv(uring.EnvNoUring) != "" && os.Getenv(uring.EnvNoUring) != "0" && want != BatchSyscall {
		t.Errorf("%s is set but BatchAuto chose %v", uring.EnvNoUring, want)
	}
}

// TestBatchCloseReleasesRing checks, from /proc/self/fd, that Close takes
// the io_uring ring with the instance.
func TestBatchCloseReleasesRing(t *testing.T) {
	skipNoRing(t, BatchUring)
	fds := eventfds(t, 8)
	before := fdtest.Open(t)
	for range 5 {
		ep, err := New(WithBatchBackend(BatchUring))
		if err != nil {
			t.Fatal(err)
		}
		cmds := make([]Cmd, len(fds))
		for i, fd := range fds {
			cmds[i] = Cmd{Op: OpAdd, Fd: fd, Events: In}
		}
		if _, err := ep.Batch(cmds); err != nil {
			t.Fatal(err)
		}
		if err := ep.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if leaked := fdtest.Leaked(t, before); len(leaked) > 0 {
		t.Fatalf("descriptors left open after Close: %v", leaked)
	}
}
