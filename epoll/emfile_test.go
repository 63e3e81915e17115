package epoll

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// fillFdTable lowers RLIMIT_NOFILE to a little above the highest
// descriptor open now and opens eventfds until the process gets EMFILE, so
// that the next descriptor anything asks for is refused: a loaded server's
// state. free(k) closes k of them. The descriptors and the limit are
// restored when the test ends.
func fillFdTable(t *testing.T) (free func(k int)) {
	t.Helper()
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	high := 0
	for name := range fdtest.Open(t) {
		n, _ := strconv.Atoi(name)
		high = max(high, n)
	}
	lim := old
	lim.Cur = min(uint64(high+64), old.Cur)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	var held []int
	t.Cleanup(func() {
		for _, fd := range held {
			unix.Close(fd)
		}
		unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	})
	for {
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
		if err == unix.EMFILE {
			break
		}
		if err != nil {
			t.Fatalf("filling the descriptor table: %v", err)
		}
		held = append(held, fd)
	}
	return func(k int) {
		for range min(k, len(held)) {
			unix.Close(held[len(held)-1])
			held = held[:len(held)-1]
		}
	}
}

// TestWaitNeedsNoDescriptorWithFullTable: with the descriptor table full,
// every kind of wait still waits, returns events, and is woken by Close;
// none fails with EMFILE. Realtime WaitDeadline, whose private instance and
// timer cannot be made, waits in slices and still never returns early.
func TestWaitNeedsNoDescriptorWithFullTable(t *testing.T) {
	fdtest.Check(t)
	for _, mode := range []struct {
		name string
		opts []Option
	}{{"pwait2", nil}, {"ms", []Option{WithMillisecondWait()}}} {
		t.Run(mode.name, func(t *testing.T) {
			ep := newInstance(t, mode.opts...)
			closing := newInstance(t, mode.opts...)
			efd := fdtest.Eventfd(t)
			if err := ep.Add(efd, In, 5); err != nil {
				t.Fatal(err)
			}
			fdtest.Signal(t, efd)
			evs := make([]Event, 4)
			if n, err := ep.WaitContext(context.Background(), evs); n != 1 || err != nil {
				t.Fatalf("WaitContext before the table fills = %d, %v", n, err) // registers with the runtime
			}
			fdtest.Drain(efd)
			fillFdTable(t)
			if _, err := unix.Eventfd(0, unix.EFD_CLOEXEC); err != unix.EMFILE {
				t.Fatalf("the table is not full: eventfd = %v", err)
			}
			expectEmptyWaits(t, ep, evs)
			expectEventWaits(t, ep, efd, evs)
			res := make(chan error, 1)
			go func() { _, err := closing.Wait(evs[:1], -1); res <- err }()
			for closing.blocked.Load() == 0 {
				time.Sleep(100 * time.Microsecond)
			}
			closing.Close()
			if err := <-res; !errors.Is(err, ErrClosed) {
				t.Errorf("Close with the table full: the blocked Wait returned %v, want ErrClosed", err)
			}
		})
	}
}

// expectEmptyWaits runs each timed wait on an instance with nothing ready:
// each returns no events and no error, not before its time.
func expectEmptyWaits(t *testing.T, ep *Instance, evs []Event) {
	t.Helper()
	var mask unix.Sigset_t
	// Each returns its deadline (zero for a timeout) with its results.
	for name, wait := range map[string]func() (time.Time, int, error){
		"Wait(1ms)": func() (time.Time, int, error) {
			n, err := ep.Wait(evs, time.Millisecond)
			return time.Time{}, n, err
		},
		"PWait(1ms)": func() (time.Time, int, error) {
			n, err := ep.PWait(evs, time.Millisecond, &mask)
			return time.Time{}, n, err
		},
		"WaitDeadline(Monotonic)": func() (time.Time, int, error) {
			dl := time.Now().Add(2 * time.Millisecond)
			n, err := ep.WaitDeadline(evs, dl, Monotonic)
			return dl, n, err
		},
		"WaitDeadline(Realtime)": func() (time.Time, int, error) {
			dl := time.Now().Round(0).Add(30 * time.Millisecond)
			n, err := ep.WaitDeadline(evs, dl, Realtime)
			return dl, n, err
		},
	} {
		start := time.Now()
		dl, n, err := wait()
		if n != 0 || err != nil {
			t.Errorf("%s with the table full = %d, %v; want 0, nil", name, n, err)
		}
		if time.Since(start) < time.Millisecond || !dl.IsZero() && time.Now().Round(0).Before(dl.Round(0)) {
			t.Errorf("%s with the table full returned early, after %v", name, time.Since(start))
		}
	}
}

// expectEventWaits runs each blocking wait with efd (data 5) made readable
// during it: each reports the event.
func expectEventWaits(t *testing.T, ep *Instance, efd int, evs []Event) {
	t.Helper()
	for name, wait := range map[string]func() (int, error){
		"Wait(-1)":    func() (int, error) { return ep.Wait(evs, -1) },
		"Wait(10s)":   func() (int, error) { return ep.Wait(evs, 10*time.Second) },
		"WaitContext": func() (int, error) { return ep.WaitContext(context.Background(), evs) },
		"WaitDeadline(Realtime)": func() (int, error) {
			return ep.WaitDeadline(evs, time.Now().Add(10*time.Second), Realtime)
		},
	} {
		fdtest.SignalAfter(t, efd, 20*time.Millisecond)
		n, err := wait()
		if n != 1 || err != nil || evs[0].Data() != 5 {
			t.Errorf("%s with the table full = %d, %v; want the eventfd's event", name, n, err)
		}
		fdtest.Drain(efd)
	}
}

// TestBatchAutoRetriesRingAfterEMFILE: a BatchAuto instance whose ring
// cannot be made because the table is full applies its batch with
// epoll_ctl and does not give the ring up for good: once descriptors are
// free again and the retry interval has passed, it makes the ring.
func TestBatchAutoRetriesRingAfterEMFILE(t *testing.T) {
	skipNoRing(t, BatchUring)
	fdtest.Check(t)
	saved := ringRetry
	ringRetry = 100 * time.Millisecond
	t.Cleanup(func() { ringRetry = saved })
	auto := newInstance(t)
	forced := newInstance(t, WithBatchBackend(BatchUring))
	fds := eventfds(t, 16)
	add, del := make([]Cmd, len(fds)), make([]Cmd, len(fds))
	for i, fd := range fds {
		add[i] = Cmd{Op: OpAdd, Fd: fd, Events: In, Data: uint64(i)}
		del[i] = Cmd{Op: OpDelete, Fd: fd}
	}
	free := fillFdTable(t)
	if n, err := auto.BatchAll(add); n != len(add) || err != nil {
		t.Fatalf("BatchAuto's BatchAll with the table full = %d, %v; want every command applied by epoll_ctl", n, err)
	}
	if b := auto.BatchBackend(); b != BatchSyscall {
		t.Fatalf("BatchBackend with the table full = %v, want syscall", b)
	}
	n, err := forced.BatchAll(add)
	if n != 0 || !errors.Is(err, unix.EMFILE) || errors.Is(err, ErrUnsupported) {
		t.Fatalf("forced BatchUring with the table full = %d, %v; want 0 and EMFILE, not ErrUnsupported", n, err)
	}
	free(8)
	if b := auto.BatchBackend(); b != BatchSyscall {
		t.Errorf("BatchBackend tried the ring again at once, within the retry interval (got %v)", b)
	}
	time.Sleep(ringRetry + 10*time.Millisecond)
	if n, err := auto.BatchAll(del); n != len(del) || err != nil {
		t.Fatalf("BatchAll after descriptors were freed = %d, %v", n, err)
	}
	if b := auto.BatchBackend(); b != BatchUring || auto.batch.ring == nil {
		t.Fatalf("after the table emptied and the retry interval passed, BatchBackend = %v (ring %v); want uring",
			b, auto.batch.ring != nil)
	}
	if n, err := forced.BatchAll(add); n != len(add) || err != nil {
		t.Fatalf("forced BatchUring after descriptors were freed = %d, %v", n, err)
	}
}
