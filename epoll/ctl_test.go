package epoll

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// waitN waits up to d and returns the events.
func waitN(t *testing.T, ep *Instance, d time.Duration) []Event {
	t.Helper()
	evs := make([]Event, 16)
	n, err := ep.Wait(evs, d)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return evs[:n]
}

// The 2002 patch lost readiness that happened before the fd was added; the
// kernel now polls the file during EPOLL_CTL_ADD.
func TestAddWhileReadyReportsImmediately(t *testing.T) {
	for _, mode := range []Events{0, Edge, OneShot} {
		ep := newInstance(t)
		r, w := fdtest.Pipe(t)
		unix.Write(w, []byte("x"))
		if err := ep.Add(r, In|mode, 7); err != nil {
			t.Fatal(err)
		}
		got := waitN(t, ep, 0)
		if len(got) != 1 || got[0].Data() != 7 || got[0].Events&In == 0 {
			t.Errorf("mode %v: poll after Add of a ready pipe = %v, want one IN event", mode, got)
		}
	}
}

func TestLevelTriggeredReportsUntilDrained(t *testing.T) {
	ep := newInstance(t)
	r, w := fdtest.Pipe(t)
	if err := ep.Add(r, In, 1); err != nil {
		t.Fatal(err)
	}
	unix.Write(w, []byte("abc"))
	for i := 0; i < 5; i++ {
		if got := waitN(t, ep, 0); len(got) != 1 {
			t.Fatalf("round %d: level-triggered pipe with data reported %d events, want 1", i, len(got))
		}
	}
	var b [1]byte
	unix.Read(r, b[:]) // partly drained: still readable
	if got := waitN(t, ep, 0); len(got) != 1 {
		t.Fatalf("partly drained pipe reported %d events, want 1", len(got))
	}
	var rest [8]byte
	unix.Read(r, rest[:])
	if got := waitN(t, ep, 0); len(got) != 0 {
		t.Fatalf("drained pipe still reported %v", got)
	}
}

func TestEdgeTriggeredReportsOncePerEdge(t *testing.T) {
	ep := newInstance(t)
	r, w := fdtest.Pipe(t)
	if err := ep.Add(r, In|Edge, 1); err != nil {
		t.Fatal(err)
	}
	for edge := 0; edge < 3; edge++ {
		unix.Write(w, []byte("x")) // not drained in between: each write is a new edge
		if got := waitN(t, ep, time.Second); len(got) != 1 {
			t.Fatalf("edge %d: got %d events, want 1", edge, len(got))
		}
		for i := 0; i < 3; i++ {
			if got := waitN(t, ep, 0); len(got) != 0 {
				t.Fatalf("edge %d: reported again without a new edge: %v", edge, got)
			}
		}
	}
}

func TestOneShotReportsOnceUntilModifyRearms(t *testing.T) {
	ep, efd := watching(t, In|OneShot, 1)
	fdtest.Signal(t, efd)
	if got := waitN(t, ep, time.Second); len(got) != 1 || got[0].Data() != 1 {
		t.Fatalf("first wait = %v, want one event", got)
	}
	fdtest.Signal(t, efd)
	if got := waitN(t, ep, 10*time.Millisecond); len(got) != 0 {
		t.Fatalf("disarmed OneShot reported %v", got)
	}
	if err := ep.Modify(efd, In|OneShot, 2); err != nil {
		t.Fatal(err)
	}
	if got := waitN(t, ep, time.Second); len(got) != 1 || got[0].Data() != 2 {
		t.Fatalf("after Modify re-armed: %v, want one event with data 2", got)
	}
	if got := waitN(t, ep, 0); len(got) != 0 {
		t.Fatalf("re-armed OneShot reported twice: %v", got)
	}
}

// With Exclusive, one event on a shared file wakes one of the instances
// blocked on it; without it, every instance is woken (the thundering herd).
func TestExclusiveWakesOneWaiterNotAll(t *testing.T) {
	const waiters, rounds = 4, 30
	count := func(flag Events) (wakes int) {
		efd := fdtest.Eventfd(t)
		var eps []*Instance
		for i := 0; i < waiters; i++ {
			ep := newInstance(t)
			if err := ep.Add(efd, In|Edge|flag, uint64(i)); err != nil {
				t.Fatal(err)
			}
			eps = append(eps, ep)
		}
		var woken atomic.Int64
		for r := 0; r < rounds; r++ {
			var started, done sync.WaitGroup
			for _, ep := range eps {
				started.Add(1)
				done.Add(1)
				go func(ep *Instance) {
					defer done.Done()
					evs := make([]Event, 1)
					started.Done()
					n, err := ep.Wait(evs, 100*time.Millisecond)
					if err != nil {
						t.Error(err)
					}
					woken.Add(int64(n))
				}(ep)
			}
			started.Wait()
			time.Sleep(20 * time.Millisecond) // let every waiter block in the kernel
			fdtest.Signal(t, efd)
			done.Wait()
			fdtest.Drain(efd)
		}
		return int(woken.Load())
	}
	excl := count(Exclusive)
	herd := count(0)
	t.Logf("over %d rounds with %d waiters: Exclusive woke %d, plain woke %d", rounds, waiters, excl, herd)
	// A waiter that had not yet blocked when the write came may also see the
	// edge, so allow a little over one per round; the herd wakes all.
	if excl > rounds*3/2 {
		t.Errorf("Exclusive woke %d waiters in %d rounds, want about one per round", excl, rounds)
	}
	if herd < rounds*waiters*3/4 {
		t.Errorf("control without Exclusive woke only %d of %d: the test cannot tell", herd, rounds*waiters)
	}
}

func TestNestedInstancePropagatesReadiness(t *testing.T) {
	outer := newInstance(t)
	inner := newInstance(t)
	efd := fdtest.Eventfd(t)
	if err := inner.Add(efd, In, 11); err != nil {
		t.Fatal(err)
	}
	if err := outer.Add(inner.Fd(), In, 22); err != nil {
		t.Fatal(err)
	}
	if got := waitN(t, outer, 0); len(got) != 0 {
		t.Fatalf("outer ready before anything happened: %v", got)
	}
	fdtest.Signal(t, efd)
	got := waitN(t, outer, time.Second)
	if len(got) != 1 || got[0].Data() != 22 {
		t.Fatalf("outer = %v, want the inner instance (22) readable", got)
	}
	if got := waitN(t, inner, 0); len(got) != 1 || got[0].Data() != 11 {
		t.Fatalf("inner = %v, want the eventfd (11)", got)
	}
}

// Adding an instance to itself is refused with EINVAL by the kernel; a
// cycle of two instances with ELOOP.
func TestAddSelfIsInvalidAndCycleIsELOOP(t *testing.T) {
	a := newInstance(t)
	b := newInstance(t)
	if err := a.Add(a.Fd(), In, 0); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Add(self) = %v, want EINVAL", err)
	}
	if err := a.Add(b.Fd(), In, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(a.Fd(), In, 0); !errors.Is(err, unix.ELOOP) {
		t.Errorf("cycle = %v, want ELOOP", err)
	}
}

func TestRegularFileIsNotPollable(t *testing.T) {
	ep := newInstance(t)
	f, err := os.Create(filepath.Join(t.TempDir(), "plain"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = ep.Add(int(f.Fd()), In, 0)
	if !errors.Is(err, ErrNotPollable) || !errors.Is(err, unix.EPERM) {
		t.Fatalf("Add(regular file) = %v, want ErrNotPollable wrapping EPERM", err)
	}
}

func TestCtlErrorsKeepErrno(t *testing.T) {
	ep := newInstance(t)
	efd := fdtest.Eventfd(t)
	closed, _ := unix.Eventfd(0, unix.EFD_CLOEXEC)
	unix.Close(closed)
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"Add negative fd", ep.Add(-1, In, 0), unix.EBADF},
		{"Add closed fd", ep.Add(closed, In, 0), unix.EBADF},
		{"Modify unregistered", ep.Modify(efd, In, 0), unix.ENOENT},
		{"Delete unregistered", ep.Delete(efd), unix.ENOENT},
		{"Delete negative fd", ep.Delete(-5), unix.EBADF},
		{"Add unknown bits", ep.Add(efd, In|1<<20, 0), unix.EINVAL},
		{"Add Exclusive|OneShot", ep.Add(efd, In|Exclusive|OneShot, 0), unix.EINVAL},
		{"Modify with Exclusive", ep.Modify(efd, In|Exclusive, 0), unix.EINVAL},
	} {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.err, c.want)
		}
	}
	if err := ep.Add(efd, In|Exclusive, 0); err != nil {
		t.Fatal(err)
	}
	if err := ep.Add(efd, In, 0); !errors.Is(err, unix.EEXIST) {
		t.Errorf("Add twice = %v, want EEXIST", err)
	}
	// The kernel refuses to modify an exclusive registration.
	if err := ep.Modify(efd, In, 0); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Modify of an Exclusive registration = %v, want EINVAL", err)
	}
	if err := ep.Delete(efd); err != nil {
		t.Errorf("Delete: %v", err)
	}
}

// A registration follows the open file description: closing one fd number
// while a dup keeps the file open leaves it alive, and its events keep coming
// with the old data. This is why the docs say to Delete before close.
func TestRegistrationFollowsOpenFileNotNumber(t *testing.T) {
	ep := newInstance(t)
	r, w := fdtest.Pipe(t)
	dup, err := unix.Dup(r)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dup)
	if err := ep.Add(dup, In, 99); err != nil {
		t.Fatal(err)
	}
	unix.Close(dup) // the dup's number is gone; r keeps the file open
	unix.Write(w, []byte("x"))
	got := waitN(t, ep, time.Second)
	if len(got) != 1 || got[0].Data() != 99 {
		t.Fatalf("after closing the registered number: %v, want the old registration to fire", got)
	}
}

func TestModifyChangesInterestAndData(t *testing.T) {
	ep := newInstance(t)
	r, w := fdtest.Pipe(t)
	if err := ep.Add(w, Out, 1); err != nil {
		t.Fatal(err)
	}
	if got := waitN(t, ep, 0); len(got) != 1 || got[0].Events != Out {
		t.Fatalf("empty pipe write end = %v, want OUT", got)
	}
	if err := ep.Modify(w, In, 2); err != nil { // a write end is never readable
		t.Fatal(err)
	}
	if got := waitN(t, ep, 0); len(got) != 0 {
		t.Fatalf("after Modify to IN: %v, want nothing", got)
	}
	unix.Close(r) // the reader goes away: ERR is reported whatever was asked
	if got := waitN(t, ep, 0); len(got) != 1 || got[0].Events&Err == 0 || got[0].Data() != 2 {
		t.Fatalf("after the read end closed: %v, want ERR with data 2", got)
	}
}
