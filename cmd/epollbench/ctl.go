package main

// ctl reproduces `perf bench epoll ctl` (tools/perf/bench/epoll-ctl.c, the
// method of seed 003): threads stress one shared epoll instance with
// epoll_ctl. Each thread owns a map of eventfds and, round after round,
// ADDs, MODs (to EPOLLOUT) and DELs each of them, then nanosleeps 250 ns;
// with -R it does one random operation on one random fd per round, half of
// its fds being registered beforehand. Only successful operations count.
//
// Beyond perf, -mode batch and -mode batchall send the same command stream
// through epoll.Instance.Batch (stops at the first failure, as the 2015
// epoll_ctl_batch proposal) or BatchAll (carries on), -b commands at a
// time, on the backend -backend picks (io_uring EPOLL_CTL requests, or one
// epoll_ctl per command).

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/cref"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/system"
	"github.com/eventpoll/eventpoll/epoll"
	"golang.org/x/sys/unix"
)

func init() {
	register(experiment{
		Name:    "ctl",
		Summary: "perf bench epoll ctl: threads adding, modifying, deleting fds in one instance; per-op vs Batch",
		Order:   20,
		Run:     ctlRun,
		Report:  ctlReport,
	})
}

// ctlModes are the ways commands reach the kernel.
var ctlModes = []string{"op", "batch", "batchall"}

type ctlConfig struct {
	Threads    int           `json:"threads"`
	Fds        int           `json:"nfds"`
	Runtime    time.Duration `json:"runtime_ns"`
	Nested     int           `json:"nested"`
	Randomize  bool          `json:"randomize"`
	PauseNs    int64         `json:"pause_ns"`        // nanosleep between rounds; perf: 250, -1 none
	Phase      bool          `json:"phase,omitempty"` // ADD every fd, then MOD every fd, then DEL every fd
	NoAffinity bool          `json:"noaffinity"`
	Verbose    bool          `json:"-"`
	Mode       string        `json:"mode"`    // op, batch, batchall
	BatchSize  int           `json:"batch"`   // commands per Batch call
	Backend    string        `json:"backend"` // auto, uring, syscall
}

func defaultCtlConfig() ctlConfig {
	return ctlConfig{
		Threads:   len(system.OnlineCPUs()), // perf: one thread per CPU
		Fds:       64,
		Runtime:   8 * time.Second,
		Mode:      "op",
		BatchSize: 64,
		PauseNs:   250,
		Backend:   "auto",
	}
}

func (c ctlConfig) validate() error {
	switch {
	case c.Threads < 1 || c.Threads > 4096:
		return fmt.Errorf("ctl: -t %d: threads must be between 1 and 4096", c.Threads)
	case c.Fds < 1 || c.Fds > 1<<20:
		return fmt.Errorf("ctl: -f %d: fds per thread must be between 1 and 1048576", c.Fds)
	case c.Runtime <= 0:
		return fmt.Errorf("ctl: -r %v: runtime must be positive", c.Runtime)
	case c.Nested < 0:
		return fmt.Errorf("ctl: -N %d: nesting must not be negative", c.Nested)
	case c.BatchSize < 1 || c.BatchSize > epoll.MaxBatch:
		return fmt.Errorf("ctl: -b %d: batch size must be between 1 and %d", c.BatchSize, epoll.MaxBatch)
	}
	if _, err := ctlBackend(c.Backend); err != nil {
		return err
	}
	for _, m := range ctlModes {
		if c.Mode == m {
			return nil
		}
	}
	return fmt.Errorf("ctl: -mode %q: unknown (known: %s)", c.Mode, strings.Join(ctlModes, ", "))
}

func ctlBackend(name string) (epoll.BatchBackend, error) {
	switch name {
	case "auto":
		return epoll.BatchAuto, nil
	case "uring":
		return epoll.BatchUring, nil
	case "syscall":
		return epoll.BatchSyscall, nil
	}
	return 0, fmt.Errorf("ctl: -backend %q: unknown (known: auto, uring, syscall)", name)
}

func (c ctlConfig) perfArgs() []string {
	args := []string{"-t", fmt.Sprint(c.Threads), "-f", fmt.Sprint(c.Fds), "-r", fmt.Sprint(cref.PerfSeconds(c.Runtime))}
	if c.Randomize {
		args = append(args, "-R")
	}
	if c.NoAffinity {
		args = append(args, "-n")
	}
	if c.Nested > 0 {
		args = append(args, "-N", fmt.Sprint(c.Nested))
	}
	return args
}

func (c ctlConfig) flagString() string {
	s := fmt.Sprintf("-t %d -f %d", c.Threads, c.Fds)
	if c.Randomize {
		s = "-R " + s
	}
	if c.Nested > 0 {
		s = fmt.Sprintf("-N %d ", c.Nested) + s
	}
	if c.Phase {
		s += " -phase"
	}
	if c.PauseNs != 250 {
		s += fmt.Sprintf(" -pause %d", c.PauseNs)
	}
	if c.Mode != "op" {
		s += fmt.Sprintf(" -mode %s -b %d -backend %s", c.Mode, c.BatchSize, c.Backend)
	}
	return s
}

const (
	ctlAdd = iota
	ctlMod
	ctlDel
)

type ctlWorker struct {
	tid     int
	fdmap   []int
	ops     [3]uint64
	elapsed time.Duration
	err     error
}

// ctlResult is one run.
type ctlResult struct {
	Config    ctlConfig   `json:"config"`
	Elapsed   float64     `json:"elapsed_s"`
	Ops       [][3]uint64 `json:"ops_add_mod_del"` // per thread, whole run
	PerThread []float64   `json:"ops_per_s"`       // per thread, add+mod+del per second
	Avg       float64     `json:"avg_ops_per_s"`
	RelStddev float64     `json:"rel_stddev_pct"`
	fdmaps    [][]int
}

func runCtl(c ctlConfig) (*ctlResult, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	if err := system.NeedNofile(c.Fds*c.Threads*2 + 50 + system.OpenFds()); err != nil {
		return nil, fmt.Errorf("ctl: %w", err)
	}
	backend, _ := ctlBackend(c.Backend)
	ep, err := epoll.New(epoll.WithBatchBackend(backend))
	if err != nil {
		return nil, fmt.Errorf("ctl: %w", err)
	}
	var closers []func()
	cleanup := func() {
		ep.Close()
		for _, f := range closers {
			f()
		}
	}
	if c.Nested > 0 {
		cl, err := system.NestEpoll(c.Nested, func(fd int) error { return ep.Add(fd, epoll.Hup, uint64(c.Nested)) })
		if err != nil {
			cleanup()
			return nil, fmt.Errorf("ctl: %w", err)
		}
		closers = append(closers, cl)
	}
	if c.Mode != "op" {
		// Probe the backend once so that an unusable io_uring is an error
		// of the run, with its reason, not a count of zero.
		fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		if err != nil {
			cleanup()
			return nil, fmt.Errorf("ctl: eventfd: %w", err)
		}
		cmds := []epoll.Cmd{{Op: epoll.OpAdd, Fd: fd, Events: epoll.In}, {Op: epoll.OpDelete, Fd: fd}}
		_, err = ep.Batch(cmds)
		unix.Close(fd)
		if err != nil {
			cleanup()
			return nil, fmt.Errorf("ctl: backend %s: %w", c.Backend, err)
		}
	}
	workers := make([]*ctlWorker, c.Threads)
	for i := range workers {
		w := &ctlWorker{tid: i}
		workers[i] = w
		closers = append(closers, func() {
			for _, fd := range w.fdmap {
				unix.Close(fd)
			}
		})
		for j := 0; j < c.Fds; j++ {
			fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
			if err != nil {
				cleanup()
				return nil, fmt.Errorf("ctl: eventfd: %w", err)
			}
			w.fdmap = append(w.fdmap, fd)
		}
		// perf registers half the map before a random run, "otherwise
		// there is an initial bias of the call failing".
		if c.Randomize {
			for j := 0; j < c.Fds; j += 2 {
				if err := ep.Add(w.fdmap[j], epoll.In, uint64(w.fdmap[j])); err != nil {
					cleanup()
					return nil, fmt.Errorf("ctl: %w", err)
				}
			}
		}
	}

	cpus := system.OnlineCPUs()
	var (
		ready, wg sync.WaitGroup
		start     = make(chan struct{})
		clock     *runClock
	)
	ready.Add(len(workers))
	wg.Add(len(workers))
	for i, w := range workers {
		go func() {
			defer wg.Done()
			if c.NoAffinity {
				runtime.LockOSThread()
			} else if err := system.Pin(cpus[i%len(cpus)]); err != nil {
				w.err = err
			}
			ready.Done()
			<-start
			if w.err == nil {
				w.err = ctlWorkerLoop(ep, w, c, uint64(i)+1, clock)
			}
			w.elapsed = time.Since(clock.start)
		}()
	}
	ready.Wait()
	clock = newRunClock(c.Runtime)
	close(start)
	wg.Wait()
	cleanup()

	res := &ctlResult{Config: c}
	for _, w := range workers {
		if w.err != nil {
			return nil, fmt.Errorf("ctl: thread %d: %w", w.tid, w.err)
		}
		res.Elapsed = max(res.Elapsed, w.elapsed.Seconds())
		res.Ops = append(res.Ops, w.ops)
		res.PerThread = append(res.PerThread, float64(w.ops[0]+w.ops[1]+w.ops[2])/w.elapsed.Seconds())
		res.fdmaps = append(res.fdmaps, w.fdmap)
	}
	res.Avg, res.RelStddev = perfStats(res.PerThread)
	return res, nil
}

// ctlWorkerLoop runs one thread's rounds until the run is over. Failed operations
// (ENOENT, EEXIST: expected in a random run) are not counted, as in perf;
// any other failure ends the run, since it would mean the benchmark is
// measuring something else.
func ctlWorkerLoop(ep *epoll.Instance, w *ctlWorker, c ctlConfig, seed uint64, clock *runClock) error {
	rng := rand.New(rand.NewPCG(seed, 0x65706f6c6c))
	nfds := len(w.fdmap)
	if c.Mode == "op" {
		for !clock.expired(true) {
			if c.Randomize {
				fd := w.fdmap[rng.IntN(nfds)]
				ctlOne(ep, w, rng.IntN(3), fd)
			} else if c.Phase {
				for op := ctlAdd; op <= ctlDel; op++ {
					for _, fd := range w.fdmap {
						ctlOne(ep, w, op, fd)
					}
				}
			} else {
				for _, fd := range w.fdmap {
					ctlOne(ep, w, ctlAdd, fd)
					ctlOne(ep, w, ctlMod, fd)
					ctlOne(ep, w, ctlDel, fd)
				}
			}
			ctlPause(c.PauseNs)
		}
		return nil
	}

	// Batch modes: the same command stream, c.BatchSize commands per call.
	// A non-random round is ADD, MOD, DEL of each fd in turn, 3*nfds
	// commands cut into batches; a random round is one batch of random
	// commands (perf sleeps after every random operation; here after every
	// batch, or batching would have nothing to save).
	cmds := make([]epoll.Cmd, 0, max(3*nfds, c.BatchSize))
	if !c.Randomize && c.Phase {
		// An event loop's batch: every fd once per phase, so a batch never
		// names an fd twice and the ring needs no links.
		for _, fd := range w.fdmap {
			cmds = append(cmds, epoll.Cmd{Op: epoll.OpAdd, Fd: fd, Events: epoll.In, Data: uint64(fd)})
		}
		for _, fd := range w.fdmap {
			cmds = append(cmds, epoll.Cmd{Op: epoll.OpModify, Fd: fd, Events: epoll.Out, Data: uint64(fd)})
		}
		for _, fd := range w.fdmap {
			cmds = append(cmds, epoll.Cmd{Op: epoll.OpDelete, Fd: fd})
		}
	} else if !c.Randomize {
		for _, fd := range w.fdmap {
			cmds = append(cmds,
				epoll.Cmd{Op: epoll.OpAdd, Fd: fd, Events: epoll.In, Data: uint64(fd)},
				epoll.Cmd{Op: epoll.OpModify, Fd: fd, Events: epoll.Out, Data: uint64(fd)},
				epoll.Cmd{Op: epoll.OpDelete, Fd: fd})
		}
	} else {
		cmds = cmds[:c.BatchSize]
	}
	ops := [...]epoll.Op{epoll.OpAdd, epoll.OpModify, epoll.OpDelete}
	evs := [...]epoll.Events{epoll.In, epoll.Out, 0}
	for !clock.expired(true) {
		if c.Randomize {
			for i := range cmds {
				fd, op := w.fdmap[rng.IntN(nfds)], rng.IntN(3)
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
			if err != nil && !isBatchError(err) {
				return err
			}
			for i := range chunk {
				if chunk[i].Result == nil {
					switch chunk[i].Op {
					case epoll.OpAdd:
						w.ops[ctlAdd]++
					case epoll.OpModify:
						w.ops[ctlMod]++
					case epoll.OpDelete:
						w.ops[ctlDel]++
					}
				}
				chunk[i].Result = nil
			}
		}
		ctlPause(c.PauseNs)
	}
	return nil
}

func isBatchError(err error) bool {
	_, ok := err.(*epoll.BatchError)
	return ok
}

func ctlOne(ep *epoll.Instance, w *ctlWorker, op, fd int) {
	var err error
	switch op {
	case ctlAdd:
		err = ep.Add(fd, epoll.In, uint64(fd))
	case ctlMod:
		err = ep.Modify(fd, epoll.Out, uint64(fd))
	case ctlDel:
		err = ep.Delete(fd)
	}
	if err == nil {
		w.ops[op]++
	}
}

// printPerf prints the result as perf bench epoll ctl does: per thread the
// totals of each operation over the run, then their averages.
func (r *ctlResult) printPerf(w *os.File) {
	c := r.Config
	fmt.Fprintf(w, "Run summary [PID %d]: %d threads doing epoll_ctl ops %d file-descriptors for %s secs.\n\n",
		os.Getpid(), c.Threads, c.Fds, cref.FormatRuntime(c.Runtime))
	for i, t := range r.Ops {
		m := r.fdmaps[i]
		if len(m) == 1 {
			fmt.Fprintf(w, "[thread %2d] fdmap: %p [ add: %04d; mod: %04d; del: %04ds ops ]\n",
				i, unsafe.Pointer(&m[0]), t[0], t[1], t[2])
		} else {
			fmt.Fprintf(w, "[thread %2d] fdmap: %p ... %p [ add: %04d ops; mod: %04d ops; del: %04d ops ]\n",
				i, unsafe.Pointer(&m[0]), unsafe.Pointer(&m[len(m)-1]), t[0], t[1], t[2])
		}
	}
	fmt.Fprintln(w)
	for op, name := range []string{"ADD", "MOD", "DEL"} {
		xs := make([]float64, len(r.Ops))
		for i, t := range r.Ops {
			xs[i] = float64(t[op])
		}
		avg, rel := perfStats(xs)
		fmt.Fprintf(w, "Averaged %d %s operations (+- %.2f%%)\n", int64(avg), name, rel)
	}
	fmt.Fprintf(w, "Averaged %.0f operations/sec per thread, all kinds (+- %.2f%%), %.2f secs\n", r.Avg, r.RelStddev, r.Elapsed)
}

func ctlFlags(c *ctlConfig, compareC *bool) *flag.FlagSet {
	fs := flag.NewFlagSet("ctl", flag.ContinueOnError)
	pf := cref.PerfFlags{FlagSet: fs}
	pf.Int(&c.Threads, "t", "threads", "number of threads (default: one per CPU)")
	pf.Int(&c.Fds, "f", "nfds", "file descriptors per thread")
	pf.Runtime(&c.Runtime, "r", "runtime", "runtime in seconds (fractions and durations such as 500ms allowed)")
	pf.Int(&c.Nested, "N", "nested", "nesting levels of epoll instances (at most 4)")
	pf.Bool(&c.Randomize, "R", "randomize", "random operations on random fds")
	fs.Int64Var(&c.PauseNs, "pause", c.PauseNs, "nanosleep between rounds in ns, as perf's 250; -1 for none (the time then is the epoll_ctl cost alone: with a 50 us timer slack perf's pause takes about as long as a round of 192 commands)")
	fs.BoolVar(&c.Phase, "phase", false, "a round is ADD of every fd, then MOD of every fd, then DEL of every fd (an event loop's batch: no fd twice in one batch), instead of ADD, MOD, DEL of each fd in turn")
	pf.Bool(&c.NoAffinity, "n", "noaffinity", "do not pin threads to CPUs")
	pf.Bool(&c.Verbose, "v", "verbose", "print the setup")
	fs.StringVar(&c.Mode, "mode", c.Mode, "op (one epoll_ctl per operation), batch (Instance.Batch, stops at a failure), batchall (Instance.BatchAll)")
	fs.IntVar(&c.BatchSize, "b", c.BatchSize, "commands per Batch call")
	fs.StringVar(&c.Backend, "backend", c.Backend, "batch backend: auto, uring (io_uring EPOLL_CTL), syscall (epoll_ctl per command)")
	fs.BoolVar(compareC, "C", false, "also run perf bench epoll ctl with the same flags and print the ratio")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: epollbench ctl [flags]\n\nThe workload and flags of perf bench epoll ctl; short and long names alike.\n\n")
		fs.PrintDefaults()
	}
	return fs
}

func ctlRun(args []string) error {
	c := defaultCtlConfig()
	var compareC bool
	fs := ctlFlags(&c, &compareC)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("ctl: unexpected arguments %q", fs.Args())
	}
	if err := c.validate(); err != nil {
		return err
	}
	if c.Verbose {
		fmt.Printf("Nesting level(s): %d\nMode %s, batch %d, backend %s\n", c.Nested, c.Mode, c.BatchSize, c.Backend)
	}
	fmt.Printf("# Running 'epoll/ctl' benchmark (Go, %s):\n", c.Mode)
	res, err := runCtl(c)
	if err != nil {
		return err
	}
	res.printPerf(os.Stdout)
	if compareC {
		fmt.Printf("\n# perf bench epoll ctl %s\n", strings.Join(c.perfArgs(), " "))
		out, err := cref.PerfBench("ctl", cref.PerfSeconds(c.Runtime), c.perfArgs())
		if err != nil {
			return err
		}
		fmt.Print(out)
		p, err := cref.ParseCtl(out)
		if err != nil {
			return err
		}
		cr := p.Rate(cref.PerfSeconds(c.Runtime))
		fmt.Printf("\nGo/C: %.3fx (%.0f vs %.0f operations/sec per thread, all kinds)\n", res.Avg/cr, res.Avg, cr)
	}
	return nil
}

// ctlPoint is one measured configuration of the default report. As in
// wait, each side runs reps times, alternating with the other, and the best
// run of each is compared.
type ctlPoint struct {
	Setting  string          `json:"setting"`
	Ours     *ctlResult      `json:"ours,omitempty"` // the best run
	OursAvgs []float64       `json:"ours_avgs,omitempty"`
	Err      string          `json:"error,omitempty"`
	C        *cref.CtlOutput `json:"c,omitempty"` // the best run
	CRate    float64         `json:"c_ops_per_s,omitempty"`
	CRates   []float64       `json:"c_rates,omitempty"`
	CArgs    string          `json:"c_args,omitempty"`
	CNote    string          `json:"c_note,omitempty"`
}

func ctlReport(opts reportOptions) (Section, error) {
	base := defaultCtlConfig()
	base.Runtime = time.Second
	reps := 2
	sizes := []int{1, 4, 16, 64, 256}
	if opts.Quick {
		base.Runtime = 150 * time.Millisecond
		reps = 1
		sizes = []int{64}
	}
	runC := !opts.Quick
	perfMissing := cref.PerfVersion() == ""
	sec := Section{Experiment: "ctl", Params: map[string]any{
		"runtime":     cref.FormatRuntime(base.Runtime),
		"reps":        reps,
		"threads":     base.Threads,
		"nfds":        base.Fds,
		"batch_sizes": sizes,
		"run_c":       runC && !perfMissing,
		"reference":   "perf bench epoll ctl (C), same flags, same run, alternating with ours",
	}}
	var points []*ctlPoint
	measure := func(name string, c ctlConfig, withC bool, reps int) *ctlPoint {
		pt := &ctlPoint{Setting: name}
		points = append(points, pt)
		switch {
		case !withC:
		case perfMissing:
			pt.CNote = cref.PerfMissing
		case !runC:
			pt.CNote = "C not run in -quick"
		default:
			pt.CArgs = strings.Join(c.perfArgs(), " ")
		}
		for rep := 0; rep < reps; rep++ {
			opts.Progress("ctl: %s (%s, %ss) run %d/%d...", name, c.flagString(), cref.FormatRuntime(c.Runtime), rep+1, reps)
			res, err := runCtl(c)
			if err != nil {
				pt.Err = err.Error()
				opts.Progress("ctl: %s: %v", name, err)
				return pt
			}
			pt.OursAvgs = append(pt.OursAvgs, res.Avg)
			if pt.Ours == nil || res.Avg > pt.Ours.Avg {
				pt.Ours = res
			}
			if pt.CArgs == "" || pt.CNote != "" {
				continue
			}
			opts.Progress("ctl: %s: perf bench epoll ctl %s...", name, pt.CArgs)
			out, err := cref.PerfBench("ctl", cref.PerfSeconds(c.Runtime), c.perfArgs())
			if err == nil {
				var p cref.CtlOutput
				if p, err = cref.ParseCtl(out); err == nil {
					rate := p.Rate(cref.PerfSeconds(c.Runtime))
					pt.CRates = append(pt.CRates, rate)
					if pt.C == nil || rate > pt.CRate {
						pt.C, pt.CRate = &p, rate
					}
				}
			}
			if err != nil {
				pt.C, pt.CRate, pt.CNote = nil, 0, err.Error()
			}
		}
		return pt
	}
	perOp := measure("per-op", base, true, reps)
	rnd := base
	rnd.Randomize = true
	measure("per-op -R", rnd, true, reps)
	strict := map[string]*ctlPoint{}
	all := map[string]map[int]*ctlPoint{}
	for _, backend := range []string{"uring", "syscall"} {
		c := base
		c.Mode, c.Backend = "batch", backend
		strict[backend] = measure(fmt.Sprintf("Batch(64) %s", backend), c, false, reps)
		all[backend] = map[int]*ctlPoint{}
		for _, b := range sizes {
			c := base
			c.Mode, c.Backend, c.BatchSize = "batchall", backend, b
			r := 1
			if b == 64 {
				r = reps // a row of the table, not only a point of the chart
			}
			all[backend][b] = measure(fmt.Sprintf("BatchAll(%d) %s", b, backend), c, false, r)
		}
	}
	// What a program gets without choosing: BatchAuto's pick.
	{
		c := base
		c.Mode, c.Backend = "batch", "auto"
		strict["auto"] = measure("Batch(64) auto", c, false, reps)
		c.Mode = "batchall"
		all["auto"] = map[int]*ctlPoint{64: measure("BatchAll(64) auto", c, false, reps)}
	}
	// An event loop's batch: each fd once per batch (ADD all, MOD all, DEL
	// all) and no pause, so the figure is the cost of the commands alone.
	// This is the stream the batch targets are stated for.
	type loopCase struct{ perOp, strict, all *ctlPoint }
	var loops []loopCase
	if !opts.Quick {
		for _, t := range []int{1, base.Threads} {
			c := base
			c.Threads, c.Phase, c.PauseNs = t, true, -1
			var lc loopCase
			lc.perOp = measure(fmt.Sprintf("per-op phase t%d", t), c, false, reps)
			c.Mode, c.Backend = "batch", "auto"
			lc.strict = measure(fmt.Sprintf("Batch(64) auto phase t%d", t), c, false, reps)
			c.Mode = "batchall"
			lc.all = measure(fmt.Sprintf("BatchAll(64) auto phase t%d", t), c, false, reps)
			loops = append(loops, lc)
			if t == base.Threads {
				break
			}
		}
	}
	sec.Raw = points

	row := func(cs string, ours float64, refName string, ref float64, note string) {
		r := Row{Experiment: "ctl", Case: cs, Ours: ours, Unit: "ops/s", RefName: refName, Ref: ref, RefNote: note}
		r.ratio()
		sec.Rows = append(sec.Rows, r)
	}
	for _, pt := range points[:2] {
		if pt.Ours == nil {
			return sec, fmt.Errorf("ctl %s: %s", pt.Setting, pt.Err)
		}
		note := pt.CNote
		if pt.C != nil {
			note = "target >= 0.95x"
		}
		row("per-op "+pt.Ours.Config.flagString(), pt.Ours.Avg, "C perf bench", pt.CRate, note)
	}
	for _, backend := range []string{"uring", "syscall", "auto"} {
		for _, pt := range []*ctlPoint{strict[backend], all[backend][64]} {
			if pt == nil {
				continue
			}
			if pt.Ours == nil {
				sec.Notes = append(sec.Notes, fmt.Sprintf("%s not measured: %s", pt.Setting, pt.Err))
				continue
			}
			kind := "Batch strict"
			if pt.Ours.Config.Mode == "batchall" {
				kind = "BatchAll"
			}
			row(fmt.Sprintf("%s 64 cmds, %s backend", kind, backend), pt.Ours.Avg, "our per-op", perOp.Ours.Avg, "")
		}
	}
	for _, lc := range loops {
		if lc.perOp.Ours == nil || lc.strict.Ours == nil || lc.all.Ours == nil {
			sec.Notes = append(sec.Notes, "event-loop batch case not measured: "+lc.perOp.Err+lc.strict.Err+lc.all.Err)
			continue
		}
		cfg := lc.perOp.Ours.Config.flagString()
		row("Batch strict 64 cmds, auto, "+cfg, lc.strict.Ours.Avg, "our per-op, same stream", lc.perOp.Ours.Avg, "target >= 1.0x")
		row("BatchAll 64 cmds, auto, "+cfg, lc.all.Ours.Avg, "our per-op, same stream", lc.perOp.Ours.Avg, "target >= 1.2x")
	}
	sec.Charts = []Chart{ctlChart(sizes, all, perOp)}
	sec.Notes = append(sec.Notes,
		fmt.Sprintf("each figure is the best of %d runs (ours alternating with C where C is the reference); all runs are in the JSON", reps),
		"ops/s: successful ADD+MOD+DEL per second per thread, averaged over threads; perf prints totals, divided here by its whole-second runtime",
		"a non-random round is ADD, MOD, DEL of each of the 64 fds (192 commands, 3 batches of 64) then a 250 ns nanosleep, as perf",
		"-phase -pause -1: ADD of all 64 fds, MOD of all, DEL of all (an event loop's batch never names an fd twice) with no pause: the cost of the commands alone; perf's 250 ns pause lasts ~50 us with the default timer slack, about as long as a round")
	return sec, nil
}

func ctlChart(sizes []int, all map[string]map[int]*ctlPoint, perOp *ctlPoint) Chart {
	ch := Chart{
		File:   "ctl.svg",
		Title:  "epoll ctl: ADD+MOD+DEL ops/s per thread vs commands per BatchAll",
		XLabel: "commands per BatchAll call",
		YLabel: "successful operations per second per thread",
		LogX:   true,
		LogY:   true,
	}
	for _, backend := range []string{"uring", "syscall"} {
		s := Series{Name: "BatchAll, " + backend + " backend"}
		for _, b := range sizes {
			if pt := all[backend][b]; pt != nil && pt.Ours != nil {
				s.X, s.Y = append(s.X, float64(b)), append(s.Y, pt.Ours.Avg)
			}
		}
		if len(s.X) > 0 {
			ch.Series = append(ch.Series, s)
		}
	}
	lo, hi := float64(sizes[0]), float64(sizes[len(sizes)-1])
	if hi == lo {
		hi = lo * 2
	}
	if perOp.Ours != nil {
		ch.Series = append(ch.Series, Series{Name: "Go per-op epoll_ctl", X: []float64{lo, hi}, Y: []float64{perOp.Ours.Avg, perOp.Ours.Avg}})
	}
	if perOp.CRate > 0 {
		ch.Series = append(ch.Series, Series{Name: "C perf bench per-op", X: []float64{lo, hi}, Y: []float64{perOp.CRate, perOp.CRate}})
	}
	return ch
}

// ctlPause is perf's pause between rounds (its usleep is a nanosleep),
// skipped when ns < 0.
func ctlPause(ns int64) {
	if ns >= 0 {
		system.Nanosleep(ns)
	}
}
