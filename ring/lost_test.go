package ring

import (
	"errors"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// closedWithDup registers a new eventfd at number f with data, makes it
// readable, and closes f while a duplicate keeps its file open: the
// kernel's epoll registration of that file outlives the number. f is high,
// so that no descriptor the test or the ring opens next takes it.
func closedWithDup(t *testing.T, r *Ring, f int, data uint64) int {
	t.Helper()
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	err = unix.Dup3(efd, f, unix.O_CLOEXEC)
	unix.Close(efd)
	if err != nil {
		t.Fatal(err)
	}
	d, err := unix.Dup(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(d) })
	if err := r.Add(f, epoll.In, data); err != nil {
		t.Fatal(err)
	}
	fdtest.Signal(t, d)
	unix.Close(f)
	return f
}

// Delete after close while a duplicate lives: the kernel's registration
// survives and DEL by number cannot find it (EBADF). Its events must not
// reach the caller, and a level-triggered one must not make Wait spin
// through a stream of stale completions: Wait's CPU time stays a fraction
// of the time it waits. Other registrations keep working.
func TestDeleteAfterCloseWithALiveDupNeitherSpinsNorDelivers(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		r := newTestRing(t, 4, WithEngine(e))
		other := fdtest.Eventfd(t)
		if err := r.Add(other, epoll.In|epoll.Edge, 2); err != nil {
			t.Fatal(err)
		}
		f := closedWithDup(t, r, 900, 1)
		if err := r.Delete(f); !errors.Is(err, unix.EBADF) || r.Len() != 1 {
			t.Fatalf("Delete after close = %v, Len %d; want EBADF, 1", err, r.Len())
		}
		const wait = 300 * time.Millisecond
		evs := make([]epoll.Event, 16)
		before, start := cpuTime(t), time.Now()
		for left := wait; left > 0; left = wait - time.Since(start) {
			k, err := r.Wait(evs, left)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs[:k] {
				t.Errorf("event %v with data %d after Delete", ev.Events, ev.Data())
			}
		}
		if used := cpuTime(t) - before; used > wait/2 {
			t.Errorf("Wait(%v) used %v of CPU (stats %+v)", wait, used, r.Stats())
		}
		fdtest.Signal(t, other)
		if got := waitN(t, r, 1, arrive); len(got) != 1 || got[0].Data() != 2 {
			t.Fatalf("the other registration after the lost one: %v", got)
		}
		if e == EngineEpollWait && r.Stats().Rebuilt != 1 {
			t.Errorf("Rebuilt = %d, want 1", r.Stats().Rebuilt)
		}
	})
}

// When EngineEpollWait rebuilds its epoll instance, a registration whose
// number was closed without Delete cannot be carried over by number: it is
// reported once with Err and then answers as the kernel does. A OneShot
// registration that had fired stays quiet until Modify re-arms it.
func TestRebuildReportsRegistrationsItCannotCarryAndKeepsOneShotDisarmed(t *testing.T) {
	r := newTestRing(t, 8, WithEngine(EngineEpollWait))
	rd, wr := fdtest.Pipe(t)
	if err := r.Add(rd, epoll.In|epoll.OneShot, 3); err != nil {
		t.Fatal(err)
	}
	unix.Write(wr, []byte("x")) // stays unread: the OneShot fires once
	if got := waitN(t, r, 1, arrive); len(got) != 1 || got[0].Data() != 3 {
		t.Fatalf("OneShot: %v", got)
	}
	kept := closedWithDup(t, r, 900, 4) // closed without Delete, still open through a dup
	lost := closedWithDup(t, r, 901, 5) // closed, then Delete: the kernel keeps it
	if err := r.Delete(lost); !errors.Is(err, unix.EBADF) {
		t.Fatalf("Delete after close = %v, want EBADF", err)
	}
	var kept4 int
	for _, ev := range collect(t, r) {
		switch {
		case ev.Data() == 4 && ev.Events == epoll.Err:
			kept4++
		case ev.Data() == 4 && ev.Events&epoll.In != 0:
			// Reported before the rebuild, while its file was still there.
		default:
			t.Errorf("event %v with data %d", ev.Events, ev.Data())
		}
	}
	if st := r.Stats(); st.Rebuilt != 1 || st.Lost != 1 || kept4 != 1 {
		t.Fatalf("Rebuilt %d, Lost %d, Err for the closed registration %d times; want 1, 1, 1", st.Rebuilt, st.Lost, kept4)
	}
	if err := r.Delete(kept); !errors.Is(err, unix.EBADF) {
		t.Errorf("Delete of the lost registration's closed number = %v, want EBADF", err)
	}
	if err := r.Modify(rd, epoll.In|epoll.OneShot, 6); err != nil {
		t.Fatal(err)
	}
	if got := waitN(t, r, 1, arrive); len(got) != 1 || got[0].Data() != 6 {
		t.Fatalf("OneShot re-armed by Modify after the rebuild: %v", got)
	}
}
