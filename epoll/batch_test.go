package epoll

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestBatchStopsAtFirstFailure(t *testing.T) {
	eachBatchBackend(t, func(t *testing.T, be BatchBackend) {
		ep := newInstance(t, WithBatchBackend(be))
		fds := eventfds(t, 3)
		cmds := []Cmd{
			{Op: OpAdd, Fd: fds[0], Events: In},
			{Op: OpAdd, Fd: fds[0], Events: In}, // EEXIST
			{Op: OpAdd, Fd: fds[1], Events: In}, // must never run
			{Op: OpAdd, Fd: fds[2], Events: In}, // must never run
		}
		n, err := ep.Batch(cmds)
		if n != 1 {
			t.Fatalf("Batch = %d, want 1 (the index of the failing command)", n)
		}
		if !errors.Is(err, unix.EEXIST) || !errors.Is(cmds[1].Result, unix.EEXIST) {
			t.Fatalf("err %v, Result %v; want both EEXIST", err, cmds[1].Result)
		}
		var bErr *BatchError
		if !errors.As(err, &bErr) || bErr.Index != 1 {
			t.Fatalf("err %v is not a *BatchError with Index 1", err)
		}
		if cmds[0].Result != nil || cmds[2].Result != ErrNotProcessed || cmds[3].Result != ErrNotProcessed {
			t.Fatalf("Results %v %v %v, want nil, ErrNotProcessed, ErrNotProcessed",
				cmds[0].Result, cmds[2].Result, cmds[3].Result)
		}
		for _, fd := range fds[1:] {
			if err := ep.Delete(fd); !errors.Is(err, unix.ENOENT) {
				t.Fatalf("Delete(%d) = %v: a command after the failure ran", fd, err)
			}
		}
		if !strings.Contains(err.Error(), "epoll_ctl_batch: command 1: epoll_ctl(ADD) fd") {
			t.Errorf("message %q does not name the batch, the command and the call", err)
		}
	})
}

func TestBatchBadArgumentsProcessNothing(t *testing.T) {
	eachBatchBackend(t, func(t *testing.T, be BatchBackend) {
		ep := newInstance(t, WithBatchBackend(be))
		fd := eventfds(t, 1)[0]
		bad := map[string]Cmd{
			"unknown op":            {Op: 0, Fd: fd},
			"unknown bits":          {Op: OpAdd, Fd: fd, Events: 1 << 20},
			"exclusive|oneshot":     {Op: OpAdd, Fd: fd, Events: In | Exclusive | OneShot},
			"modify with exclusive": {Op: OpModify, Fd: fd, Events: In | Exclusive},
			"negative fd":           {Op: OpAdd, Fd: -3, Events: In},
		}
		for name, b := range bad {
			for _, f := range []func([]Cmd) (int, error){ep.Batch, ep.BatchAll} {
				cmds := []Cmd{{Op: OpAdd, Fd: fd, Events: In}, b}
				n, err := f(cmds)
				var bErr *BatchError
				if n != 0 || err == nil || errors.As(err, &bErr) {
					t.Fatalf("%s: = %d, %v; want 0 and an argument error", name, n, err)
				}
				if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EBADF) {
					t.Fatalf("%s: %v does not wrap EINVAL or EBADF", name, err)
				}
				if cmds[0].Result != nil || cmds[1].Result != nil {
					t.Fatalf("%s: Results touched: %v %v", name, cmds[0].Result, cmds[1].Result)
				}
				if err := ep.Delete(fd); !errors.Is(err, unix.ENOENT) {
					t.Fatalf("%s: the valid first command ran (Delete = %v)", name, err)
				}
				if !strings.Contains(err.Error(), "epoll_ctl_batch") || !strings.Contains(err.Error(), "command 1") {
					t.Errorf("%s: message %q does not name the call and the command", name, err)
				}
			}
		}
		for _, cmds := range [][]Cmd{nil, {}, tooLongBatch(t)} {
			if n, err := ep.Batch(cmds); n != 0 || !errors.Is(err, unix.EINVAL) {
				t.Fatalf("Batch(len %d) = %d, %v; want 0, EINVAL", len(cmds), n, err)
			}
		}
	})
}

func TestBatchFirstCommandFailureIsDistinguishableFromBadArguments(t *testing.T) {
	eachBatchBackend(t, func(t *testing.T, be BatchBackend) {
		ep := newInstance(t, WithBatchBackend(be))
		fd := eventfds(t, 1)[0]
		cmds := []Cmd{{Op: OpModify, Fd: fd, Events: In}}
		n, err := ep.Batch(cmds)
		var bErr *BatchError
		if n != 0 || !errors.As(err, &bErr) || bErr.Index != 0 || !errors.Is(cmds[0].Result, unix.ENOENT) {
			t.Fatalf("= %d, %v, Result %v; want 0, *BatchError{0}, ENOENT", n, err, cmds[0].Result)
		}
	})
}

func TestBatchOnClosedInstanceReturnsErrClosed(t *testing.T) {
	eachBatchBackend(t, func(t *testing.T, be BatchBackend) {
		ep := newInstance(t, WithBatchBackend(be))
		fd := eventfds(t, 1)[0]
		if _, err := ep.Batch([]Cmd{{Op: OpAdd, Fd: fd, Events: In}}); err != nil {
			t.Fatal(err)
		}
		ep.Close()
		cmds := []Cmd{{Op: OpDelete, Fd: fd}}
		if n, err := ep.BatchAll(cmds); n != 0 || !errors.Is(err, ErrClosed) || cmds[0].Result != nil {
			t.Fatalf("BatchAll after Close = %d, %v, Result %v; want 0, ErrClosed, untouched", n, err, cmds[0].Result)
		}
	})
}

func TestBatchAllContinuesAfterFailure(t *testing.T) {
	eachBatchBackend(t, func(t *testing.T, be BatchBackend) {
		ep := newInstance(t, WithBatchBackend(be))
		fds := eventfds(t, 3)
		cmds := []Cmd{
			{Op: OpDelete, Fd: fds[0]},                       // ENOENT
			{Op: OpAdd, Fd: fds[1], Events: In, Data: 7},     // ok
			{Op: OpModify, Fd: fds[2], Events: In},           // ENOENT
			{Op: OpModify, Fd: fds[1], Events: Out, Data: 8}, // ok, after the ADD
		}
		n, err := ep.BatchAll(cmds)
		var bErr *BatchError
		if n != 2 || !errors.As(err, &bErr) || bErr.Index != 0 || !errors.Is(err, unix.ENOENT) {
			t.Fatalf("BatchAll = %d, %v; want 2 and the first failure (index 0, ENOENT)", n, err)
		}
		if !errors.Is(cmds[2].Result, unix.ENOENT) || cmds[1].Result != nil || cmds[3].Result != nil {
			t.Fatalf("Results %v", cmds)
		}
		evs := make([]Event, 4)
		if n, err := ep.Wait(evs, 0); n != 1 || err != nil || evs[0].Data() != 8 || evs[0].Events != Out {
			t.Fatalf("Wait = %d, %v, %+v; want fds[1] writable with data 8", n, err, evs[0])
		}
	})
}

// TestBatchAllKeepsOrderUnderConcurrentWait applies changes while another
// goroutine keeps the instance busy delivering events, so the kernel's
// epoll mutex is contended and the ring must defer requests to workers
// (-EAGAIN): order and results must not change.
func TestBatchAllKeepsOrderUnderConcurrentWait(t *testing.T) {
	eachBatchBackend(t, func(t *testing.T, be BatchBackend) {
		ep := newInstance(t, WithBatchBackend(be))
		hot := eventfds(t, 8)
		for i, fd := range hot {
			one := [8]byte{1}
			unix.Write(fd, one[:])
			if err := ep.Add(fd, In, uint64(1000+i)); err != nil {
				t.Fatal(err)
			}
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			evs := make([]Event, 16)
			for {
				select {
				case <-stop:
					return
				default:
				}
				ep.Wait(evs, 0)
			}
		}()
		fds := eventfds(t, 32)
		deadline := time.Now().Add(2 * time.Second)
		for round := 0; round < 300 && time.Now().Before(deadline); round++ {
			var cmds []Cmd
			for i, fd := range fds {
				cmds = append(cmds, Cmd{Op: OpAdd, Fd: fd, Events: In, Data: uint64(i)})
			}
			for i, fd := range fds {
				cmds = append(cmds, Cmd{Op: OpModify, Fd: fd, Events: Out, Data: uint64(i)})
			}
			for _, fd := range fds {
				cmds = append(cmds, Cmd{Op: OpDelete, Fd: fd})
			}
			if n, err := ep.BatchAll(cmds); n != len(cmds) || err != nil {
				close(stop)
				wg.Wait()
				t.Fatalf("round %d: BatchAll = %d/%d, %v", round, n, len(cmds), err)
			}
			if n, err := ep.Batch(cmds); n != len(cmds) || err != nil {
				close(stop)
				wg.Wait()
				t.Fatalf("round %d: Batch = %d/%d, %v", round, n, len(cmds), err)
			}
		}
		close(stop)
		wg.Wait()
	})
}

// TestBatchRacesCloseSafely runs batches on every backend while Close
// runs: each call either completes or returns ErrClosed, and the race
// detector sees the ring handed over cleanly.
func TestBatchRacesCloseSafely(t *testing.T) {
	eachBatchBackend(t, func(t *testing.T, be BatchBackend) {
		fds := eventfds(t, 16)
		for range 20 {
			ep, err := New(WithBatchBackend(be))
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for g := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					cmds := make([]Cmd, 2*len(fds))
					for i, fd := range fds {
						cmds[2*i] = Cmd{Op: OpAdd, Fd: fd, Events: In, Data: uint64(g)}
						cmds[2*i+1] = Cmd{Op: OpDelete, Fd: fd}
					}
					for range 50 {
						_, err := ep.BatchAll(cmds)
						if errors.Is(err, ErrClosed) {
							return
						}
					}
				}()
			}
			ep.Close()
			wg.Wait()
		}
	})
}

// TestBatchAllocatesNothing proves a successful batch allocates nothing on
// either backend, strict and continue.
func TestBatchAllocatesNothing(t *testing.T) {
	eachBatchBackend(t, func(t *testing.T, be BatchBackend) {
		ep := newInstance(t, WithBatchBackend(be))
		fds := eventfds(t, 64)
		add, del := make([]Cmd, len(fds)), make([]Cmd, len(fds))
		for i, fd := range fds {
			add[i] = Cmd{Op: OpAdd, Fd: fd, Events: In | Edge, Data: uint64(i)}
			del[i] = Cmd{Op: OpDelete, Fd: fd}
		}
		for name, f := range map[string]func([]Cmd) (int, error){"Batch": ep.Batch, "BatchAll": ep.BatchAll} {
			allocs := testing.AllocsPerRun(50, func() {
				if n, err := f(add); n != len(add) || err != nil {
					t.Fatalf("%s add = %d, %v", name, n, err)
				}
				if n, err := f(del); n != len(del) || err != nil {
					t.Fatalf("%s del = %d, %v", name, n, err)
				}
			})
			if allocs != 0 {
				t.Errorf("%s on %v: %v allocations per run, want 0", name, be, allocs)
			}
		}
	})
}

// tooLongBatch returns a command list one longer than MaxBatch without the
// 3 GiB it would take: the slice lies over an inaccessible mapping of
// address space (PROT_NONE, no memory behind it), so it also proves that
// the length is refused before any command is read.
func tooLongBatch(t *testing.T) []Cmd {
	t.Helper()
	size := (MaxBatch + 1) * int(unsafe.Sizeof(Cmd{}))
	b, err := unix.Mmap(-1, 0, size, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		t.Skipf("cannot reserve %d bytes of address space: %v", size, err)
	}
	t.Cleanup(func() { unix.Munmap(b) })
	return unsafe.Slice((*Cmd)(unsafe.Pointer(&b[0])), MaxBatch+1)
}

// TestBatchRefusesMoreThanTheProposalsBound: ncmds above INT_MAX /
// sizeof(struct epoll_ctl_cmd) is EINVAL, nothing processed, on every
// backend.
func TestBatchRefusesMoreThanTheProposalsBound(t *testing.T) {
	if MaxBatch != math.MaxInt32/32 {
		t.Fatalf("MaxBatch = %d, want INT_MAX / 32 = %d", MaxBatch, math.MaxInt32/32)
	}
	eachBatchBackend(t, func(t *testing.T, be BatchBackend) {
		ep := newInstance(t, WithBatchBackend(be))
		cmds := tooLongBatch(t)
		for name, f := range map[string]func([]Cmd) (int, error){"Batch": ep.Batch, "BatchAll": ep.BatchAll} {
			n, err := f(cmds)
			var be *BatchError
			if n != 0 || !errors.Is(err, unix.EINVAL) || errors.As(err, &be) {
				t.Errorf("%s of %d commands = %d, %v; want 0 and an argument error (EINVAL)", name, len(cmds), n, err)
			}
		}
	})
}

// TestCmdCheckRefusesWhatTheCallRefusesBeforeTheKernel: Check gives the
// argument errors Add, Modify and Delete give, and nil where only the
// kernel can judge (a descriptor that is not open).
func TestCmdCheckRefusesWhatTheCallRefusesBeforeTheKernel(t *testing.T) {
	cases := []struct {
		cmd  Cmd
		want error
	}{
		{Cmd{Op: OpAdd, Fd: -1, Events: In}, unix.EBADF},
		{Cmd{Op: OpDelete, Fd: 1 << 40}, unix.EBADF},
		{Cmd{Op: OpAdd, Fd: 3, Events: In | 1<<27}, unix.EINVAL},
		{Cmd{Op: OpAdd, Fd: 3, Events: In | Exclusive | OneShot}, unix.EINVAL},
		{Cmd{Op: OpModify, Fd: 3, Events: In | Exclusive}, unix.EINVAL},
		{Cmd{Op: 0, Fd: 3, Events: In}, unix.EINVAL},
		{Cmd{Op: OpAdd, Fd: 1 << 20, Events: In | Exclusive}, nil},
		{Cmd{Op: OpModify, Fd: 1 << 20, Events: In | Edge | OneShot}, nil},
		{Cmd{Op: OpDelete, Fd: 1 << 20, Events: 1 << 27}, nil},
	}
	for _, c := range cases {
		err := c.cmd.Check()
		if c.want == nil {
			if err != nil {
				t.Errorf("%v fd %d events %v: %v, want nil", c.cmd.Op, c.cmd.Fd, c.cmd.Events, err)
			}
			continue
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%v fd %d events %v: %v, want %v", c.cmd.Op, c.cmd.Fd, c.cmd.Events, err, c.want)
		}
	}
}
