package pipetest

// A ring wider than one descriptor table.
//
// N pipes need 2N descriptors, and RLIMIT_NOFILE bounds the descriptor
// numbers of each descriptor table, not of the process: a thread that calls
// unshare(CLONE_FILES) gets a table of its own, with a limit of its own. So a
// ring too wide for the limit is cut into segments, each created by a worker
// thread in its own table. The pipe at the start of each segment (the
// "cross" pipe) is created before the workers unshare, so every table holds
// it: the last pass of a segment writes into the next segment's cross pipe.
//
// One token still goes around one ring, and one thread at a time moves it:
// the worker whose segment holds the token passes it on until it leaves the
// segment, then hands the turn to the next worker (a channel send: one
// thread wake-up per segment per lap, counted in the measured time). An
// epoll instance is created before the workers unshare too, so it is one
// instance in every table; each worker registers its own segment's read
// ends, and the instance watches all N. epoll watches open files, not
// descriptor numbers, so the instance does not care which table a
// registration came from, and every wait is a wait on all N pipes.
//
// poll(2), select(2) and the ring name descriptors by number at every call
// (or at arming, from the arming thread's table), so they cannot span
// tables: they are measured only up to the single-table limit.
//
// The workers are system.TableThreads: closing one ends its thread, and the kernel
// closes that table's pipes with it. The ring is made and primed once and
// measured for every round (after each mechanism the epoll registrations are
// deleted, not the instance closed: no later instance could be in every
// table).

import (
	"fmt"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/system"
	"github.com/eventpoll/eventpoll/epoll"
	"golang.org/x/sys/unix"
)

// wideMechs are the mechanisms that can wait on a ring spanning
// several descriptor tables.
var wideMechs = map[string]epoll.Events{
	"direct":   0,
	"epoll":    epoll.In | epoll.Edge,
	"epoll-lt": epoll.In,
}

// maxTables bounds the number of segments (and worker threads); the
// cross pipes of every segment are in every table.
const maxTables = 64

// segments cuts a ring of n pipes into segments of at most size
// pipes, as [lo, hi) index ranges.
func segments(n, size int) [][2]int {
	var segs [][2]int
	for lo := 0; lo < n; lo += size {
		segs = append(segs, [2]int{lo, min(n, lo+size)})
	}
	return segs
}

// segment is one thread with a descriptor table of its own, owning
// the pipes [lo, hi) of the ring.
type segment struct {
	lo, hi int
	*system.TableThread
}

// turn is one timed run of one mechanism, handed from worker to
// worker with the token.
type turn struct {
	st       stepper
	deadline time.Time
	limit    int // if > 0, the turn also ends after this many passes
	passes   int
	done     chan error
}

// wide is a ring of N pipes laid out over len(workers) tables.
type wide struct {
	pr      *tokenRing
	workers []*segment
	owner   []int32 // ring index -> worker; int32 keeps 100k entries small
	cross   []int   // ring indexes of the cross pipes, which are in this table too
	eps     map[string]*epoll.Instance
}

// newWide makes the ring of n pipes in segments of at most size, and
// the epoll instances the mechanisms in mechs will need. It returns an error
// wrapping errors.ErrUnsupported when the kernel refuses unshare(CLONE_FILES).
func newWide(n, size int, mechs []string) (*wide, error) {
	segs := segments(n, size)
	if len(segs) > maxTables {
		return nil, fmt.Errorf("pipetest: %d pipes in segments of %d need %d descriptor tables, more than %d",
			n, size, len(segs), maxTables)
	}
	w := &wide{
		pr:    &tokenRing{r: make([]int, n), w: make([]int, n)},
		owner: make([]int32, n),
		eps:   map[string]*epoll.Instance{},
	}
	for i := range w.pr.r {
		w.pr.r[i], w.pr.w[i] = -1, -1
	}
	// Before any worker unshares: the cross pipes and the instances, so
	// that every table holds them.
	for _, s := range segs {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
			w.close()
			return nil, fmt.Errorf("pipe2 (cross pipe %d): %w", s[0], err)
		}
		w.pr.r[s[0]], w.pr.w[s[0]] = p[0], p[1]
		w.cross = append(w.cross, s[0])
	}
	for _, m := range mechs {
		if ev, ok := wideMechs[m]; ok && ev != 0 {
			ep, err := epoll.New()
			if err != nil {
				w.close()
				return nil, err
			}
			w.eps[m] = ep
		}
	}
	for k, s := range segs {
		for i := s[0]; i < s[1]; i++ {
			w.owner[i] = int32(k)
		}
		tt, err := system.NewTableThread()
		if err != nil {
			w.close()
			return nil, err
		}
		wk := &segment{lo: s[0], hi: s[1], TableThread: tt}
		w.workers = append(w.workers, wk)
		if err := wk.Do(func() error { return w.makeSegment(wk) }); err != nil {
			w.close()
			return nil, err
		}
	}
	if _, err := unix.Write(w.pr.w[0], []byte{'t'}); err != nil {
		w.close()
		return nil, fmt.Errorf("write token: %w", err)
	}
	return w, nil
}

// makeSegment runs on wk's thread: it creates the segment's pipes in the
// thread's table.
func (w *wide) makeSegment(wk *segment) error {
	for i := wk.lo + 1; i < wk.hi; i++ {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
			return fmt.Errorf("pipe2 (pipe %d of %d, table %d): %w", i+1, len(w.pr.r), w.owner[i]+1, err)
		}
		w.pr.r[i], w.pr.w[i] = p[0], p[1]
	}
	return nil
}

// hand gives the turn to the worker holding the token.
func (w *wide) hand(t *turn) {
	wk := w.workers[w.owner[w.pr.at]]
	wk.Post(func() { w.play(wk, t) })
}

// play moves the token while it is in wk's segment, then hands the turn to
// the worker whose segment it entered; the turn ends, wherever the token
// is, when its deadline has passed or its passes are made.
func (w *wide) play(wk *segment, t *turn) {
	for {
		k, err := t.st.step()
		t.passes += k
		if err != nil {
			t.done <- err
			return
		}
		if !time.Now().Before(t.deadline) || (t.limit > 0 && t.passes >= t.limit) {
			t.done <- nil
			return
		}
		if at := w.pr.at; at < wk.lo || at >= wk.hi {
			w.hand(t)
			return
		}
	}
}

// open binds mechanism m to the ring: for epoll, every worker registers its
// segment's read ends in the shared instance.
func (w *wide) open(m string) (stepper, error) {
	ev, ok := wideMechs[m]
	if !ok {
		return nil, fmt.Errorf("%w: it names descriptors in one table, and %d pipes span %d tables",
			errSkip, len(w.pr.r), len(w.workers))
	}
	if ev == 0 {
		return &direct{w.pr}, nil
	}
	st := &wideEpoll{epollWait{pr: w.pr, ep: w.eps[m], evs: make([]epoll.Event, 64)}, w}
	for _, wk := range w.workers {
		if err := wk.Do(func() error {
			for i := wk.lo; i < wk.hi; i++ {
				if err := st.ep.Add(w.pr.r[i], ev, uint64(i)); err != nil {
					return addError(i, err)
				}
			}
			return nil
		}); err != nil {
			st.close() // what was added before the failure
			return nil, err
		}
	}
	return st, nil
}

// wideEpoll is the epoll stepper on a wide ring.
type wideEpoll struct {
	epollWait
	w *wide
}

// close takes every registration out of the instance again, each worker
// its own segment's, so that the ring can be measured again: the instance
// itself cannot be replaced, since only an instance made before the workers
// left the shared table is in every table. A registration left in would add
// its callback to every write of the next mechanism's runs.
func (e *wideEpoll) close() {
	for _, wk := range e.w.workers {
		wk.Do(func() error {
			for i := wk.lo; i < wk.hi; i++ {
				e.ep.Delete(e.w.pr.r[i])
			}
			return nil
		})
	}
}

// measure runs st for warm (untimed), then for d, starting with the worker
// that holds the token, and returns the passes and the time they took.
func (w *wide) measure(st stepper, warm, d time.Duration) (int, time.Duration, error) {
	run := func(d time.Duration) (int, time.Duration, error) {
		t := &turn{st: st, done: make(chan error, 1)}
		start := time.Now()
		t.deadline = start.Add(d)
		w.hand(t)
		err := <-t.done
		return t.passes, time.Since(start), err
	}
	if _, _, err := run(warm); err != nil {
		return 0, 0, err
	}
	return run(d)
}

// prime passes the token once around the ring with no wait, for the reason
// single.prime does.
func (w *wide) prime() error {
	t := &turn{st: &direct{w.pr}, deadline: time.Now().Add(time.Hour), limit: len(w.pr.r), done: make(chan error, 1)}
	w.hand(t)
	return <-t.done
}

func (w *wide) tables() int { return len(w.workers) }

// close ends the workers (their tables and pipes go with their threads) and
// closes the cross pipes and the instances still open.
func (w *wide) close() {
	for _, wk := range w.workers {
		wk.TableThread.Close()
	}
	w.workers = nil
	for _, ep := range w.eps {
		ep.Close()
	}
	w.eps = nil
	// What is left in this table: the cross pipes. The other entries were
	// numbers in the workers' tables, which are gone.
	for _, i := range w.cross {
		unix.Close(w.pr.r[i])
		unix.Close(w.pr.w[i])
	}
	w.cross = nil
	w.pr.r, w.pr.w = nil, nil
}
