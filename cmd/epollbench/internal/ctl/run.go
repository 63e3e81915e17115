package ctl

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/cref"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/perfbench"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/system"
	"github.com/eventpoll/eventpoll/epoll"
	"golang.org/x/sys/unix"
)

const (
	opAdd = iota
	opMod
	opDel
)

// worker is one thread's operations, counted by kind.
type worker struct {
	*perfbench.Thread
	ops [3]uint64
}

// result is one run: ops/s are add+mod+del per second.
type result struct {
	Config config      `json:"config"`
	Ops    [][3]uint64 `json:"ops_add_mod_del"` // per thread, whole run
	perfbench.Tally
}

// bench is what one run holds open: the instance, its nesting, every
// worker's eventfds.
type bench struct {
	ep      *epoll.Instance
	closers []func()
	threads []*perfbench.Thread
	workers []*worker
}

func (b *bench) close() {
	b.ep.Close()
	for _, f := range b.closers {
		f()
	}
	perfbench.Close(b.threads)
}

// setup makes the instance on c's batch backend, perf's nesting and the
// workers' eventfds.
func setup(c config) (*bench, error) {
	be, _ := backend(c.Backend)
	ep, err := epoll.New(epoll.WithBatchBackend(be))
	if err != nil {
		return nil, err
	}
	b := &bench{ep: ep}
	if c.Nested > 0 {
		cl, err := system.NestEpoll(c.Nested, func(fd int) error { return ep.Add(fd, epoll.Hup, uint64(c.Nested)) })
		if err != nil {
			b.close()
			return nil, err
		}
		b.closers = append(b.closers, cl)
	}
	if c.Mode != "op" {
		if err := probe(ep); err != nil {
			b.close()
			return nil, fmt.Errorf("backend %s: %w", c.Backend, err)
		}
	}
	if b.threads, err = c.Open(); err != nil {
		b.close()
		return nil, err
	}
	for _, t := range b.threads {
		b.workers = append(b.workers, &worker{Thread: t})
		// perf registers half the map before a random run, "otherwise
		// there is an initial bias of the call failing".
		for j := 0; c.Randomize && j < c.Fds; j += 2 {
			if err := ep.Add(t.Fdmap[j], epoll.In, uint64(t.Fdmap[j])); err != nil {
				b.close()
				return nil, err
			}
		}
	}
	return b, nil
}

// probe sends one batch through the backend, so that an unusable io_uring
// is an error of the run, with its reason, not a count of zero.
func probe(ep *epoll.Instance) error {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	defer unix.Close(fd)
	_, err = ep.Batch([]epoll.Cmd{{Op: epoll.OpAdd, Fd: fd, Events: epoll.In}, {Op: epoll.OpDelete, Fd: fd}})
	return err
}

// run runs the benchmark once with c.
func run(c config) (*result, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	b, err := setup(c)
	if err != nil {
		return nil, fmt.Errorf("ctl: %w", err)
	}
	cpus := system.OnlineCPUs()
	_, done := perfbench.Start(b.threads, c.Runtime,
		func(i int) error { return system.PinWorker(cpus, i, c.NoAffinity) },
		func(i int, clock *harness.Clock) error { return b.workers[i].loop(b.ep, c, uint64(i)+1, clock) })
	<-done
	b.close()

	res := &result{Config: c}
	for _, w := range b.workers {
		if w.Err != nil {
			return nil, fmt.Errorf("ctl: thread %d: %w", w.Tid, w.Err)
		}
		res.Ops = append(res.Ops, w.ops)
		res.Count(w.Thread, w.ops[0]+w.ops[1]+w.ops[2])
	}
	return res, nil
}

// loop runs one thread's rounds until the run is over. Failed operations
// (ENOENT, EEXIST: expected in a random run) are not counted, as in perf;
// any other failure ends the run, since it would mean the benchmark is
// measuring something else.
func (w *worker) loop(ep *epoll.Instance, c config, seed uint64, clock *harness.Clock) error {
	rng := rand.New(rand.NewPCG(seed, 0x65706f6c6c))
	if c.Mode != "op" {
		return w.loopBatch(ep, c, rng, clock)
	}
	for !clock.Expired(true) {
		if c.Randomize {
			fd := w.Fdmap[rng.IntN(len(w.Fdmap))]
			w.one(ep, rng.IntN(3), fd)
		} else if c.Phase {
			for op := opAdd; op <= opDel; op++ {
				for _, fd := range w.Fdmap {
					w.one(ep, op, fd)
				}
			}
		} else {
			for _, fd := range w.Fdmap {
				w.one(ep, opAdd, fd)
				w.one(ep, opMod, fd)
				w.one(ep, opDel, fd)
			}
		}
		pause(c.PauseNs)
	}
	return nil
}

// stream is a non-random round's commands: ADD, MOD, DEL of each fd in
// turn, or with phase every fd's ADD, then every MOD, then every DEL (an
// event loop's batch: no fd twice in one phase, so the ring needs no
// links).
func stream(fdmap []int, phase bool) []epoll.Cmd {
	add := func(fd int) epoll.Cmd { return epoll.Cmd{Op: epoll.OpAdd, Fd: fd, Events: epoll.In, Data: uint64(fd)} }
	mod := func(fd int) epoll.Cmd {
		return epoll.Cmd{Op: epoll.OpModify, Fd: fd, Events: epoll.Out, Data: uint64(fd)}
	}
	del := func(fd int) epoll.Cmd { return epoll.Cmd{Op: epoll.OpDelete, Fd: fd} }
	cmds := make([]epoll.Cmd, 0, 3*len(fdmap))
	if phase {
		for _, f := range []func(int) epoll.Cmd{add, mod, del} {
			for _, fd := range fdmap {
				cmds = append(cmds, f(fd))
			}
		}
		return cmds
	}
	for _, fd := range fdmap {
		cmds = append(cmds, add(fd), mod(fd), del(fd))
	}
	return cmds
}

// loopBatch is loop for the batch modes: the same command stream,
// c.BatchSize commands per call. A non-random round is 3*nfds commands cut
// into batches; a random round is one batch of random commands (perf
// sleeps after every random operation; here after every batch, or batching
// would have nothing to save).
func (w *worker) loopBatch(ep *epoll.Instance, c config, rng *rand.Rand, clock *harness.Clock) error {
	cmds := make([]epoll.Cmd, c.BatchSize)
	if !c.Randomize {
		cmds = stream(w.Fdmap, c.Phase)
	}
	ops := [...]epoll.Op{epoll.OpAdd, epoll.OpModify, epoll.OpDelete}
	evs := [...]epoll.Events{epoll.In, epoll.Out, 0}
	for !clock.Expired(true) {
		if c.Randomize {
			for i := range cmds {
				fd, op := w.Fdmap[rng.IntN(len(w.Fdmap))], rng.IntN(3)
				cmds[i] = epoll.Cmd{Op: ops[op], Fd: fd, Events: evs[op], Data: uint64(fd)}
			}
		}
		for lo := 0; lo < len(cmds); lo += c.BatchSize {
			chunk := cmds[lo:min(lo+c.BatchSize, len(cmds))]
			var err error
			if c.Mode == "batch" {
				_, err = ep.Batch(chunk)
			} else {
				_, err = ep.BatchAll(chunk)
			}
			var be *epoll.BatchError
			if err != nil && !errors.As(err, &be) {
				return err
			}
			for i := range chunk {
				if chunk[i].Result == nil {
					switch chunk[i].Op {
					case epoll.OpAdd:
						w.ops[opAdd]++
					case epoll.OpModify:
						w.ops[opMod]++
					case epoll.OpDelete:
						w.ops[opDel]++
					}
				}
				chunk[i].Result = nil
			}
		}
		pause(c.PauseNs)
	}
	return nil
}

// one makes one epoll_ctl and counts it if it succeeded.
func (w *worker) one(ep *epoll.Instance, op, fd int) {
	var err error
	switch op {
	case opAdd:
		err = ep.Add(fd, epoll.In, uint64(fd))
	case opMod:
		err = ep.Modify(fd, epoll.Out, uint64(fd))
	case opDel:
		err = ep.Delete(fd)
	}
	if err == nil {
		w.ops[op]++
	}
}

// printPerf prints the result as perf bench epoll ctl does, with pid as
// the run's: per thread the totals of each operation over the run, then
// their averages.
func (r *result) printPerf(w io.Writer, pid int) {
	c := r.Config
	fmt.Fprintf(w, "Run summary [PID %d]: %d threads doing epoll_ctl ops %d file-descriptors for %s secs.\n\n",
		pid, c.Threads, c.Fds, cref.FormatRuntime(c.Runtime))
	r.PrintThreads(w, func(i int, one bool) string {
		t := r.Ops[i]
		if one { // perf's own spelling
			return fmt.Sprintf("add: %04d; mod: %04d; del: %04ds ops", t[0], t[1], t[2])
		}
		return fmt.Sprintf("add: %04d ops; mod: %04d ops; del: %04d ops", t[0], t[1], t[2])
	})
	fmt.Fprintln(w)
	for op, name := range []string{"ADD", "MOD", "DEL"} {
		xs := make([]float64, len(r.Ops))
		for i, t := range r.Ops {
			xs[i] = float64(t[op])
		}
		avg, rel := harness.MeanRelStddev(xs)
		fmt.Fprintf(w, "Averaged %d %s operations (+- %.2f%%)\n", int64(avg), name, rel)
	}
	fmt.Fprintf(w, "Averaged %.0f operations/sec per thread, all kinds (+- %.2f%%), %.2f secs\n", r.Avg, r.RelStddev, r.Elapsed)
}

// pause is perf's pause between rounds (its usleep is a nanosleep),
// skipped when ns < 0.
func pause(ns int64) {
	if ns >= 0 {
		system.Nanosleep(ns)
	}
}
