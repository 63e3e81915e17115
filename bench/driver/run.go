package driver

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"time"

	"github.com/eventpoll/eventpoll/bench/load"
	"github.com/eventpoll/eventpoll/bench/peers"
	"github.com/eventpoll/eventpoll/bench/proc"
)

// Run measures the plan the options choose and returns the report. A
// server that fails its check or a run (a wrong byte, a stall) gets an error
// in its rows and the others go on; Report.Failed says whether any did.
func Run(ctx context.Context, o Options) (*Report, error) {
	started := time.Now()
	switch o.Engine {
	case "", "epoll", "goroutines":
	default:
		return nil, fmt.Errorf("peerbench: no generator engine %q (epoll or goroutines)", o.Engine)
	}
	p := makePlan(o)
	e, err := newEnv(o)
	if err != nil {
		return nil, err
	}
	defer e.close()
	r := &runner{o: o, p: p, e: e, log: o.Log, rows: map[rowKey]*Row{}, started: started}
	if r.log == nil {
		r.log = io.Discard
	}
	if o.Wrk && load.WrkPath() == "" {
		e.notes = append(e.notes, "wrk not installed: no wrk cross-check rows (apt-get install wrk)")
	}
	latency := len(r.cases(FamilyLatency)) > 0
	if latency {
		if err := r.measureStalls("before"); err != nil {
			return nil, err
		}
	}
	for _, pl := range e.placements {
		if err := r.placement(ctx, pl); err != nil {
			return nil, err
		}
	}
	if latency {
		if err := r.measureStalls("after"); err != nil {
			return nil, err
		}
	}
	rep := r.report(started)
	if len(rep.Rows) == 0 {
		return nil, errNoRuns
	}
	return rep, nil
}

type runner struct {
	stalls  []MachineStalls
	started time.Time
	o       Options
	p       plan
	e       *env
	log     io.Writer
	rows    map[rowKey]*Row
	keys    []rowKey // in the order rows were made
}

// server is a running child and what it serves.
type server struct {
	im    *impl
	mode  string
	child *proc.Child
	err   error // a failed check or run: the server is not run again
}

// stallWindow and stallOver are how long a thread spins on each CPU
// around the latency runs, and the shortest gap it counts.
const (
	stallWindow = 250 * time.Millisecond
	stallOver   = 50 * time.Microsecond
)

// measureStalls spins a thread alone on each CPU in turn (proc.MeasureStalls):
// the machine's own gaps, which no server's p99 can get under.
func (r *runner) measureStalls(when string) error {
	cpus, err := proc.CPUs()
	if err != nil {
		return err
	}
	for _, cpu := range cpus {
		s, err := proc.MeasureStalls(cpu, stallWindow, stallOver)
		if err != nil {
			return err
		}
		r.logf("machine stalls %s the latency runs: %v\n", when, s)
		r.stalls = append(r.stalls, MachineStalls{When: when, Stalls: s})
	}
	return nil
}

func (r *runner) placement(ctx context.Context, pl placement) error {
	if pl.serverCPUs != nil {
		restore, err := proc.PinSelf(pl.genCPUs)
		if err != nil {
			return fmt.Errorf("pin the generator to CPUs %v: %w", pl.genCPUs, err)
		}
		defer restore()
	}
	for _, fam := range []Family{FamilyEcho, FamilyHTTP, FamilyConnRate} {
		cases, paced := r.cases(fam), r.pacedCases(fam)
		if len(cases)+len(paced) == 0 {
			continue
		}
		servers := r.start(ctx, pl, Case{Family: fam}.App(), fam == FamilyConnRate)
		if len(cases) > 0 {
			r.rounds(ctx, pl, cases, servers)
		}
		if fam == FamilyHTTP && r.o.Wrk && load.WrkPath() != "" {
			r.wrk(ctx, pl, cases, servers)
		}
		if len(paced) > 0 {
			r.rounds(ctx, pl, paced, servers)
		}
		stopAll(servers)
	}
	for _, c := range r.cases(FamilyIdle) {
		r.idle(ctx, pl, c)
	}
	return ctx.Err()
}

func (r *runner) cases(f Family) []Case {
	var cs []Case
	for _, c := range r.p.cases {
		if c.Family == f {
			cs = append(cs, c)
		}
	}
	return cs
}

// pacedCases are the latency cases the servers of family f serve: they
// run on the same servers, after the closed-loop rounds.
func (r *runner) pacedCases(f Family) []Case {
	var cs []Case
	for _, c := range r.cases(FamilyLatency) {
		if f != FamilyConnRate && c.App() == (Case{Family: f}).App() {
			cs = append(cs, c)
		}
	}
	return cs
}

// start runs every implementation that serves app, each mode of it when
// allModes, and checks each before anything is timed.
func (r *runner) start(ctx context.Context, pl placement, app peers.App, allModes bool) []*server {
	var servers []*server
	for _, im := range r.e.impls {
		if !im.serves(app) || im.skip != "" {
			continue
		}
		modes := []string{""}
		if allModes && len(im.modes) > 1 {
			modes = im.modes
		}
		for _, mode := range modes {
			s := &server{im: im, mode: mode}
			s.child, s.err = proc.Start(im.argv(app, pl.serverLoops, mode), pl.serverCPUs, im.env)
			if s.err == nil {
				if app == peers.Echo {
					s.err = load.CheckEcho(ctx, s.child.Addr)
				} else {
					s.err = load.CheckHTTP(ctx, s.child.Addr)
				}
				if s.err != nil {
					s.err = fmt.Errorf("failed the check before timing: %w", s.err)
				}
			}
			if s.err != nil {
				r.logf("%s %s: %v\n", im.key(mode), app, s.err)
			}
			servers = append(servers, s)
		}
	}
	return servers
}

func stopAll(servers []*server) {
	for _, s := range servers {
		if s.child != nil {
			if err := s.child.Stop(); err != nil && s.err == nil {
				s.err = err
			}
		}
	}
}

// rounds runs every case against every server, round after round, the
// servers taking turns in an order that rotates each round.
func (r *runner) rounds(ctx context.Context, pl placement, cases []Case, servers []*server) {
	for round := range r.p.rounds {
		r.logf("loops=%s %s: round %d of %d\n", pl.label, cases[0].Family, round+1, r.p.rounds)
		for _, c := range cases {
			for i := range servers {
				s := servers[(i+round)%len(servers)]
				row := r.row(pl, c, s, "peerbench")
				if s.err != nil {
					row.fail(s.err)
					continue
				}
				res, cpu, err := r.measure(ctx, pl, c, s.child)
				if err != nil {
					s.err = fmt.Errorf("%s: %w", c.Name(), err)
					r.logf("%s loops=%s: %v\n", s.im.key(s.mode), pl.label, s.err)
					row.fail(s.err)
					continue
				}
				row.add(res, cpu)
			}
		}
	}
}

// measure runs case c's generator against a server once, and reads what
// the server spent per op in the measured window. The generator's engine
// is engineFor's.
func (r *runner) measure(ctx context.Context, pl placement, c Case, child *proc.Child) (*load.Result, *cpuPerOp, error) {
	en := r.engineFor(pl, c)
	m := &cpuMeter{pid: child.Pid}
	tm := load.Timing{Warmup: r.p.warmup, Duration: r.p.duration, Probe: m.probe}
	addr := child.Addr
	var res *load.Result
	var err error
	switch c.Family {
	case FamilyEcho:
		res, err = load.Echo{Addr: addr, Conns: c.Conns, Size: c.Size, Depth: c.Depth, Threads: en.threads, Spin: en.spin, Timing: tm}.Run(ctx)
	case FamilyHTTP:
		res, err = load.HTTP{Addr: addr, Conns: c.Conns, Depth: c.Depth, Threads: en.threads, Spin: en.spin, Timing: tm}.Run(ctx)
	case FamilyLatency:
		res, err = load.Paced{Addr: addr, App: string(c.Proto), Conns: c.Conns, Size: c.Size, Rate: c.Rate, Threads: en.threads, Spin: en.spin, Timing: tm}.Run(ctx)
	case FamilyConnRate:
		res, err = load.ConnRate{Addr: addr, App: string(c.App()), Workers: c.Conns, Timing: tm}.Run(ctx)
	default:
		err = fmt.Errorf("no generator for %s", c.Family)
	}
	if err != nil {
		return nil, nil, err
	}
	cpu, err := m.windowPerOp(res)
	if err != nil {
		return nil, nil, err
	}
	return res, cpu, nil
}

// wrk runs wrk once per chosen HTTP case and server, pinned as the
// generator is.
func (r *runner) wrk(ctx context.Context, pl placement, cases []Case, servers []*server) {
	for _, c := range cases {
		if !r.p.wrkCases(c, pl) {
			continue
		}
		r.logf("loops=%s %s: wrk\n", pl.label, c.Name())
		for _, s := range servers {
			row := r.row(pl, c, s, "wrk")
			if s.err != nil {
				row.fail(s.err)
				continue
			}
			m := &cpuMeter{pid: s.child.Pid}
			res, err := load.Wrk{Addr: s.child.Addr, Conns: c.Conns, Depth: c.Depth, Threads: len(pl.genCPUs),
				Duration: r.p.wrkTime, Start: func(cmd *exec.Cmd) error {
					m.probe()
					return proc.StartOn(cmd, pl.genCPUs)
				}}.Run(ctx)
			var cpu *cpuPerOp
			if err == nil {
				m.probe()
				cpu, err = m.wholePerOp(res)
			}
			if err != nil {
				row.fail(err)
				continue
			}
			row.add(res, cpu)
		}
	}
}

// idle measures what each server holds per idle connection: a fresh
// server's memory, then again with c.Conns connections open that each made
// one request.
func (r *runner) idle(ctx context.Context, pl placement, c Case) {
	r.logf("loops=%s %s\n", pl.label, c.Name())
	for _, im := range r.e.impls {
		if !im.serves(c.App()) || im.skip != "" {
			continue
		}
		s := &server{im: im}
		row := r.row(pl, c, s, "peerbench")
		m, err := r.idleOnce(ctx, pl, c, im)
		if err != nil {
			r.logf("%s loops=%s %s: %v\n", im.name, pl.label, c.Name(), err)
			row.fail(err)
			continue
		}
		row.Idle = m
	}
}

// settle is how long servers get to finish with new connections (goroutines
// ending, buffers returned) before memory is read.
const settle = 300 * time.Millisecond

func (r *runner) idleOnce(ctx context.Context, pl placement, c Case, im *impl) (*IdleMemory, error) {
	child, err := proc.Start(im.argv(c.App(), pl.serverLoops, ""), pl.serverCPUs, im.env)
	if err != nil {
		return nil, err
	}
	defer child.Stop()
	time.Sleep(settle / 3)
	before, err := memory(child)
	if err != nil {
		return nil, err
	}
	conns, err := load.OpenIdle(ctx, child.Addr, string(c.App()), c.Conns)
	if err != nil {
		return nil, err
	}
	defer conns.Close()
	time.Sleep(settle)
	after, err := memory(child)
	if err != nil {
		return nil, err
	}
	m := &IdleMemory{Conns: c.Conns, RSSBefore: before.rss, RSSAfter: after.rss}
	m.RSSPerConn = perConn(before.rss, after.rss, c.Conns)
	if before.goOK && after.goOK {
		b, a := before.heap+before.stack, after.heap+after.stack
		m.GoBefore, m.GoAfter = &b, &a
		pc := perConn(b, a, c.Conns)
		m.GoPerConn = &pc
	}
	return m, nil
}

type memSample struct {
	rss, heap, stack uint64
	goOK             bool
}

func memory(c *proc.Child) (memSample, error) {
	var m memSample
	var err error
	if m.heap, m.stack, m.goOK, err = c.GoMemory(); err != nil {
		return m, err
	}
	m.rss, err = c.RSS()
	return m, err
}

func perConn(before, after uint64, n int) float64 {
	return (float64(after) - float64(before)) / float64(n)
}

// logf writes a progress line, with the time since the run started.
func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.log, "peerbench %5.1fs: "+format, append([]any{time.Since(r.started).Seconds()}, args...)...)
}

// engine is how a generator drives its connections: threads goroutines on
// epoll instances of their own (0: a goroutine per connection), polling
// when spin is set.
type engine struct {
	threads int
	spin    bool
}

// String names the engine as the report's rows do: "goroutines",
// "epoll x2", "epoll x1 spin".
func (en engine) String() string {
	switch {
	case en.threads == 0:
		return "goroutines"
	case en.spin:
		return fmt.Sprintf("epoll x%d spin", en.threads)
	}
	return fmt.Sprintf("epoll x%d", en.threads)
}

// engineFor is the generator's engine for case c in placement pl. On
// epoll it has a goroutine per CPU it may use, and polls where those CPUs
// are its own (the server pinned apart): no wake-up of a sleeping thread
// between a reply and its timing. The open loop has only the epoll engine,
// and where it shares the CPUs with the server, one goroutine (its rate is
// a fraction of one thread's); the closed loops take Options.Engine's. The
// idle and connection-rate cases have generators of their own (engine
// zero).
func (r *runner) engineFor(pl placement, c Case) engine {
	apart := pl.serverCPUs != nil
	epoll := engine{threads: max(len(pl.genCPUs), 1), spin: apart}
	switch {
	case c.Family == FamilyLatency && !apart:
		return engine{threads: 1}
	case c.Family == FamilyLatency:
		return epoll
	case c.Family != FamilyEcho && c.Family != FamilyHTTP:
		return engine{}
	case r.o.Engine == "goroutines":
		return engine{}
	}
	return epoll
}
