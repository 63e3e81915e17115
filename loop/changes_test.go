package loop

import (
	"errors"
	"runtime"
	"testing"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// changesIn runs f on the loop's goroutine (one iteration) and returns how
// many commands reached the kernel in batches since before it. It reads
// the loop goroutine's own counter, on that goroutine, in the iterations
// before and after f's: the published Stats may lag by an iteration.
func changesIn(t *testing.T, l *Loop, f func()) uint64 {
	t.Helper()
	var before, after uint64
	onLoop(t, l, func() { before = l.st.changes })
	onLoop(t, l, f)
	onLoop(t, l, func() { after = l.st.changes })
	return after - before
}

// TestChangesMergePerRegistration: the changes one iteration makes to one
// registration reach the kernel as at most one command, with the last
// events asked for.
func TestChangesMergePerRegistration(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		efd := fdtest.Eventfd(t)
		other := fdtest.Eventfd(t)
		rec := newRecorder()
		tok, err := l.Register(other, epoll.In, newRecorder())
		if err != nil {
			t.Fatal(err)
		}
		start(t, l)

		var added Token
		n := changesIn(t, l, func() {
			var err error
			if added, err = l.Register(efd, epoll.Out, rec); err != nil {
				t.Error(err)
			}
			if err := l.Modify(added, epoll.In|epoll.Edge); err != nil {
				t.Error(err)
			}
		})
		if n != 1 {
			t.Errorf("Register then Modify: %d commands, want 1 (the Add with the Modify's events)", n)
		}
		fdtest.Signal(t, efd)
		rec.waitFor(t)
		rec.mu.Lock()
		first := rec.evs[0]
		rec.mu.Unlock()
		if first != epoll.In {
			t.Errorf("first event %v, want IN alone: the merged Add kept the Register's events", first)
		}

		if n := changesIn(t, l, func() {
			l.Modify(tok, epoll.Out)
			l.Modify(tok, epoll.In|epoll.Out)
			l.Modify(tok, epoll.In|epoll.Edge)
		}); n != 1 {
			t.Errorf("three Modifies: %d commands, want 1", n)
		}
		if n := changesIn(t, l, func() {
			l.Modify(tok, epoll.In|epoll.Edge)
		}); n != 1 {
			t.Errorf("a Modify to the same events with Edge: %d commands, want 1 (it asks for a fresh edge)", n)
		}
		if n := changesIn(t, l, func() {
			l.Modify(tok, epoll.In)
			l.Modify(tok, epoll.In|epoll.Edge)
		}); n != 1 {
			t.Errorf("two Modifies back to the applied events with Edge: %d commands, want 1", n)
		}
		if n := changesIn(t, l, func() {
			l.Modify(tok, epoll.In)
		}); n != 1 {
			t.Errorf("a Modify to level-triggered IN: %d commands, want 1", n)
		}
		if n := changesIn(t, l, func() {
			l.Modify(tok, epoll.In)
		}); n != 0 {
			t.Errorf("a Modify that changes nothing on a level-triggered registration: %d commands, want 0", n)
		}
		if n := changesIn(t, l, func() {
			l.Modify(tok, epoll.Out)
			if err := l.Unregister(tok); err != nil {
				t.Error(err)
			}
		}); n != 1 {
			t.Errorf("Modify then Unregister: %d commands, want 1 (the Delete)", n)
		}
		if l.Registered(tok) {
			t.Error("still registered after Unregister")
		}
	})
}

// TestUnregisteringADuplicateInItsIterationLeavesTheFirst: a second
// Register of a descriptor already registered, taken back in the same
// iteration, never reaches the kernel, so the first registration keeps
// its events. (Merged per descriptor, the pair would be an Add the kernel
// refuses with EEXIST and a Delete that removes the first registration.)
func TestUnregisteringADuplicateInItsIterationLeavesTheFirst(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		efd := fdtest.Eventfd(t)
		first := newRecorder()
		if _, err := l.Register(efd, epoll.In|epoll.Edge, first); err != nil {
			t.Fatal(err)
		}
		start(t, l)
		if n := changesIn(t, l, func() {
			dup, err := l.Register(efd, epoll.In|epoll.Edge, newRecorder())
			if err != nil {
				t.Error(err)
				return
			}
			if err := l.Unregister(dup); err != nil {
				t.Errorf("Unregister of the duplicate: %v", err)
			}
		}); n != 0 {
			t.Errorf("%d commands reached the kernel, want 0", n)
		}
		fdtest.Signal(t, efd)
		first.waitFor(t)
	})
}

// TestModifyOfAnExclusiveRegistrationIsRefusedAtOnce: the kernel refuses
// EPOLL_CTL_MOD of an EPOLLEXCLUSIVE registration; the loop says so when
// Modify is called, not later through the fault handler, and the
// registration goes on as it was.
func TestModifyOfAnExclusiveRegistrationIsRefusedAtOnce(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		if l.Caps()&epoll.CapExclusive == 0 {
			t.Skipf("engine %v cannot register Exclusive", l.Engine())
		}
		efd := fdtest.Eventfd(t)
		rec := newRecorder()
		tok, err := l.Register(efd, epoll.In|epoll.Exclusive, rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Modify(tok, epoll.In|epoll.Out); !errors.Is(err, unix.EINVAL) {
			t.Errorf("Modify before Run: %v, want EINVAL", err)
		}
		start(t, l)
		onLoop(t, l, func() {
			if err := l.Modify(tok, epoll.Out); !errors.Is(err, unix.EINVAL) {
				t.Errorf("Modify in the loop: %v, want EINVAL", err)
			}
		})
		fdtest.Signal(t, efd)
		rec.waitFor(t)
	})
}

// TestEventBitsEpollDoesNotKnowAreRefused: Register and Modify refuse
// event bits epoll has no meaning for, among them the two the loop uses
// for its own book-keeping.
func TestEventBitsEpollDoesNotKnowAreRefused(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		efd := fdtest.Eventfd(t)
		for _, bit := range []epoll.Events{1 << 26, 1 << 27, 0x800} {
			if _, err := l.Register(efd, epoll.In|bit, newRecorder()); !errors.Is(err, unix.EINVAL) {
				t.Errorf("Register with %#x: %v, want EINVAL", uint32(bit), err)
			}
		}
		tok, err := l.Register(efd, epoll.In, newRecorder())
		if err != nil {
			t.Fatal(err)
		}
		for _, bit := range []epoll.Events{1 << 26, 1 << 27} {
			if err := l.Modify(tok, epoll.In|bit); !errors.Is(err, unix.EINVAL) {
				t.Errorf("Modify with %#x: %v, want EINVAL", uint32(bit), err)
			}
		}
	})
}

// TestRegisteringAHighDescriptorNumberAllocatesNoTable: the loop keeps
// what it registers per registration, not in a table indexed by descriptor
// number that grows to the highest number it has seen (16 bytes a number
// in epoll.Changes: 256 KiB for one descriptor numbered 16,000).
func TestRegisteringAHighDescriptorNumberAllocatesNoTable(t *testing.T) {
	const high = 16000
	fdtest.RaiseLimit(t, high+1)
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		low := fdtest.Eventfd(t)
		if _, err := l.Register(low, epoll.In, newRecorder()); err != nil {
			t.Fatal(err)
		}
		fd := high
		if err := unix.Dup3(low, fd, unix.O_CLOEXEC); err != nil {
			t.Skipf("dup3 to %d: %v", fd, err)
		}
		defer unix.Close(fd)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		tok, err := l.Register(fd, epoll.In|epoll.Edge, newRecorder())
		if err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<10 {
			t.Errorf("Register of descriptor %d allocated %d bytes, want < 32 KiB", high, grew)
		}
		if err := l.Unregister(tok); err != nil {
			t.Fatal(err)
		}
	})
}
