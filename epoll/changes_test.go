package epoll

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// changesInterest returns the interest set as the kernel reports it
// (see batchEnv.state).
func changesInterest(t testing.TB, ep *Instance, fds []int) string {
	t.Helper()
	return (&batchEnv{ep: ep, fds: fds}).state(t)
}

func changesFlush(t testing.TB, c *Changes) []Cmd {
	t.Helper()
	cmds, err := c.Flush()
	if err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return cmds
}

// changesOn returns a new instance, n eventfds (none registered) and a
// Changes on the instance.
func changesOn(t testing.TB, n int) (*Instance, []int, *Changes) {
	t.Helper()
	ep := newInstance(t)
	return ep, eventfds(t, n), NewChanges(ep)
}

// changesOnOne returns a Changes on a new instance in which one eventfd is
// already registered, and flushed, with ev and data 1.
func changesOnOne(t testing.TB, ev Events) (*Instance, int, *Changes) {
	t.Helper()
	ep, fds, c := changesOn(t, 1)
	c.Add(fds[0], ev, 1)
	changesFlush(t, c)
	return ep, fds[0], c
}

// twinCall makes call op (0 Add, 1 Modify, 2 Delete) of fd through c and,
// at once, directly on twin, the instance whose interest set c's must
// match after a Flush. EPOLLEXCLUSIVE is dropped from a Modify, which the
// kernel refuses it on.
func twinCall(c *Changes, twin *Instance, op, fd int, ev Events, data uint64) {
	switch op {
	case 0:
		c.Add(fd, ev, data)
		twin.Add(fd, ev, data)
	case 1:
		ev &^= Exclusive
		c.Modify(fd, ev, data)
		twin.Modify(fd, ev, data)
	case 2:
		c.Delete(fd)
		twin.Delete(fd)
	}
}

// sameInterest flushes c, on instance a, and fails t, saying when, unless
// a's interest set in fds is twin's.
func sameInterest(t testing.TB, c *Changes, a, twin *Instance, fds []int, when string) {
	t.Helper()
	c.Flush()
	if ga, gb := changesInterest(t, a, fds), changesInterest(t, twin, fds); ga != gb {
		t.Fatalf("%s: Changes left %s, calls in order left %s", when, ga, gb)
	}
}

func TestChangesAddThenDeleteCancelsOut(t *testing.T) {
	ep, fds, c := changesOn(t, 2)
	c.Add(fds[0], In, 1)
	c.Add(fds[1], In, 2)
	c.Delete(fds[0])
	if c.Len() != 1 {
		t.Fatalf("Len = %d after Add, Add, Delete of the first; want 1", c.Len())
	}
	cmds := changesFlush(t, c)
	if len(cmds) != 1 || cmds[0].Fd != fds[1] {
		t.Fatalf("Flush sent %+v, want only the Add of fds[1]", cmds)
	}
	if got := changesInterest(t, ep, fds); got != "{2:IN}" {
		t.Fatalf("interest set %s, want {2:IN}", got)
	}
	// Registered now: Add then Delete is no longer a no-op and must reach
	// the kernel in order (EEXIST, then the Delete removes it).
	c.Add(fds[1], In, 2)
	c.Delete(fds[1])
	if c.Len() != 2 {
		t.Fatalf("Len = %d for Add+Delete of a registered fd; want 2 (not merged)", c.Len())
	}
	cmds, err := c.Flush()
	if !errors.Is(err, unix.EEXIST) || cmds[1].Result != nil {
		t.Fatalf("Flush = %v, %v; want EEXIST for the Add and a successful Delete", err, cmds)
	}
	if got := changesInterest(t, ep, fds); got != "{}" {
		t.Fatalf("interest set %s, want {}", got)
	}
}

func TestChangesAddThenModifyMergesIntoAdd(t *testing.T) {
	ep, fds, c := changesOn(t, 1)
	c.Add(fds[0], In, 1)
	c.Modify(fds[0], Out, 9)
	cmds := changesFlush(t, c)
	if len(cmds) != 1 || cmds[0].Op != OpAdd || cmds[0].Events != Out || cmds[0].Data != 9 {
		t.Fatalf("Flush sent %+v, want one ADD OUT data 9", cmds)
	}
	if got := changesInterest(t, ep, fds); got != "{9:OUT}" {
		t.Fatalf("interest set %s", got)
	}
}

func TestChangesExclusiveAddThenModifyIsLeftToTheKernel(t *testing.T) {
	_, fds, c := changesOn(t, 1)
	c.Add(fds[0], In|Exclusive, 1)
	c.Modify(fds[0], Out, 1)
	cmds, err := c.Flush()
	if len(cmds) != 2 || !errors.Is(err, unix.EINVAL) || cmds[0].Result != nil {
		t.Fatalf("Flush = %+v, %v; want the Add to succeed and the Modify to fail with EINVAL", cmds, err)
	}
}

func TestChangesRepeatedModifyKeepsLast(t *testing.T) {
	ep, fd, c := changesOnOne(t, In)
	c.Modify(fd, Out, 2)
	c.Modify(fd, In|Out, 3)
	c.Modify(fd, Out, 4)
	cmds := changesFlush(t, c)
	if len(cmds) != 1 || cmds[0].Op != OpModify || cmds[0].Data != 4 {
		t.Fatalf("Flush sent %+v, want one MOD with data 4", cmds)
	}
	if got := changesInterest(t, ep, []int{fd}); got != "{4:OUT}" {
		t.Fatalf("interest set %s", got)
	}
	// Back and forth to the registered state: nothing to send.
	c.Modify(fd, In, 5)
	c.Modify(fd, Out, 4)
	if c.Len() != 0 {
		t.Fatalf("Len = %d after Modifies that end where they began; want 0", c.Len())
	}
}

func TestChangesUnchangedLevelModifyIsDropped(t *testing.T) {
	_, fd, c := changesOnOne(t, In)
	c.Modify(fd, In, 1)
	if c.Len() != 0 {
		t.Fatalf("Len = %d: a Modify to the registered level-triggered mask was queued", c.Len())
	}
	c.Modify(fd, In, 2) // the data differs: not a no-op
	if c.Len() != 1 {
		t.Fatalf("Len = %d: a Modify of the data was dropped", c.Len())
	}
}

// TestChangesModifyRearmsOneShotAndEdge: a Modify to the same mask is how
// OneShot is re-armed and how an edge is asked for again, so it is sent.
func TestChangesModifyRearmsOneShotAndEdge(t *testing.T) {
	for _, ev := range []Events{In | OneShot, In | Edge} {
		ep, fd, c := changesOnOne(t, ev)
		one := [8]byte{1}
		unix.Write(fd, one[:])
		evs := make([]Event, 2)
		if n, _ := ep.Wait(evs, 0); n != 1 {
			t.Fatalf("%v: first Wait = %d, want 1", ev, n)
		}
		if n, _ := ep.Wait(evs, 0); n != 0 {
			t.Fatalf("%v: second Wait = %d, want 0 (fired once)", ev, n)
		}
		c.Modify(fd, ev, 1)
		if c.Len() != 1 {
			t.Fatalf("%v: a re-arming Modify was dropped", ev)
		}
		changesFlush(t, c)
		if n, _ := ep.Wait(evs, 0); n != 1 {
			t.Fatalf("%v: Wait after the re-arming Modify = %d, want 1", ev, n)
		}
	}
}

func TestChangesModifyThenDeleteBecomesDelete(t *testing.T) {
	_, fd, c := changesOnOne(t, In)
	c.Modify(fd, Out, 2)
	c.Delete(fd)
	cmds := changesFlush(t, c)
	if len(cmds) != 1 || cmds[0].Op != OpDelete {
		t.Fatalf("Flush sent %+v, want one DEL", cmds)
	}
}

// TestChangesDeleteThenAddIsNotMerged proves why: the number may name a
// new file by the time of the Add, and a Modify would then fail.
func TestChangesDeleteThenAddIsNotMerged(t *testing.T) {
	ep := newInstance(t)
	old, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	c := NewChanges(ep)
	c.Add(old, In, 1)
	changesFlush(t, c)
	c.Delete(old)
	unix.Close(old)
	fresh, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fresh) })
	if fresh != old {
		t.Skipf("the kernel did not reuse fd %d (got %d)", old, fresh)
	}
	c.Add(fresh, In, 2)
	if c.Len() != 2 {
		t.Fatalf("Len = %d, want 2: Delete then Add must stay two commands", c.Len())
	}
	cmds, err := c.Flush()
	if cmds[1].Result != nil {
		t.Fatalf("Add of the new file failed: %v (Flush err %v)", cmds[1].Result, err)
	}
	if got := changesInterest(t, ep, []int{fresh}); got != "{2:IN}" {
		t.Fatalf("interest set %s, want the new file registered", got)
	}
}

func TestChangesFlushContinuesPastFailures(t *testing.T) {
	e := newBatchEnv(t, BatchAuto, 3)
	ep := e.ep
	c := NewChanges(ep)
	c.Add(e.fds[0], In, 1)
	c.Add(e.file, In, 99) // EPERM
	c.Delete(e.fds[2])    // ENOENT
	c.Add(e.fds[1], In, 2)
	cmds, err := c.Flush()
	var be *BatchError
	if !errors.As(err, &be) || be.Index != 1 || !errors.Is(err, ErrNotPollable) {
		t.Fatalf("Flush error %v, want the first failure (index 1, ErrNotPollable)", err)
	}
	if !errors.Is(cmds[2].Result, unix.ENOENT) || cmds[3].Result != nil {
		t.Fatalf("Results %+v", cmds)
	}
	if got := e.state(t); got != "{1:IN 2:IN}" {
		t.Fatalf("interest set %s", got)
	}
}

func TestChangesArgumentErrorsAreImmediate(t *testing.T) {
	c := NewChanges(newInstance(t))
	if err := c.Add(-1, In, 0); !errors.Is(err, unix.EBADF) {
		t.Errorf("Add(-1) = %v, want EBADF", err)
	}
	if err := c.Modify(3, 1<<20, 0); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Modify with unknown bits = %v, want EINVAL", err)
	}
	if err := c.Delete(-2); !errors.Is(err, unix.EBADF) {
		t.Errorf("Delete(-2) = %v, want EBADF", err)
	}
	if c.Len() != 0 {
		t.Errorf("refused calls were queued: Len = %d", c.Len())
	}
}

func TestChangesFlushOnClosedInstanceReturnsErrClosed(t *testing.T) {
	ep := newInstance(t)
	c := NewChanges(ep)
	c.Add(eventfds(t, 1)[0], In, 0)
	ep.Close()
	if _, err := c.Flush(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush = %v, want ErrClosed", err)
	}
	if c.Len() != 0 {
		t.Fatalf("Len = %d after a closed Flush, want 0", c.Len())
	}
}

// countingPoller is a Poller that is not an Instance: it counts the
// BatchAll calls it passes on.
type countingPoller struct {
	*Instance
	batches int
}

func (p *countingPoller) BatchAll(cmds []Cmd) (int, error) {
	p.batches++
	return p.Instance.BatchAll(cmds)
}

// TestChangesFlushesAnyNumberInOneBatch: Changes runs on any Poller, and
// Flush hands its BatchAll the whole list, whatever its length; merging
// still applies across it.
func TestChangesFlushesAnyNumberInOneBatch(t *testing.T) {
	const n = 3000
	fdtest.RaiseLimit(t, n+500)
	ep := newInstance(t)
	fds := eventfds(t, n)
	p := &countingPoller{Instance: ep}
	c := NewChanges(p)
	for i, fd := range fds {
		c.Add(fd, In, uint64(i))
	}
	c.Delete(fds[0])
	c.Add(fds[0], In, 0)
	c.Modify(fds[len(fds)-1], Out, 1) // merges into its Add
	c.Delete(fds[len(fds)-2])         // cancels its Add
	cmds := changesFlush(t, c)
	if len(cmds) != len(fds)-1 || p.batches != 1 {
		t.Fatalf("Flush sent %d commands in %d BatchAll calls, want %d in one", len(cmds), p.batches, len(fds)-1)
	}
	evs := make([]Event, len(fds))
	for _, fd := range fds {
		fdtest.Signal(t, fd)
	}
	if n, err := ep.Wait(evs, 0); n != len(fds)-1 || err != nil {
		t.Fatalf("Wait = %d, %v; want %d registrations", n, err, len(fds)-1)
	}
}

// TestChangesFlushAllocatesNothing: the steady state of an event loop.
func TestChangesFlushAllocatesNothing(t *testing.T) {
	_, fds, c := changesOn(t, 64)
	allocs := testing.AllocsPerRun(50, func() {
		for i, fd := range fds {
			c.Add(fd, In, uint64(i))
		}
		changesFlush(t, c)
		for i, fd := range fds {
			c.Modify(fd, Out, uint64(i))
			c.Modify(fd, In|Out, uint64(i))
		}
		changesFlush(t, c)
		for _, fd := range fds {
			c.Delete(fd)
		}
		changesFlush(t, c)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per loop iteration, want 0", allocs)
	}
}

// TestChangesMatchesCallsInOrder drives random Add/Modify/Delete sequences
// through Changes and, call by call, through Instance on a twin instance,
// and requires the same interest set after every Flush: merging never
// changes what the kernel ends up with.
func TestChangesMatchesCallsInOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fds := eventfds(t, 6)
	evsets := []Events{In, Out, In | Out, In | Edge, Out | OneShot, In | Exclusive}
	for round := range 40 {
		a, b := newInstance(t), newInstance(t)
		c := NewChanges(a)
		for flush := range 5 {
			for range 20 {
				fd := fds[rng.IntN(len(fds))]
				ev := evsets[rng.IntN(len(evsets))]
				data := uint64(rng.IntN(3))
				twinCall(c, b, rng.IntN(3), fd, ev, data)
			}
			sameInterest(t, c, a, b, fds, fmt.Sprintf("round %d flush %d", round, flush))
		}
		a.Close()
		b.Close()
	}
}

// FuzzChangesMatchesCallsInOrder is TestChangesMatchesCallsInOrder with
// the call sequence (and the Flush points) chosen by the fuzzer.
func FuzzChangesMatchesCallsInOrder(f *testing.F) {
	f.Add([]byte{0, 0, 1, 1, 0, 2, 2, 0, 0, 3, 0, 0})
	f.Add([]byte{2, 1, 0, 0, 1, 0, 1, 1, 4, 3, 1, 0, 2, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 3*64 {
			data = data[:3*64]
		}
		fds := eventfds(t, 4)
		evsets := []Events{In, Out, In | Out, In | Edge, Out | OneShot, In | Exclusive, 0}
		a, b := newInstance(t), newInstance(t)
		c := NewChanges(a)
		for i := 0; i+3 <= len(data); i += 3 {
			fd := fds[int(data[i+1])%len(fds)]
			ev := evsets[int(data[i+2]>>1)%len(evsets)]
			d := uint64(data[i+2] & 1)
			if op := int(data[i] % 4); op < 3 {
				twinCall(c, b, op, fd, ev, d)
			} else {
				sameInterest(t, c, a, b, fds, fmt.Sprintf("after op %d", i/3))
			}
		}
		sameInterest(t, c, a, b, fds, "at the end")
	})
}

// TestChangesForgetAfterCloseWithoutDelete: a loop that closes a
// registered descriptor without a Delete calls Forget, after which Changes
// treats the next file to get the number as new: a Modify to the old mask
// reaches the kernel (and fails with ENOENT, as it would without Changes)
// instead of being dropped as a no-op, and an Add and a Modify merge.
// Forget leaves queued commands alone.
func TestChangesForgetAfterCloseWithoutDelete(t *testing.T) {
	ep := newInstance(t)
	c := NewChanges(ep)
	old, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	c.Add(old, In, 1)
	changesFlush(t, c)
	unix.Close(old) // no Delete: the kernel drops the registration itself
	fresh := fdtest.Eventfd(t)
	if fresh != old {
		t.Skipf("the kernel did not reuse fd %d (got %d)", old, fresh)
	}
	c.Modify(fresh, In, 1)
	if c.Len() != 0 {
		t.Fatalf("before Forget, Len = %d: the stale knowledge no longer drops the Modify; the test cannot tell", c.Len())
	}
	c.Forget(fresh)
	c.Modify(fresh, In, 1)
	if c.Len() != 1 {
		t.Fatalf("after Forget, Len = %d: the Modify of an fd Changes no longer knows was dropped", c.Len())
	}
	cmds, err := c.Flush()
	if len(cmds) != 1 || !errors.Is(err, unix.ENOENT) {
		t.Fatalf("Flush = %+v, %v; want the Modify refused with ENOENT, as the kernel has no registration", cmds, err)
	}
	c.Add(fresh, In, 2)
	c.Modify(fresh, Out, 3)
	if c.Len() != 1 {
		t.Fatalf("Len = %d: Add then Modify of an unregistered fd did not merge", c.Len())
	}
	c.Forget(fresh)
	if c.Len() != 1 {
		t.Fatalf("Forget dropped a queued command: Len = %d", c.Len())
	}
	changesFlush(t, c)
	if got := changesInterest(t, ep, []int{fresh}); got != "{3:OUT}" {
		t.Fatalf("interest set %s, want {3:OUT}", got)
	}
}

// TestChangesStateIsSixteenBytes keeps the per-descriptor table at 16
// bytes an entry (an event loop has one per descriptor number), and checks
// that the packed index and registration state do not overwrite each other.
func TestChangesStateIsSixteenBytes(t *testing.T) {
	if n := unsafe.Sizeof(fdState{}); n != 16 {
		t.Fatalf("fdState is %d bytes; want 16", n)
	}
	for _, reg := range []uint8{regNo, regYes, regUnknown} {
		for _, p := range []int32{0, 1, 12345, pendMask} {
			var st fdState
			st.setPending(pendMask)
			st.know(reg, In|Edge|OneShot, 1<<64-1)
			st.setPending(p)
			if st.reg() != reg || st.pending() != p || st.ev != In|Edge|OneShot || st.data != 1<<64-1 {
				t.Fatalf("reg %d pending %d: read back reg %d pending %d ev %v data %x", reg, p, st.reg(), st.pending(), st.ev, st.data)
			}
		}
	}
}

// TestChangesRefuseCommandsPastTheQueueBound lowers the bound and checks
// that Add, Modify and Delete return ENOSPC at it, queue nothing, and take
// commands again after a Flush.
func TestChangesRefuseCommandsPastTheQueueBound(t *testing.T) {
	defer func(n int) { maxQueued = n }(maxQueued)
	maxQueued = 2
	ep, fds, c := changesOn(t, 3)
	if err := c.Add(fds[0], In, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Add(fds[1], In, 2); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"Add": c.Add(fds[2], In, 3), "Modify": c.Modify(fds[2], In, 3), "Delete": c.Delete(fds[0]),
	} {
		if !errors.Is(err, unix.ENOSPC) {
			t.Errorf("%s with %d commands queued: %v; want ENOSPC", name, maxQueued, err)
		}
	}
	if cmds := changesFlush(t, c); len(cmds) != 2 {
		t.Fatalf("Flush applied %d commands; want the 2 queued", len(cmds))
	}
	if err := c.Add(fds[2], In, 3); err != nil {
		t.Fatalf("Add after Flush: %v", err)
	}
	changesFlush(t, c)
	if got, want := changesInterest(t, ep, fds), "{1:IN 2:IN 3:IN}"; got != want {
		t.Fatalf("interest %s; want %s (the refused commands queued nothing)", got, want)
	}
}
