package pipetest

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness/harnesstest"
	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

func TestSegmentsCoverTheRingInOrder(t *testing.T) {
	for _, c := range []struct {
		n, size int
		want    [][2]int
	}{
		{10, 10, [][2]int{{0, 10}}},
		{10, 100, [][2]int{{0, 10}}},
		{25, 10, [][2]int{{0, 10}, {10, 20}, {20, 25}}},
		{20, 10, [][2]int{{0, 10}, {10, 20}}},
	} {
		if got := segments(c.n, c.size); !reflect.DeepEqual(got, c.want) {
			t.Errorf("segments(%d, %d) = %v, want %v", c.n, c.size, got, c.want)
		}
	}
}

// tableSize counts the descriptors of the table the calling thread uses.
func tableSize(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/self/task/%d/fd", unix.Gettid()))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestWideRingKeepsItsPipesOutOfTheProcessTable(t *testing.T) {
	fdtest.Check(t)
	const n, size = 25, 10 // three tables: 10, 10 and 5 pipes
	before := len(fdtest.Open(t))
	w, err := newWide(n, size, []string{"direct", "epoll", "epoll-lt"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	if w.tables() != 3 {
		t.Fatalf("%d tables, want 3", w.tables())
	}
	// This table gained the three cross pipes and the two instances (each
	// with the descriptors the epoll package keeps), not 25 pipes.
	if got := len(fdtest.Open(t)) - before; got < 2*3+2 || got >= 2*n {
		t.Errorf("process table grew by %d descriptors; want the cross pipes and instances only (< %d)", got, 2*n)
	}
	// Each worker's table holds its own segment: a second worker's pipes
	// are not in the first worker's table.
	var sizes []int
	for _, wk := range w.workers {
		wk.Do(func() error { sizes = append(sizes, tableSize(t)); return nil })
	}
	if sizes[0]-sizes[2] != 2*(10-5) {
		t.Errorf("worker tables hold %v descriptors; the first (10 pipes) should hold 10 more than the last (5 pipes)", sizes)
	}
}

func TestWideRingKeepsExactlyOneTokenAcrossTables(t *testing.T) {
	fdtest.Check(t)
	const n, size = 25, 10
	for _, mech := range []string{"direct", "epoll", "epoll-lt"} {
		t.Run(mech, func(t *testing.T) {
			w, err := newWide(n, size, []string{mech})
			if err != nil {
				t.Fatal(err)
			}
			defer w.close()
			if err := w.prime(); err != nil {
				t.Fatal(err)
			}
			if w.pr.at != 0 {
				t.Fatalf("after the priming lap the token is in pipe %d, want 0", w.pr.at)
			}
			st, err := w.open(mech)
			if err != nil {
				t.Fatal(err)
			}
			// Two laps and 3 passes: every table's worker waited on the
			// shared instance at least twice.
			const passes = 2*n + 3
			turn := &turn{st: st, deadline: time.Now().Add(time.Minute), limit: passes, done: make(chan error, 1)}
			w.hand(turn)
			if err := <-turn.done; err != nil {
				t.Fatal(err)
			}
			st.close()
			if turn.passes != passes || w.pr.at != passes%n {
				t.Fatalf("%d passes, token in pipe %d; want %d passes, pipe %d", turn.passes, w.pr.at, passes, passes%n)
			}
			// Read every pipe in the table that holds it: one byte in all,
			// in pipe 3.
			total := 0
			for _, wk := range w.workers {
				if err := wk.Do(func() error {
					var buf [8]byte
					for i := wk.lo; i < wk.hi; i++ {
						k, err := unix.Read(w.pr.r[i], buf[:])
						if err == unix.EAGAIN {
							continue
						}
						if err != nil {
							return fmt.Errorf("read pipe %d: %w", i, err)
						}
						if i != passes%n {
							return fmt.Errorf("token found in pipe %d, want pipe %d", i, passes%n)
						}
						total += k
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			if total != 1 {
				t.Errorf("%d bytes in the ring, want the 1-byte token", total)
			}
		})
	}
}

func TestWideRingRefusesSingleTableMechanisms(t *testing.T) {
	fdtest.Check(t)
	w, err := newWide(20, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	for _, m := range []string{"poll", "select", "ring"} {
		if _, err := w.open(m); err == nil || !strings.Contains(err.Error(), "2 tables") {
			t.Errorf("open %s on a ring of 2 tables: err = %v, want a skip naming the tables", m, err)
		}
	}
}

func TestForcedSegmentsMeasureEveryWideMechanism(t *testing.T) {
	fdtest.Check(t)
	res, err := config{
		Ns: []int{10, 300}, Mechs: mechNames(), Duration: 40 * time.Millisecond, Rounds: 2,
		Segment: 100, Log: harnesstest.Log(t),
	}.Run()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Points {
		wantTables := 1
		if p.N == 300 {
			wantTables = 3
		}
		if p.Tables != wantTables {
			t.Errorf("%s N=%d: %d tables, want %d", p.Mech, p.N, p.Tables, wantTables)
		}
		_, wide := wideMechs[p.Mech]
		switch {
		case p.N == 300 && !wide:
			if p.Skipped == "" {
				t.Errorf("%s N=300 over 3 tables: measured, want skipped", p.Mech)
			}
		case p.Mech == "select" || p.Mech == "ring":
			// may be skipped for reasons of their own (FD_SETSIZE, no io_uring)
		case !(p.Rate > 0):
			t.Errorf("%s N=%d: rate %v, want passes measured (skipped: %q)", p.Mech, p.N, p.Rate, p.Skipped)
		}
	}
	found := false
	for _, n := range res.Notes {
		found = found || strings.Contains(n, "unshare")
	}
	if !found {
		t.Errorf("notes %q do not say how the ring was cut", res.Notes)
	}
}

func TestAddErrorSkipsOnlyForTheWatchLimit(t *testing.T) {
	err := addError(4, fmt.Errorf("epoll: Add: %w", unix.ENOSPC))
	if !errors.Is(err, errSkip) || !strings.Contains(err.Error(), "max_user_watches") {
		t.Errorf("ENOSPC: %v; want a skip naming fs.epoll.max_user_watches", err)
	}
	err = addError(4, fmt.Errorf("epoll: Add: %w", unix.EBADF))
	if errors.Is(err, errSkip) || !errors.Is(err, unix.EBADF) || !strings.Contains(err.Error(), "pipe 4") {
		t.Errorf("EBADF: %v; want the error itself, naming the pipe", err)
	}
}
