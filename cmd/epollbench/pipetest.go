package main

// pipetest reproduces the 2002 LSE benchmark of the same name (seed 001):
// N pipes joined in a ring and one token passed around it by a single thread.
// Each pass is one wait for readiness, one read and one write, so the rate
// measures what a wait costs when one descriptor out of N is ready. poll(2)
// and select(2) hand the kernel all N descriptors on every call and scan
// them all again on return; epoll keeps the interest set in the kernel and
// returns only the ready one. The 2002 figures: epoll 289k passes/s at 10
// pipes and 270k at 16,000; poll 98k at 10 and 38 at 16,000.

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"golang.org/x/sys/unix"
)

// The 2002 LSE figures quoted in the brief of seed 001 (passes per second).
const (
	pipetest2002N         = 16000
	pipetest2002Epoll10   = 289000
	pipetest2002EpollBig  = 270000
	pipetest2002Poll10    = 98000
	pipetest2002PollBig   = 38
	pipetestTargetFlat    = 0.8 // epoll(Nmax) >= 0.8 x epoll(10)
	pipetestFdMargin      = 64  // descriptors kept free for the runtime, epoll instances, stdio
	pipetestSelectSetSize = 1024
)

func init() {
	register(experiment{
		Name:    "pipetest",
		Summary: "N pipes in a ring, one token: passes/s for poll, select, epoll (LSE 2002)",
		Order:   30,
		Run:     pipetestRun,
		Report:  pipetestReport,
	})
}

// pipetestRing is N non-blocking pipes; the token read from pipe i is written
// into pipe i+1 (mod N).
type pipetestRing struct {
	r, w []int
	at   int      // the pipe the token is in
	buf  [64]byte // larger than the token: a short read proves the pipe drained
}

func newPipetestRing(n int) (*pipetestRing, error) {
	pr := &pipetestRing{r: make([]int, 0, n), w: make([]int, 0, n)}
	for i := 0; i < n; i++ {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
			pr.close()
			return nil, fmt.Errorf("pipe2 (pipe %d of %d): %w", i+1, n, err)
		}
		pr.r = append(pr.r, p[0])
		pr.w = append(pr.w, p[1])
	}
	if _, err := unix.Write(pr.w[0], []byte{'t'}); err != nil {
		pr.close()
		return nil, fmt.Errorf("write token: %w", err)
	}
	return pr, nil
}

func (pr *pipetestRing) close() {
	for _, fd := range pr.r {
		unix.Close(fd)
	}
	for _, fd := range pr.w {
		unix.Close(fd)
	}
	pr.r, pr.w = nil, nil
}

// pass moves the token from pipe i to pipe i+1. It reports false when pipe i
// held nothing (a readiness report that was stale: never expected here).
func (pr *pipetestRing) pass(i int) (bool, error) {
	n, err := unix.Read(pr.r[i], pr.buf[:])
	if err == unix.EAGAIN {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read pipe %d: %w", i, err)
	}
	if n != 1 {
		return false, fmt.Errorf("read pipe %d: got %d bytes, want the 1-byte token", i, n)
	}
	j := i + 1
	if j == len(pr.w) {
		j = 0
	}
	if _, err := unix.Write(pr.w[j], pr.buf[:1]); err != nil {
		return false, fmt.Errorf("write pipe %d: %w", j, err)
	}
	pr.at = j
	return true, nil
}

// pipetestStepper is one wait mechanism bound to a ring: step waits once and
// passes every token found ready, returning how many it passed.
type pipetestStepper interface {
	step() (int, error)
	close()
}

// pipetestMech is a wait mechanism the experiment can measure.
type pipetestMech struct {
	name string
	// open binds the mechanism to a ring; it returns errPipetestSkip
	// (wrapped, with the reason) when the mechanism cannot handle the ring.
	open func(pr *pipetestRing) (pipetestStepper, error)
}

var errPipetestSkip = errors.New("skipped")

// pipetestMechs are the mechanisms in the order they are reported. A file
// for an optional mechanism (the ring) appends to it from init.
var pipetestMechs = []pipetestMech{
	{"direct", openPipetestDirect},
	{"poll", openPipetestPoll},
	{"select", openPipetestSelect},
	{"epoll", func(pr *pipetestRing) (pipetestStepper, error) { return openPipetestEpoll(pr, epoll.In|epoll.Edge) }},
	{"epoll-lt", func(pr *pipetestRing) (pipetestStepper, error) { return openPipetestEpoll(pr, epoll.In) }},
}

func pipetestMechNames() []string {
	var names []string
	for _, m := range pipetestMechs {
		names = append(names, m.name)
	}
	return names
}

// direct is the baseline without a wait: the thread knows where the token
// is and passes it on, one read and one write. What a mechanism's rate falls
// short of it is what its wait costs; what direct itself loses as N grows is
// the cost of touching N pipes' kernel state in turn (caches), which no wait
// mechanism can avoid.
type pipetestDirect struct{ pr *pipetestRing }

func openPipetestDirect(pr *pipetestRing) (pipetestStepper, error) { return &pipetestDirect{pr}, nil }

func (d *pipetestDirect) step() (int, error) {
	ok, err := d.pr.pass(d.pr.at)
	if err != nil || !ok {
		return 0, err
	}
	return 1, nil
}

func (d *pipetestDirect) close() {}

// poll(2): the whole array goes to the kernel and back on every call, and
// user space scans it to find the one descriptor that is ready.
type pipetestPoll struct {
	pr  *pipetestRing
	fds []unix.PollFd
}

func openPipetestPoll(pr *pipetestRing) (pipetestStepper, error) {
	p := &pipetestPoll{pr: pr, fds: make([]unix.PollFd, len(pr.r))}
	for i, fd := range pr.r {
		p.fds[i] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	}
	return p, nil
}

func (p *pipetestPoll) step() (int, error) {
	k, err := unix.Poll(p.fds, -1)
	if err == unix.EINTR {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("poll: %w", err)
	}
	passed := 0
	for i := 0; i < len(p.fds) && k > 0; i++ {
		if p.fds[i].Revents == 0 {
			continue
		}
		k--
		ok, err := p.pr.pass(i)
		if err != nil {
			return passed, err
		}
		if ok {
			passed++
		}
	}
	return passed, nil
}

func (p *pipetestPoll) close() {}

// select(2): a bitmap rebuilt on every call, limited to descriptors below
// FD_SETSIZE (1024); the kernel and user space both walk it up to the highest.
type pipetestSelect struct {
	pr   *pipetestRing
	all  unix.FdSet
	nfd  int
	set  unix.FdSet
	fdOf []int
}

func openPipetestSelect(pr *pipetestRing) (pipetestStepper, error) {
	s := &pipetestSelect{pr: pr}
	for _, fd := range pr.r {
		if fd >= pipetestSelectSetSize {
			return nil, fmt.Errorf("%w: descriptor %d is past FD_SETSIZE %d", errPipetestSkip, fd, pipetestSelectSetSize)
		}
		s.all.Set(fd)
		if fd+1 > s.nfd {
			s.nfd = fd + 1
		}
	}
	return s, nil
}

func (s *pipetestSelect) step() (int, error) {
	s.set = s.all
	k, err := unix.Select(s.nfd, &s.set, nil, nil, nil)
	if err == unix.EINTR {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("select: %w", err)
	}
	passed := 0
	for i := 0; i < len(s.pr.r) && k > 0; i++ {
		if !s.set.IsSet(s.pr.r[i]) {
			continue
		}
		k--
		ok, err := s.pr.pass(i)
		if err != nil {
			return passed, err
		}
		if ok {
			passed++
		}
	}
	return passed, nil
}

func (s *pipetestSelect) close() {}

// epoll: the interest set is registered once; each wait returns the ready
// descriptor only, and its data is the pipe's index. "epoll" is
// edge-triggered, as the only mode of the 2002 epoll was: the read in pass
// drains the pipe (it asks for more than the one byte there is), so no event
// is lost. "epoll-lt" is level-triggered: the kernel re-queues the item after
// reporting it and re-polls the emptied pipe on the next wait, one more
// file poll per pass.
type pipetestEpoll struct {
	pr  *pipetestRing
	ep  *epoll.Instance
	evs []epoll.Event
}

func openPipetestEpoll(pr *pipetestRing, ev epoll.Events) (pipetestStepper, error) {
	ep, err := epoll.New()
	if err != nil {
		return nil, err
	}
	for i, fd := range pr.r {
		if err := ep.Add(fd, ev, uint64(i)); err != nil {
			ep.Close()
			return nil, err
		}
	}
	return &pipetestEpoll{pr: pr, ep: ep, evs: make([]epoll.Event, 64)}, nil
}

func (e *pipetestEpoll) step() (int, error) {
	k, err := e.ep.Wait(e.evs, -1)
	if err != nil {
		return 0, err
	}
	passed := 0
	for _, ev := range e.evs[:k] {
		ok, err := e.pr.pass(int(ev.Data()))
		if err != nil {
			return passed, err
		}
		if ok {
			passed++
		}
	}
	return passed, nil
}

func (e *pipetestEpoll) close() { e.ep.Close() }

// pipetestPoint is one measurement.
type pipetestPoint struct {
	N       int       `json:"n"`
	Mech    string    `json:"mech"`
	Passes  int       `json:"passes"`
	Seconds float64   `json:"seconds"`
	Rate    float64   `json:"passes_per_s"` // the best round's
	Rounds  []float64 `json:"rounds"`       // each round's rate
	Skipped string    `json:"skipped,omitempty"`
}

// pipetestMeasure runs st for warm (untimed), then for d, and returns the
// passes made in the timed part and the time they took.
func pipetestMeasure(st pipetestStepper, warm, d time.Duration) (int, time.Duration, error) {
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

// pipetestConfig is what one run measures.
type pipetestConfig struct {
	Ns       []int
	Mechs    []string
	Duration time.Duration // measuring time per mechanism and N, split into Rounds
	Rounds   int
	Warmup   time.Duration // untimed, before each round
	Progress func(format string, args ...any)
}

// pipetestResult is a whole run.
type pipetestResult struct {
	Points []pipetestPoint `json:"points"`
	Notes  []string        `json:"notes,omitempty"`
	Ns     []int           `json:"n"` // the N actually measured (capped by the fd limit)
}

// pipetestRunAll measures every mechanism at every N on one locked OS thread.
func pipetestRunAll(cfg pipetestConfig) (*pipetestResult, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	res := &pipetestResult{}
	maxN := 0
	for _, n := range cfg.Ns {
		maxN = max(maxN, n)
	}
	limit, err := nofileRaise(2*maxN + openFdCount() + pipetestFdMargin)
	if err != nil {
		res.Notes = append(res.Notes, err.Error())
	}
	capN := (limit - openFdCount() - pipetestFdMargin) / 2
	capped := false
	for _, n := range cfg.Ns {
		if n > capN {
			if !capped {
				res.Notes = append(res.Notes, fmt.Sprintf(
					"N capped at %d: RLIMIT_NOFILE could only be raised to %d and N pipes need 2N descriptors", capN, limit))
				res.Ns = append(res.Ns, capN)
			}
			capped = true
			continue
		}
		res.Ns = append(res.Ns, n)
	}

	byName := map[string]pipetestMech{}
	for _, m := range pipetestMechs {
		byName[m.name] = m
	}
	// Rounds: in each round every N gets a fresh ring and every mechanism
	// runs once on it, in turn; each (mechanism, N) keeps its best round. On
	// a shared machine a burst of other work lowers whichever runs it lands
	// on; interleaving spreads the bursts over all N and mechanisms alike,
	// and the best round compares them under the least disturbed conditions.
	pts := map[string]*pipetestPoint{}
	key := func(name string, n int) string { return fmt.Sprint(name, "/", n) }
	for round := 0; round < cfg.Rounds; round++ {
		for _, n := range res.Ns {
			t0 := time.Now()
			pr, err := newPipetestRing(n)
			if err != nil {
				return res, err
			}
			if round == 0 {
				cfg.Progress("pipetest: N=%d: %d pipes made in %v", n, n, time.Since(t0).Round(time.Millisecond))
			}
			for _, name := range cfg.Mechs {
				m, ok := byName[name]
				if !ok {
					continue
				}
				pt := pts[key(name, n)]
				if pt == nil {
					pt = &pipetestPoint{N: n, Mech: name}
					pts[key(name, n)] = pt
				}
				if pt.Skipped != "" {
					continue
				}
				// Opened for the round only: a second instance watching the
				// same pipes would add its callback to every write.
				st, err := m.open(pr)
				if errors.Is(err, errPipetestSkip) {
					pt.Skipped = err.Error()
					continue
				}
				if err != nil {
					pr.close()
					return res, fmt.Errorf("pipetest %s N=%d: %w", name, n, err)
				}
				passes, el, err := pipetestMeasure(st, cfg.Warmup, cfg.Duration/time.Duration(cfg.Rounds))
				st.close()
				if err != nil {
					pr.close()
					return res, fmt.Errorf("pipetest %s N=%d: %w", name, n, err)
				}
				pt.Passes += passes
				pt.Seconds += el.Seconds()
				rate := float64(passes) / el.Seconds()
				pt.Rounds = append(pt.Rounds, rate)
				pt.Rate = max(pt.Rate, rate)
				if round == cfg.Rounds-1 {
					cfg.Progress("pipetest: N=%-6d %-8s %12.0f passes/s (best of %d rounds; %d passes in %.2fs)",
						n, name, pt.Rate, len(pt.Rounds), pt.Passes, pt.Seconds)
				}
			}
			pr.close()
		}
	}
	for _, n := range res.Ns {
		for _, name := range cfg.Mechs {
			if pt := pts[key(name, n)]; pt != nil {
				res.Points = append(res.Points, *pt)
			}
		}
	}
	return res, nil
}

func (r *pipetestResult) rate(mech string, n int) float64 {
	for _, p := range r.Points {
		if p.Mech == mech && p.N == n {
			return p.Rate
		}
	}
	return 0
}

func pipetestRun(args []string) error {
	fs := flag.NewFlagSet("pipetest", flag.ContinueOnError)
	ns := fs.String("n", "10,100,500,1000,5000,10000,16000,50000,100000", "numbers of pipes in the ring, comma-separated")
	mechs := fs.String("mech", strings.Join(pipetestMechNames(), ","), "mechanisms to measure, comma-separated")
	d := fs.Duration("d", 2*time.Second, "measuring time per mechanism and N, split into rounds")
	rounds := fs.Int("rounds", 5, "rounds per N; each mechanism runs once per round and its best round is kept")
	warm := fs.Duration("warmup", 20*time.Millisecond, "untimed warm-up before each round")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := pipetestParseConfig(*ns, *mechs, *d, *rounds, *warm)
	if err != nil {
		return err
	}
	cfg.Progress = func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
	res, err := pipetestRunAll(cfg)
	if err != nil {
		return err
	}
	pipetestPrint(res, cfg.Mechs)
	return nil
}

func pipetestParseConfig(ns, mechs string, d time.Duration, rounds int, warm time.Duration) (pipetestConfig, error) {
	var cfg pipetestConfig
	var err error
	if cfg.Ns, err = pipetestParseInts("n", ns); err != nil {
		return cfg, err
	}
	if cfg.Mechs, err = pipetestParseNames("mech", mechs, pipetestMechNames()); err != nil {
		return cfg, err
	}
	if d <= 0 {
		return cfg, fmt.Errorf("-d: %v is not a positive duration", d)
	}
	if rounds <= 0 {
		return cfg, fmt.Errorf("-rounds: %d is not positive", rounds)
	}
	if warm < 0 {
		return cfg, fmt.Errorf("-warmup: %v is negative", warm)
	}
	cfg.Duration, cfg.Rounds, cfg.Warmup = d, rounds, warm
	return cfg, nil
}

// pipetestPrint writes the table of passes per second, one row per N.
func pipetestPrint(res *pipetestResult, mechs []string) {
	fmt.Printf("%8s", "N")
	for _, m := range mechs {
		fmt.Printf(" %14s", m+" passes/s")
	}
	fmt.Printf(" %12s\n", "epoll/poll")
	for _, n := range res.Ns {
		fmt.Printf("%8d", n)
		for _, m := range mechs {
			if r := res.rate(m, n); r > 0 {
				fmt.Printf(" %14.0f", r)
			} else {
				fmt.Printf(" %14s", "-")
			}
		}
		if e, p := res.rate("epoll", n), res.rate("poll", n); e > 0 && p > 0 {
			fmt.Printf(" %12.1f", e/p)
		}
		fmt.Println()
	}
	for _, p := range res.Points {
		if p.Skipped != "" {
			fmt.Printf("# %s N=%d: %s\n", p.Mech, p.N, p.Skipped)
		}
	}
	for _, n := range res.Notes {
		fmt.Println("#", n)
	}
	if len(res.Ns) > 1 {
		lo, hi := res.Ns[0], res.Ns[len(res.Ns)-1]
		for _, m := range mechs {
			if a, b := res.rate(m, lo), res.rate(m, hi); a > 0 && b > 0 {
				fmt.Printf("# %s: N=%d / N=%d = %.3f\n", m, hi, lo, b/a)
			}
		}
	}
	fmt.Printf("# 2002 (seed 001): epoll %d passes/s at 10 pipes, %d at %d; poll %d at 10, %d at %d\n",
		pipetest2002Epoll10, pipetest2002EpollBig, pipetest2002N, pipetest2002Poll10, pipetest2002PollBig, pipetest2002N)
}

func pipetestReport(opts reportOptions) (Section, error) {
	cfg := pipetestConfig{
		Ns:       []int{10, 100, 1000, 5000, 16000, 100000},
		Mechs:    pipetestMechNames(),
		Duration: 600 * time.Millisecond,
		Rounds:   4,
		Warmup:   10 * time.Millisecond,
		Progress: opts.Progress,
	}
	if opts.Quick {
		cfg.Ns = []int{10, 100, 1000}
		cfg.Duration = 60 * time.Millisecond
		cfg.Rounds = 2
		cfg.Warmup = 2 * time.Millisecond
	}
	res, err := pipetestRunAll(cfg)
	if err != nil {
		return Section{}, err
	}
	return pipetestSection(res, cfg), nil
}

// pipetestSection turns a run into report rows and a chart.
func pipetestSection(res *pipetestResult, cfg pipetestConfig) Section {
	sec := Section{
		Experiment: "pipetest",
		Params: map[string]any{
			"n":        res.Ns,
			"mech":     cfg.Mechs,
			"duration": cfg.Duration.String(),
			"rounds":   cfg.Rounds,
			"warmup":   cfg.Warmup.String(),
		},
		Raw:   res,
		Notes: append([]string(nil), res.Notes...),
	}
	sec.Notes = append(sec.Notes, fmt.Sprintf(
		"each figure is the best of %d interleaved rounds: the machine is shared and a burst of other work lowers whichever run it lands on", cfg.Rounds))
	add := func(r Row) {
		r.Experiment = "pipetest"
		r.ratio()
		sec.Rows = append(sec.Rows, r)
	}
	if len(res.Ns) == 0 {
		return sec
	}
	lo, hi := res.Ns[0], res.Ns[len(res.Ns)-1]

	// Flatness: the claim of 2002 and the target.
	if a, b := res.rate("epoll", lo), res.rate("epoll", hi); a > 0 && b > 0 {
		add(Row{Case: fmt.Sprintf("epoll N=%d / N=%d", hi, lo), Ours: b / a, Unit: "x",
			RefName: "target", Ref: pipetestTargetFlat,
			RefNote: fmt.Sprintf("2002: %.2f at N=%d", float64(pipetest2002EpollBig)/pipetest2002Epoll10, pipetest2002N)})
	}
	// The 2002 shape, at the largest N measured up to the 2002 N.
	big := 0
	for _, n := range res.Ns {
		if n <= pipetest2002N {
			big = max(big, n)
		}
	}
	at2002 := ""
	if big != pipetest2002N {
		at2002 = fmt.Sprintf("2002 figure at N=%d", pipetest2002N)
	}
	if a, b := res.rate("epoll", 10), res.rate("epoll", big); a > 0 && b > 0 && big > 10 {
		add(Row{Case: fmt.Sprintf("epoll N=%d / N=10", big), Ours: b / a, Unit: "x",
			RefName: "seed 001 (2002)", Ref: float64(pipetest2002EpollBig) / pipetest2002Epoll10, RefNote: at2002})
	}
	if a, b := res.rate("poll", lo), res.rate("poll", hi); a > 0 && b > 0 {
		add(Row{Case: fmt.Sprintf("poll N=%d / N=%d", hi, lo), Ours: b / a, Unit: "x",
			RefNote: fmt.Sprintf("1/N would be %.2g", float64(lo)/float64(hi))})
	}
	if a, b := res.rate("poll", 10), res.rate("poll", big); a > 0 && b > 0 && big > 10 {
		add(Row{Case: fmt.Sprintf("poll N=%d / N=10", big), Ours: b / a, Unit: "x",
			RefName: "seed 001 (2002)", Ref: float64(pipetest2002PollBig) / pipetest2002Poll10, RefNote: at2002})
	}
	// Against the no-wait baseline: how much of epoll's fall is the wait's,
	// and how much the pipes' own (both rates fall as N pipes' kernel state
	// outgrows the CPU caches; the ratio epoll/direct isolates the wait).
	if d0, dh, e0, eh := res.rate("direct", lo), res.rate("direct", hi), res.rate("epoll", lo), res.rate("epoll", hi); d0 > 0 && dh > 0 && e0 > 0 && eh > 0 && hi != lo {
		add(Row{Case: fmt.Sprintf("epoll/direct N=%d vs N=%d", hi, lo), Ours: eh / dh, Unit: "x",
			RefName: fmt.Sprintf("epoll/direct N=%d", lo), Ref: e0 / d0,
			RefNote: fmt.Sprintf("direct (read+write, no wait) itself: N=%d / N=%d = %.2f", hi, lo, dh/d0)})
	}
	// What one wait costs per pass, from the baseline: 1/rate - 1/direct.
	for _, n := range res.Ns {
		d := res.rate("direct", n)
		if d <= 0 {
			continue
		}
		cost := func(m string) float64 {
			if r := res.rate(m, n); r > 0 {
				return 1e6 * (1/r - 1/d)
			}
			return 0
		}
		if e, p := cost("epoll"), cost("poll"); e > 0 && p > 0 {
			add(Row{Case: fmt.Sprintf("wait cost per pass: epoll vs poll N=%d", n), Ours: e, Unit: "us",
				RefName: "poll(2)", Ref: p, LowerIsBetter: true, RefNote: "1/rate - 1/direct"})
		}
	}
	// epoll against poll (and select, the ring) at each N.
	for _, n := range res.Ns {
		e := res.rate("epoll", n)
		if p := res.rate("poll", n); e > 0 && p > 0 {
			add(Row{Case: fmt.Sprintf("epoll vs poll N=%d", n), Ours: e, Unit: "passes/s", RefName: "poll(2)", Ref: p})
		}
		if s := res.rate("select", n); e > 0 && s > 0 {
			add(Row{Case: fmt.Sprintf("epoll vs select N=%d", n), Ours: e, Unit: "passes/s", RefName: "select(2)", Ref: s})
		}
		if r := res.rate("ring", n); e > 0 && r > 0 {
			add(Row{Case: fmt.Sprintf("ring vs epoll N=%d", n), Ours: r, Unit: "passes/s", RefName: "epoll", Ref: e})
		}
	}
	// The absolute 2002 figures, on 2002 hardware: a reference, not a target.
	for _, c := range []struct {
		mech string
		n    int
		ref  float64
	}{
		{"epoll", 10, pipetest2002Epoll10}, {"epoll", big, pipetest2002EpollBig},
		{"poll", 10, pipetest2002Poll10}, {"poll", big, pipetest2002PollBig},
	} {
		if r := res.rate(c.mech, c.n); r > 0 {
			note := "2002 hardware, kernel 2.5.44"
			if c.n == big && big != pipetest2002N {
				note += "; " + at2002
			}
			add(Row{Case: fmt.Sprintf("%s N=%d", c.mech, c.n), Ours: r, Unit: "passes/s",
				RefName: "seed 001 (2002)", Ref: c.ref, RefNote: note})
		}
	}

	ch := Chart{
		File:   "pipetest.svg",
		Title:  "pipetest: one token around N pipes, single thread",
		XLabel: "pipes in the ring (N)",
		YLabel: "token passes per second",
		LogX:   true,
		LogY:   true,
	}
	for _, m := range cfg.Mechs {
		s := Series{Name: m}
		for _, n := range res.Ns {
			if r := res.rate(m, n); r > 0 {
				s.X = append(s.X, float64(n))
				s.Y = append(s.Y, r)
			}
		}
		if len(s.X) > 0 {
			ch.Series = append(ch.Series, s)
		}
	}
	ch.Series = append(ch.Series,
		Series{Name: "epoll 2002", X: []float64{10, pipetest2002N}, Y: []float64{pipetest2002Epoll10, pipetest2002EpollBig}},
		Series{Name: "poll 2002", X: []float64{10, pipetest2002N}, Y: []float64{pipetest2002Poll10, pipetest2002PollBig}},
	)
	sec.Charts = []Chart{ch}
	noted := map[string]bool{}
	for _, p := range res.Points {
		if p.Skipped != "" && !noted[p.Mech] {
			noted[p.Mech] = true
			sec.Notes = append(sec.Notes, fmt.Sprintf("%s not measured from N=%d on: %s", p.Mech, p.N, p.Skipped))
		}
	}
	return sec
}
