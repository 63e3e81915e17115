package epoll

import (
	"errors"
	"math"
	"testing"

	"github.com/eventpoll/eventpoll/internal/errs"
	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// outOfRange returns numbers no descriptor can have whose low 32 bits name
// fd: the kernel's int argument would see fd if they were passed on.
func outOfRange(fd int) []int {
	return []int{1<<32 | fd, 1<<40 | fd, -1<<32 | fd, math.MaxInt, math.MinInt, errs.MaxFd + 1}
}

// registered reports whether fd is in ep's interest set, by asking the
// kernel to add it again.
func registered(t *testing.T, ep *Instance, fd int) bool {
	t.Helper()
	err := ep.Add(fd, In, 0)
	if err == nil {
		ep.Delete(fd)
		return false
	}
	if !errors.Is(err, unix.EEXIST) {
		t.Fatalf("probing fd %d: %v", fd, err)
	}
	return true
}

// TestFdBeyondInt32IsRefusedNotTruncated: Add, Modify and Delete refuse a
// number above the int32 range with EBADF before any system call, so it
// never reaches the kernel cut to the descriptor in its low bits.
func TestFdBeyondInt32IsRefusedNotTruncated(t *testing.T) {
	ep := newInstance(t)
	kept, spare := fdtest.Eventfd(t), fdtest.Eventfd(t)
	if err := ep.Add(kept, In, 1); err != nil {
		t.Fatal(err)
	}
	for _, bad := range outOfRange(kept) {
		for name, err := range map[string]error{
			"Delete": ep.Delete(bad),
			"Modify": ep.Modify(bad, Out, 2),
			"Add":    ep.Add(bad, In, 3),
		} {
			var e *Error
			if !errors.Is(err, unix.EBADF) || !errors.As(err, &e) || e.Fd != bad {
				t.Errorf("%s(%#x) = %v; want EBADF naming the number", name, bad, err)
			}
		}
	}
	for _, bad := range outOfRange(spare) {
		ep.Add(bad, In, 3)
	}
	if !registered(t, ep, kept) {
		t.Fatal("a Delete of an out-of-range number removed the descriptor in its low bits")
	}
	if registered(t, ep, spare) {
		t.Fatal("an Add of an out-of-range number registered the descriptor in its low bits")
	}
	fdtest.Signal(t, kept)
	if evs := make([]Event, 2); second(ep.Wait(evs, 0)) != nil || evs[0].Data() != 1 || evs[0].Events != In {
		t.Fatalf("the registration was modified through an out-of-range number: %+v", evs[0])
	}
}

// TestBatchRefusesFdBeyondInt32 on every backend: a command naming an
// out-of-range number is an argument error, and nothing is processed.
func TestBatchRefusesFdBeyondInt32(t *testing.T) {
	eachBatchBackend(t, func(t *testing.T, be BatchBackend) {
		ep := newInstance(t, WithBatchBackend(be))
		kept, spare := fdtest.Eventfd(t), fdtest.Eventfd(t)
		if err := ep.Add(kept, In, 1); err != nil {
			t.Fatal(err)
		}
		for _, bad := range outOfRange(kept) {
			for _, op := range []Op{OpAdd, OpModify, OpDelete} {
				for name, f := range map[string]func([]Cmd) (int, error){"Batch": ep.Batch, "BatchAll": ep.BatchAll} {
					cmds := []Cmd{{Op: OpAdd, Fd: spare, Events: In}, {Op: op, Fd: bad, Events: In}}
					n, err := f(cmds)
					var bErr *BatchError
					if n != 0 || !errors.Is(err, unix.EBADF) || errors.As(err, &bErr) {
						t.Fatalf("%s with %v of %#x = %d, %v; want 0 and EBADF, nothing processed", name, op, bad, n, err)
					}
				}
			}
		}
		if !registered(t, ep, kept) || registered(t, ep, spare) {
			t.Fatal("a refused batch changed the interest set")
		}
	})
}

// TestChangesRefusesImpossibleFdsAndBoundsItsTable: Changes refuses
// numbers above the int32 range with EBADF at once (it once tried to grow
// its table to them, and the doubling of math.MaxInt never ended), and
// keeps its table bounded for large valid numbers.
func TestChangesRefusesImpossibleFdsAndBoundsItsTable(t *testing.T) {
	ep := newInstance(t)
	c := NewChanges(ep)
	for _, bad := range outOfRange(5) {
		for name, err := range map[string]error{
			"Add":    c.Add(bad, In, 1),
			"Modify": c.Modify(bad, In, 1),
			"Delete": c.Delete(bad),
		} {
			if !errors.Is(err, unix.EBADF) {
				t.Errorf("Changes.%s(%#x) = %v, want EBADF", name, bad, err)
			}
		}
		c.Forget(bad) // nothing known: nothing to do, and no panic
	}
	if c.Len() != 0 || len(c.fds) != 0 {
		t.Fatalf("refused numbers were queued (Len %d) or grew the table (%d entries)", c.Len(), len(c.fds))
	}
	// Valid numbers no process here has open: the kernel answers EBADF.
	for _, fd := range []int{errs.MaxFd, errs.MaxFd - 1, denseFds, denseFds - 1} {
		if err := c.Add(fd, In, 1); err != nil {
			t.Fatalf("Changes.Add(%d) = %v", fd, err)
		}
	}
	if len(c.fds) > denseFds {
		t.Fatalf("the table grew to %d entries, past its bound %d", len(c.fds), denseFds)
	}
	cmds, err := c.Flush()
	if !errors.Is(err, unix.EBADF) || len(cmds) != 4 {
		t.Fatalf("Flush = %d commands, %v; want 4, each failing with EBADF", len(cmds), err)
	}
	for _, cmd := range cmds {
		if !errors.Is(cmd.Result, unix.EBADF) {
			t.Errorf("Add of unopened fd %d: Result %v, want EBADF", cmd.Fd, cmd.Result)
		}
	}
	if len(c.far) != 0 {
		t.Errorf("Changes keeps %d map entries for fds it knows are not registered", len(c.far))
	}
}
