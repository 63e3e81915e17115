package ring

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// batchFixture is what the BatchAll tests register: eventfds, a regular
// file (EPERM), and a number known to be closed (EBADF).
type batchFixture struct {
	efds   []int
	file   int
	closed int
}

func newBatchFixture(t *testing.T, n int) batchFixture {
	t.Helper()
	fx := batchFixture{efds: make([]int, n)}
	for i := range fx.efds {
		fx.efds[i] = fdtest.Eventfd(t)
	}
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fx.file = int(f.Fd())
	// A number far above what this test opens stays closed.
	fx.closed = 1000
	return fx
}

// fds lists every descriptor a command may name.
func (fx batchFixture) fds() []int { return append(slices.Clone(fx.efds), fx.file, fx.closed) }

// applyOneByOne runs cmds as Add, Modify and Delete calls and returns
// their results.
func applyOneByOne(r *Ring, cmds []epoll.Cmd) []error {
	res := make([]error, len(cmds))
	for i, c := range cmds {
		switch c.Op {
		case epoll.OpAdd:
			res[i] = r.Add(c.Fd, c.Events, c.Data)
		case epoll.OpModify:
			res[i] = r.Modify(c.Fd, c.Events, c.Data)
		case epoll.OpDelete:
			res[i] = r.Delete(c.Fd)
		}
	}
	return res
}

// delivered makes every eventfd readable and returns the data of the
// events each ring reports, sorted.
func delivered(t *testing.T, fx batchFixture, rings ...*Ring) [][]uint64 {
	t.Helper()
	for _, fd := range fx.efds {
		fdtest.Signal(t, fd)
	}
	out := make([][]uint64, len(rings))
	evs := make([]epoll.Event, 64)
	for i, r := range rings {
		// Until a wait brings nothing new: level-triggered registrations
		// report on every wait.
		seen := map[uint64]bool{}
		for grew := true; grew; {
			k, err := r.Wait(evs, 20*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			grew = false
			for _, ev := range evs[:k] {
				grew = grew || !seen[ev.Data()]
				seen[ev.Data()] = true
			}
		}
		for d := range seen {
			out[i] = append(out[i], d)
		}
		slices.Sort(out[i])
	}
	for _, fd := range fx.efds {
		fdtest.Drain(fd)
	}
	return out
}

// checkBatchMatches runs cmds through BatchAll on one ring and one by one
// on another, and fails the test where they differ: a Result, the count,
// the first failure, Len, or which registrations report.
func checkBatchMatches(t *testing.T, fx batchFixture, seq, bat *Ring, cmds []epoll.Cmd) {
	t.Helper()
	want := applyOneByOne(seq, cmds)
	n, err := bat.BatchAll(cmds)
	ok, first := 0, -1
	for i, c := range cmds {
		if fmt.Sprint(c.Result) != fmt.Sprint(want[i]) {
			t.Errorf("command %d %v fd %d %v: BatchAll Result %v, one by one %v", i, c.Op, c.Fd, c.Events, c.Result, want[i])
		}
		if want[i] == nil {
			ok++
		} else if first < 0 {
			first = i
		}
	}
	var be *epoll.BatchError
	switch {
	case n != ok:
		t.Errorf("BatchAll = %d succeeded, one by one %d", n, ok)
	case first < 0 && err != nil, first >= 0 && (!errors.As(err, &be) || be.Index != first):
		t.Errorf("BatchAll error %v, first failure one by one at %d", err, first)
	}
	if seq.Len() != bat.Len() {
		t.Errorf("Len: BatchAll %d, one by one %d", bat.Len(), seq.Len())
	}
	if got := delivered(t, fx, seq, bat); !slices.Equal(got[0], got[1]) {
		t.Errorf("registrations reporting: BatchAll %v, one by one %v", got[1], got[0])
	}
}

// BatchAll gives each command the Result its own call would have had, in
// order, whatever the commands before it did: a registration made or
// removed earlier in the batch, a full ring, refusals of every kind.
func TestBatchAllGivesTheResultsOfTheSameCallsOneByOne(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		fdtest.Check(t)
		seq := openRing(t, 3, WithEngine(e))
		bat := openRing(t, 3, WithEngine(e))
		fx := newBatchFixture(t, 4)
		a, b, c, d := fx.efds[0], fx.efds[1], fx.efds[2], fx.efds[3]
		in := epoll.In | epoll.Edge
		cmds := []epoll.Cmd{
			{Op: epoll.OpAdd, Fd: a, Events: in, Data: 1},
			{Op: epoll.OpModify, Fd: a, Events: in, Data: 2}, // made earlier in the batch
			{Op: epoll.OpAdd, Fd: a, Events: in, Data: 3},    // EEXIST
			{Op: epoll.OpModify, Fd: b, Events: in, Data: 4}, // ENOENT
			{Op: epoll.OpAdd, Fd: fx.file, Events: in},       // EPERM
			{Op: epoll.OpAdd, Fd: fx.closed, Events: in},     // EBADF
			{Op: epoll.OpAdd, Fd: b, Events: in, Data: 5},    //
			{Op: epoll.OpAdd, Fd: c, Events: in, Data: 6},    // the ring is full now
			{Op: epoll.OpAdd, Fd: d, Events: in, Data: 7},    // ENOSPC
			{Op: epoll.OpDelete, Fd: b},                      // frees a slot
			{Op: epoll.OpAdd, Fd: d, Events: in, Data: 8},    // fits again
			{Op: epoll.OpDelete, Fd: fx.closed},              // ENOENT
			{Op: epoll.OpModify, Fd: c, Events: epoll.Out, Data: 9},
		}
		checkBatchMatches(t, fx, seq, bat, cmds)
	})
}

// FuzzBatchAllMatchesOneByOne compares BatchAll with the same commands
// made one by one, on either engine, for any sequence of commands on a few
// descriptors and a ring of three slots.
func FuzzBatchAllMatchesOneByOne(f *testing.F) {
	f.Add(uint8(0), []byte{1, 0, 1, 3, 0, 2, 1, 1, 1, 1, 2, 1, 1, 3, 1, 2, 0, 0, 1, 4, 1, 1, 5, 1})
	f.Add(uint8(1), []byte{1, 0, 0, 1, 1, 8, 1, 2, 1, 1, 3, 2, 2, 1, 0, 1, 1, 9, 3, 2, 0, 2, 0, 0})
	f.Fuzz(func(t *testing.T, engine uint8, prog []byte) {
		e := engines[engine&1]
		fdtest.Check(t)
		seq := openRing(t, 3, WithEngine(e))
		bat := openRing(t, 3, WithEngine(e))
		fx := newBatchFixture(t, 4)
		fds := fx.fds()
		var cmds []epoll.Cmd
		for i := 0; i+2 < len(prog) && len(cmds) < 32; i += 3 {
			c := epoll.Cmd{Op: epoll.Op(prog[i]%3 + 1), Fd: fds[int(prog[i+1])%len(fds)], Data: uint64(len(cmds))}
			// In, Out, Edge, OneShot, and Exclusive where it is valid.
			bits := prog[i+2]
			for k, ev := range []epoll.Events{epoll.In, epoll.Out, epoll.Edge, epoll.OneShot} {
				if bits&(1<<k) != 0 {
					c.Events |= ev
				}
			}
			if bits&16 != 0 && e == EngineEpollWait && c.Op == epoll.OpAdd && c.Events&epoll.OneShot == 0 {
				c.Events |= epoll.Exclusive
			}
			cmds = append(cmds, c)
		}
		if len(cmds) == 0 {
			return
		}
		checkBatchMatches(t, fx, seq, bat, cmds)
	})
}

// Bad arguments anywhere in the batch process nothing and come back as an
// *epoll.Error naming BatchAll, never as an *epoll.BatchError.
func TestBatchAllArgumentErrorsProcessNothing(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		r := newTestRing(t, 4, WithEngine(e))
		fd := fdtest.Eventfd(t)
		good := epoll.Cmd{Op: epoll.OpAdd, Fd: fd, Events: epoll.In}
		for name, c := range map[string]epoll.Cmd{
			"unknown op":        {Op: 9, Fd: fd},
			"zero op":           {Fd: fd},
			"unknown bits":      {Op: epoll.OpAdd, Fd: fd, Events: 1 << 20},
			"fd beyond int32":   {Op: epoll.OpDelete, Fd: 1<<32 | fd},
			"negative fd":       {Op: epoll.OpModify, Fd: -1, Events: epoll.In},
			"Exclusive+OneShot": {Op: epoll.OpAdd, Fd: fd, Events: epoll.In | epoll.Exclusive | epoll.OneShot},
			"Modify Exclusive":  {Op: epoll.OpModify, Fd: fd, Events: epoll.In | epoll.Exclusive},
		} {
			cmds := []epoll.Cmd{good, c}
			n, err := r.BatchAll(cmds)
			var be *epoll.BatchError
			var ee *epoll.Error
			if n != 0 || errors.As(err, &be) || !errors.As(err, &ee) || ee.Pkg != "ring" || ee.Call != "BatchAll" ||
				!(errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EBADF)) {
				t.Errorf("%s: BatchAll = %d, %v; want 0 and an argument error naming ring BatchAll", name, n, err)
			}
			if cmds[0].Result != nil || r.Len() != 0 {
				t.Errorf("%s: the valid command ran (Result %v, Len %d)", name, cmds[0].Result, r.Len())
			}
		}
		if n, err := r.BatchAll(nil); n != 0 || !errors.Is(err, unix.EINVAL) {
			t.Errorf("empty BatchAll = %d, %v; want EINVAL", n, err)
		}
		r.Close()
		if n, err := r.BatchAll([]epoll.Cmd{good}); n != 0 || !errors.Is(err, ErrClosed) {
			t.Errorf("BatchAll after Close = %d, %v; want ErrClosed", n, err)
		}
	})
}

// BatchAll takes any number of commands, across the borders of the
// submissions it makes (a full SQ with EngineMultishot, the epoll
// instance's chunks with EngineEpollWait), and the rules hold across them:
// a failure at any index is that command's alone, counted and reported as
// the first.
func TestBatchAllOfAnyLengthKeepsEveryRuleAcrossRuns(t *testing.T) {
	const n = 2*1024 + 60
	fdtest.RaiseLimit(t, 3*n)
	forEngine(t, func(t *testing.T, e Engine) {
		fx := newBatchFixture(t, n)
		for _, bad := range []int{0, 255, 256, 1023, 1024, 1025, n - 1} {
			r := newTestRing(t, n, WithEngine(e))
			cmds := make([]epoll.Cmd, n)
			for i, fd := range fx.efds {
				cmds[i] = epoll.Cmd{Op: epoll.OpAdd, Fd: fd, Events: epoll.In | epoll.Edge, Data: uint64(i)}
			}
			cmds[bad].Fd = fx.file
			k, err := r.BatchAll(cmds)
			var be *epoll.BatchError
			if k != n-1 || !errors.As(err, &be) || be.Index != bad || !errors.Is(err, epoll.ErrNotPollable) {
				t.Fatalf("failure at %d: BatchAll = %d, %v", bad, k, err)
			}
			for i, c := range cmds {
				if (c.Result != nil) != (i == bad) {
					t.Fatalf("failure at %d: Result %d = %v", bad, i, c.Result)
				}
			}
			// Every other command's registration reports.
			got := delivered(t, fx, r)[0]
			if len(got) != n-1 || slices.Contains(got, uint64(bad)) {
				t.Fatalf("failure at %d: %d registrations report, want %d", bad, len(got), n-1)
			}
			r.Close()
		}
	})
}

// BatchAll in steady state, a loop's interest changes, allocates nothing
// on either engine, for short batches and for batches long enough that
// the epoll instance sends them through its own ring.
func TestBatchAllAllocatesNothingInSteadyState(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates in the system call wrappers; run without -race")
	}
	forEngine(t, func(t *testing.T, e Engine) {
		for _, size := range []int{2, 16} {
			r := newTestRing(t, size, WithEngine(e))
			fx := newBatchFixture(t, size)
			add, mod, del := make([]epoll.Cmd, size), make([]epoll.Cmd, size), make([]epoll.Cmd, size)
			for i, fd := range fx.efds {
				add[i] = epoll.Cmd{Op: epoll.OpAdd, Fd: fd, Events: epoll.In | epoll.Edge, Data: uint64(i)}
				mod[i] = epoll.Cmd{Op: epoll.OpModify, Fd: fd, Events: epoll.In | epoll.OneShot, Data: uint64(i)}
				del[i] = epoll.Cmd{Op: epoll.OpDelete, Fd: fd}
			}
			evs := make([]epoll.Event, 2*size)
			ok := true
			run := func(cmds []epoll.Cmd) {
				if k, err := r.BatchAll(cmds); k != len(cmds) || err != nil {
					ok = false
				}
				r.Poll(evs)
			}
			run(add)
			allocs := testing.AllocsPerRun(200, func() {
				run(mod)
				run(del)
				run(add)
			})
			if !ok {
				t.Fatal("a BatchAll failed")
			}
			if allocs != 0 {
				t.Errorf("%d commands: %v allocations per Modify, Delete, Add round; want 0", size, allocs)
			}
		}
	})
}

func TestCapsSayWhatEachEngineHonours(t *testing.T) {
	want := map[Engine]epoll.Caps{
		EngineMultishot: epoll.CapEdge | epoll.CapOneShot,
		EngineEpollWait: epoll.CapLevel | epoll.CapEdge | epoll.CapOneShot | epoll.CapExclusive,
	}
	forEngine(t, func(t *testing.T, e Engine) {
		r := newTestRing(t, 1, WithEngine(e))
		if got := r.Caps(); got != want[e] {
			t.Errorf("Caps = %v, want %v", got, want[e])
		}
	})
}
