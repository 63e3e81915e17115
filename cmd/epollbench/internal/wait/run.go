package wait

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/cref"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/perfbench"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/system"
	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/ring"
	"golang.org/x/sys/unix"
)

// worker is one consumer thread.
type worker struct {
	*perfbench.Thread
	q     queue
	ops   uint64 // events whose read found the eventfd written
	stale uint64 // events whose read found it drained already (edge-only engines)
}

// result is one run.
type result struct {
	Config config   `json:"config"`
	Ops    []uint64 `json:"ops"` // per worker, whole run
	perfbench.Tally

	events, stale uint64     // events delivered, all workers; stale ones among them
	ring          ring.Stats // summed over the rings of a ring engine
}

// bench is what one run holds open: the queues, every worker's eventfds,
// the nested instances.
type bench struct {
	c       config
	events  epoll.Events // of every registration
	queues  []queue
	closers []func()
	threads []*perfbench.Thread
	workers []*worker
}

func (b *bench) close() {
	for _, q := range b.queues {
		q.ctl.Close()
	}
	for _, f := range b.closers {
		f()
	}
	perfbench.Close(b.threads)
}

// newQueue makes a queue sized for its registrations, with perf's nesting
// under it.
func (b *bench) newQueue() (queue, error) {
	items := b.c.Fds + 1
	if !b.c.Multiq {
		items = b.c.Fds*b.c.Threads + 1
	}
	q, err := newQueue(b.c.Engine, items)
	if err != nil {
		return queue{}, err
	}
	b.queues = append(b.queues, q)
	if b.c.Nested > 0 {
		cl, err := system.NestEpoll(b.c.Nested, func(fd int) error { return q.ctl.Add(fd, epoll.Hup, uint64(b.c.Nested)) })
		if err != nil {
			return queue{}, err
		}
		b.closers = append(b.closers, cl)
	}
	return q, nil
}

// setup makes the queues and the workers' eventfds. An epoll engine's fds
// are registered here; a ring's by each worker on its own thread.
func setup(c config) (*bench, error) {
	b := &bench{c: c, events: epoll.In}
	if c.Oneshot {
		b.events |= epoll.OneShot
	}
	if c.Edge {
		b.events |= epoll.Edge
	}
	var shared queue
	if !c.Multiq {
		q, err := b.newQueue()
		if err != nil {
			b.close()
			return nil, err
		}
		shared = q
	}
	var err error
	if b.threads, err = c.Open(); err != nil {
		b.close()
		return nil, err
	}
	for _, t := range b.threads {
		w := &worker{Thread: t, q: shared}
		b.workers = append(b.workers, w)
		if c.Multiq {
			q, err := b.newQueue()
			if err != nil {
				b.close()
				return nil, err
			}
			w.q = q
		}
		if isRing(c.Engine) {
			continue
		}
		for _, fd := range w.Fdmap {
			if err := w.q.ctl.Add(fd, b.events, uint64(fd)); err != nil {
				b.close()
				return nil, err
			}
		}
	}
	return b, nil
}

// run runs the benchmark once with c.
func run(c config) (*result, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	b, err := setup(c)
	if err != nil {
		return nil, fmt.Errorf("wait: %w", err)
	}
	cpus := system.OnlineCPUs()
	clock, exited := perfbench.Start(b.threads, c.Runtime,
		func(i int) error { return b.workers[i].prepare(b, cpus) },
		func(i int, clock *harness.Clock) error { return b.workers[i].loop(c, clock) })

	var wdone atomic.Bool
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		runtime.LockOSThread()
		write(b.workers, c.Randomize, c.PauseNs, &wdone)
	}()

	// perf keeps its writer going for one more second after the run so
	// that every worker wakes, sees the flag and stores its count. Waiting
	// for exactly that is shorter; the bound covers a worker stuck for good.
	select {
	case <-exited:
	case <-time.After(c.Runtime + 5*time.Second):
		clock.Stop()
	}
	wdone.Store(true)
	<-writerDone
	stats := b.ringStats()
	b.close() // wakes any worker still waiting with ErrClosed
	<-exited
	res, err := collect(c, b.workers)
	if err != nil {
		return nil, err
	}
	res.ring = stats
	return res, nil
}

// ringStats sums the counters of the rings of a ring engine.
func (b *bench) ringStats() ring.Stats {
	var sum ring.Stats
	for _, q := range b.queues {
		if q.ring != nil {
			st := q.ring.Stats()
			sum.Rearmed += st.Rearmed
			sum.Stale += st.Stale
			sum.Submits += st.Submits
			sum.Waits += st.Waits
			sum.Delivered += st.Delivered
		}
	}
	return sum
}

// prepare runs on the worker's goroutine before the start: it pins the
// thread, and a ring engine's worker registers its own fds.
func (w *worker) prepare(b *bench, cpus []int) error {
	// The ctx engine's point is that a waiting goroutine holds no
	// thread; pinning it would take that away.
	if b.c.Engine != "ctx" {
		if err := system.PinWorker(cpus, w.Tid, b.c.NoAffinity); err != nil {
			return err
		}
	}
	if !isRing(b.c.Engine) {
		return nil
	}
	// io_uring runs a poll's completion work on the thread that armed it;
	// armed from the consumer's own thread, it runs when the consumer
	// enters the kernel instead of waking an idle thread of the runtime
	// for every event.
	for _, fd := range w.Fdmap {
		if err := w.q.ctl.Add(fd, b.events, uint64(fd)); err != nil {
			return err
		}
	}
	return nil
}

func collect(c config, workers []*worker) (*result, error) {
	res := &result{Config: c}
	for _, w := range workers {
		if w.Err != nil && !errors.Is(w.Err, epoll.ErrClosed) {
			return nil, fmt.Errorf("wait: thread %d: %w", w.Tid, w.Err)
		}
		res.Ops = append(res.Ops, w.ops)
		res.Count(w.Thread, w.ops)
		res.events += w.ops + w.stale
		res.stale += w.stale
	}
	return res, nil
}

// loop is the consumer: c.Batch events per wait, one as perf stresses the
// call itself rather than batching. Each event's fd is read and, with -E
// or -S, re-added or re-armed; each counts one operation, except a stale
// edge of an edge-only engine (see handle).
func (w *worker) loop(c config, clock *harness.Clock) error {
	// Counted in locals, stored at the end: workers' structs may share a
	// cache line, and each counts on its own CPU.
	var ops, stale uint64
	defer func() { w.ops, w.stale = ops, stale }()
	evs := make([]epoll.Event, max(1, c.Batch))
	fd := -1
	edgeOnly := isRing(c.Engine)
	for !clock.Expired(ops&15 == 0) && (c.Ops == 0 || ops < c.Ops) {
		n, err := w.q.wait(evs, c.Nonblocking)
		if err != nil {
			return err
		}
		if n == 0 {
			// A nonblocking wait that found nothing leaves the last event
			// in place and perf reads its fd again, spinning until the
			// writer refills it: the same here.
			if fd >= 0 {
				w.handle(c, fd, false, clock)
			}
			ops++
			continue
		}
		for _, ev := range evs[:n] {
			fd = int(ev.Data())
			if w.handle(c, fd, edgeOnly, clock) {
				ops++
			} else {
				stale++
			}
		}
	}
	return nil
}

// handle reads fd after its event and re-adds or re-arms it as the
// setting asks. It reports false for a stale event, dropped.
//
// The read is the harness's, as the writer's writes are: raw (an eventfd
// read never blocks), so that the figure is the cost of the wait and the
// interest calls, not the scheduler's bookkeeping around a read that C does
// not pay either.
func (w *worker) handle(c config, fd int, dropStale bool, clock *harness.Clock) bool {
	var buf [8]byte
	if dropStale {
		if _, e := system.Read(fd, buf[:]); e == unix.EAGAIN {
			// The ring is edge-triggered only: two writes that land
			// before the read are two edges, and the first read drained
			// both. This event is stale (perf's level-triggered epoll
			// never sees one): drop it rather than spin until the writer
			// comes round.
			return false
		}
	} else {
		for _, e := system.Read(fd, buf[:]); e == unix.EAGAIN && !clock.Expired(true); _, e = system.Read(fd, buf[:]) {
		}
	}
	if c.Edge {
		// Already registered: the kernel answers EEXIST, and this costs
		// what perf's re-add costs.
		w.q.ctl.Add(fd, epoll.In|epoll.Edge, uint64(fd))
	}
	if c.Oneshot {
		rearm := epoll.In | epoll.OneShot
		if c.Edge {
			rearm |= epoll.Edge
		}
		w.q.ctl.Modify(fd, rearm, uint64(fd))
	}
	return true
}

// write writes 1 to every eventfd of every worker, then sleeps pauseNs
// (perf: 500 ns; none when negative), until wdone. With randomize the workers and each fdmap are shuffled
// before every round, as perf does.
//
// The writer is the harness, not the code under test, and it sets the pace
// of the whole benchmark: the workers can go no faster than it feeds them.
// So it issues its writes as C does, with raw system calls: an eventfd write
// never blocks (the counter cannot overflow at these rates), and going
// through the scheduler's entersyscall/exitsyscall would make Go's writer,
// not Go's Wait, the figure being measured.
func write(workers []*worker, randomize bool, pauseNs int64, wdone *atomic.Bool) {
	one := [8]byte{1}
	order := make([]int, len(workers))
	maps := make([][]int, len(workers))
	for i, w := range workers {
		order[i] = i
		maps[i] = append([]int(nil), w.Fdmap...)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for !wdone.Load() {
		if randomize {
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		for _, i := range order {
			m := maps[i]
			if randomize {
				rng.Shuffle(len(m), func(i, j int) { m[i], m[j] = m[j], m[i] })
			}
			for _, fd := range m {
				for {
					if _, e := system.Write(fd, one[:]); e != unix.EAGAIN || wdone.Load() {
						break
					}
				}
			}
		}
		if pauseNs >= 0 {
			system.Nanosleep(pauseNs)
		}
	}
}

// printPerf prints the result as perf bench epoll wait does, with pid as
// the run's.
func (r *result) printPerf(w io.Writer, pid int) {
	c := r.Config
	oneshot := ""
	if c.Oneshot {
		oneshot = " (EPOLLONESHOT semantics)"
	}
	fmt.Fprintf(w, "Run summary [PID %d]: %d threads monitoring%s on %d file-descriptors for %s secs.\n\n",
		pid, c.Threads, oneshot, c.Fds, cref.FormatRuntime(c.Runtime))
	r.PrintThreads(w, func(i int, _ bool) string { return fmt.Sprintf("%04d ops/sec", int64(r.PerThread[i])) })
	fmt.Fprintf(w, "\nAveraged %d operations/sec (+- %.2f%%), total secs = %d\n", int64(r.Avg), r.RelStddev, int(r.Elapsed))
}
