package pipetest

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/cref"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/system"
)

// point is one measurement.
type point struct {
	N       int       `json:"n"`
	Mech    string    `json:"mech"`
	Passes  int       `json:"passes"`
	Seconds float64   `json:"seconds"`
	Rate    float64   `json:"passes_per_s"` // the best round's
	Rounds  []float64 `json:"rounds"`       // each round's rate
	Tables  int       `json:"tables"`       // descriptor tables the ring spanned (1: one thread)
	Skipped string    `json:"skipped,omitempty"`
}

// measure runs st for warm (untimed), then for d, and returns the
// passes made in the timed part and the time they took.
func measure(st stepper, warm, d time.Duration) (int, time.Duration, error) {
	end := time.Now().Add(warm)
	for time.Now().Before(end) {
		if _, err := st.step(); err != nil {
			return 0, 0, err
		}
	}
	passes := 0
	start := time.Now()
	end = start.Add(d)
	for {
		k, err := st.step()
		if err != nil {
			return passes, time.Since(start), err
		}
		passes += k
		if now := time.Now(); !now.Before(end) {
			return passes, now.Sub(start), nil
		}
	}
}

// config is what one run measures.
type config struct {
	Ns       []int
	Mechs    []string
	Duration time.Duration // measuring time per mechanism and N, split into Rounds
	Rounds   int
	Warmup   time.Duration // untimed, before each round
	Segment  int           // if > 0, cut rings larger than this into tables of this many pipes
	C        bool          // also run the C reference (needs gcc)
	Log      harness.Log

	known []mech // the mechanisms Mechs name; nil: mechanisms
}

// mech returns the mechanism named name.
func (c config) mech(name string) (mech, bool) {
	known := c.known
	if known == nil {
		known = mechanisms
	}
	for _, m := range known {
		if m.name == name {
			return m, true
		}
	}
	return mech{}, false
}

// result is a whole run.
type result struct {
	Points []point  `json:"points"`
	Notes  []string `json:"notes,omitempty"`
	Ns     []int    `json:"n"`                // the N actually measured
	C      []point  `json:"c,omitempty"`      // the C reference: same ring, same method
	CNote  string   `json:"c_note,omitempty"` // why C is absent
}

// layout is a ring as the mechanisms see it: in one descriptor
// table (single) or spread over several (wide).
type layout interface {
	open(mech string) (stepper, error)
	measure(st stepper, warm, d time.Duration) (int, time.Duration, error)
}

// single is a ring in the calling thread's table.
type single struct {
	pr  *tokenRing
	cfg config
}

func (s single) open(name string) (stepper, error) {
	m, ok := s.cfg.mech(name)
	if !ok {
		return nil, fmt.Errorf("pipetest: unknown mechanism %q", name)
	}
	return m.open(s.pr)
}

func (s single) measure(st stepper, warm, d time.Duration) (int, time.Duration, error) {
	return measure(st, warm, d)
}

// prime passes the token once around the ring with no wait. A pipe's first
// write allocates its buffer page, which the pipe keeps: without a lap
// first, the first mechanism measured on a large ring would pay N page
// allocations that the others do not.
func (s single) prime() error {
	for range s.pr.r {
		if ok, err := s.pr.pass(s.pr.at); err != nil || !ok {
			return fmt.Errorf("pipetest: priming lap: token lost at pipe %d (%v)", s.pr.at, err)
		}
	}
	return nil
}

func (s single) close() { s.pr.close() }

// plan decides which rings fit one descriptor table: rings of more than
// perTable pipes are cut into segments of segment pipes. It raises
// RLIMIT_NOFILE as far as it may first; the notes say what was cut or left
// out and why.
func plan(cfg config) (ns []int, perTable, segment int, notes []string) {
	maxN := 0
	for _, n := range cfg.Ns {
		maxN = max(maxN, n)
	}
	limit, err := system.RaiseNofile(2*maxN + system.OpenFds() + fdMargin)
	if err != nil {
		notes = append(notes, err.Error())
	}
	perTable = (limit - system.OpenFds() - fdMargin) / 2
	// A worker's table also holds every segment's cross pipe.
	segment = perTable - maxTables
	if cfg.Segment > 0 {
		perTable = min(perTable, cfg.Segment)
		segment = min(segment, cfg.Segment)
	}
	if segment < 2 {
		notes = append(notes, fmt.Sprintf("RLIMIT_NOFILE %d leaves no room for a ring", limit))
		return nil, 0, 0, notes
	}
	wide := false
	for _, n := range cfg.Ns {
		if n > segment*maxTables {
			notes = append(notes, fmt.Sprintf("N=%d not measured: %d tables of %d pipes hold at most %d",
				n, maxTables, segment, segment*maxTables))
			continue
		}
		wide = wide || n > perTable
		ns = append(ns, n)
	}
	if wide {
		notes = append(notes, fmt.Sprintf(
			"RLIMIT_NOFILE is %d: rings of more than %d pipes were cut into segments of up to %d, each made by a thread with a descriptor table of its own (unshare CLONE_FILES), one epoll instance watching all N; the token's holder hands the turn on at each segment's end (one thread wake-up per segment per lap, counted); poll, select and the ring cannot span tables",
			limit, perTable, segment))
	}
	return ns, perTable, segment, notes
}

// points collects each mechanism's point at each N across rounds.
type points map[string]*point

func key(name string, n int) string { return fmt.Sprint(name, "/", n) }

// at returns the function measureRound records into for the ring of n
// pipes over tables descriptor tables.
func (pts points) at(n, tables int) func(string) *point {
	return func(name string) *point {
		pt := pts[key(name, n)]
		if pt == nil {
			pt = &point{N: n, Mech: name, Tables: tables}
			pts[key(name, n)] = pt
		}
		return pt
	}
}

// Run measures every mechanism at every N on one locked OS thread, or on
// one thread per descriptor table when the ring does not fit one.
func (cfg config) Run() (*result, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	res := &result{}
	ns, capN, segment, notes := plan(cfg)
	res.Notes = append(res.Notes, notes...)
	var singles, wides []int
	for _, n := range ns {
		if n > capN {
			wides = append(wides, n)
		} else {
			singles = append(singles, n)
		}
	}
	pts := points{}
	if err := runSingles(cfg, singles, pts); err != nil {
		return res, err
	}
	unsupported, err := runWides(cfg, wides, segment, pts)
	if err != nil {
		return res, err
	}
	if unsupported != nil {
		res.Notes = append(res.Notes, fmt.Sprintf("N > %d not measured: one descriptor table cannot hold the ring and %v", capN, unsupported))
	}
	if cfg.C {
		runC(cfg, res, ns, capN, segment, unsupported != nil)
	}
	for _, n := range ns {
		if n > capN && unsupported != nil {
			continue
		}
		res.Ns = append(res.Ns, n)
		for _, name := range cfg.Mechs {
			if pt := pts[key(name, n)]; pt != nil {
				res.Points = append(res.Points, *pt)
			}
		}
	}
	return res, nil
}

// runSingles measures the rings that fit one table, in rounds: in each
// round every N gets a fresh ring and every mechanism runs once on it, in
// turn; each (mechanism, N) keeps its best round. On a shared machine a
// burst of other work lowers whichever runs it lands on; interleaving
// spreads the bursts over all N and mechanisms alike, and the best round
// compares them under the least disturbed conditions.
func runSingles(cfg config, ns []int, pts points) error {
	for round := 0; round < cfg.Rounds; round++ {
		for _, n := range ns {
			t0 := time.Now()
			pr, err := newTokenRing(n)
			if err != nil {
				return err
			}
			lay := single{pr, cfg}
			err = lay.prime()
			if err == nil {
				if round == 0 {
					cfg.Log.Printf("pipetest: N=%d: %d pipes made and primed in %v", n, n, time.Since(t0).Round(time.Millisecond))
				}
				err = measureRound(cfg, lay, n, round, pts.at(n, 1))
			}
			lay.close()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// runWides measures the rings wider than one table. Each is made once and
// runs all its rounds before the next is made: making and priming 100,000
// pipes takes seconds, and they hold about 600 MB of kernel memory, which
// one ring at a time keeps within what a small machine has. unsupported
// is why no wide ring could be made (the kernel refused a table of its
// own), or nil.
func runWides(cfg config, ns []int, segment int, pts points) (unsupported, err error) {
	for _, n := range ns {
		t0 := time.Now()
		w, err := newWide(n, segment, cfg.Mechs)
		if errors.Is(err, errors.ErrUnsupported) {
			return err, nil
		}
		if err != nil {
			return nil, err
		}
		if err = w.prime(); err == nil {
			cfg.Log.Printf("pipetest: N=%d: %d pipes made and primed in %v (%d descriptor tables)", n, n, time.Since(t0).Round(time.Millisecond), w.tables())
			for round := 0; round < cfg.Rounds && err == nil; round++ {
				err = measureRound(cfg, w, n, round, pts.at(n, w.tables()))
			}
		}
		w.close()
		if err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// measureRound runs every mechanism once on the ring lay of n pipes.
func measureRound(cfg config, lay layout, n, round int, pointOf func(string) *point) error {
	for _, name := range cfg.Mechs {
		pt := pointOf(name)
		if pt.Skipped != "" {
			continue
		}
		// Opened for the round only: a second instance watching the
		// same pipes would add its callback to every write.
		st, err := lay.open(name)
		if errors.Is(err, errSkip) {
			pt.Skipped = err.Error()
			continue
		}
		if err != nil {
			return fmt.Errorf("pipetest %s N=%d: %w", name, n, err)
		}
		passes, el, err := lay.measure(st, cfg.Warmup, cfg.Duration/time.Duration(cfg.Rounds))
		st.close()
		if err != nil {
			return fmt.Errorf("pipetest %s N=%d: %w", name, n, err)
		}
		pt.Passes += passes
		pt.Seconds += el.Seconds()
		rate := float64(passes) / el.Seconds()
		pt.Rounds = append(pt.Rounds, rate)
		pt.Rate = max(pt.Rate, rate)
		if round == cfg.Rounds-1 {
			cfg.Log.Printf("pipetest: N=%-6d %-8s %12.0f passes/s (best of %d rounds; %d passes in %.2fs)",
				n, name, pt.Rate, len(pt.Rounds), pt.Passes, pt.Seconds)
		}
	}
	return nil
}

// runC runs the C reference at every N, with the same segments;
// what stops it becomes res.CNote.
func runC(cfg config, res *result, ns []int, perTable, segment int, noWide bool) {
	prog, err := cref.BuildPipetest()
	if err != nil {
		res.CNote = err.Error()
		return
	}
	defer prog.Close()
	for _, n := range ns {
		seg := n
		if n > perTable {
			if noWide {
				continue
			}
			seg = segment
		}
		rates, err := prog.Run(n, seg, cfg.Duration/time.Duration(cfg.Rounds), cfg.Warmup, cfg.Rounds, cref.PipetestMechs)
		if err != nil {
			res.CNote = err.Error()
			return
		}
		for _, m := range cref.PipetestMechs {
			pt := point{N: n, Mech: m, Rounds: rates[m], Tables: (n + seg - 1) / seg}
			for _, r := range rates[m] {
				pt.Rate = max(pt.Rate, r)
			}
			res.C = append(res.C, pt)
			cfg.Log.Printf("pipetest: N=%-6d C %-6s %12.0f passes/s (best of %d rounds)", n, m, pt.Rate, len(pt.Rounds))
		}
	}
}

// cRate is the C reference's best rate for mech at n, or 0.
func (r *result) cRate(mech string, n int) float64 {
	for _, p := range r.C {
		if p.Mech == mech && p.N == n {
			return p.Rate
		}
	}
	return 0
}

// largest is the largest N at which mech was measured, or 0.
func (r *result) largest(mech string) int {
	n := 0
	for _, p := range r.Points {
		if p.Mech == mech && p.Rate > 0 {
			n = max(n, p.N)
		}
	}
	return n
}

// rate is our best rate for mech at n, or 0.
func (r *result) rate(mech string, n int) float64 {
	for _, p := range r.Points {
		if p.Mech == mech && p.N == n {
			return p.Rate
		}
	}
	return 0
}
