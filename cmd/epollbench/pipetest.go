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
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/chart"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/cref"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/system"
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
//
// The read and the write are the harness's, the same for every mechanism,
// and are raw system calls as in the C reference: the pipes are
// non-blocking, so the runtime has nothing to hand off around them, and
// its bookkeeping around each call would be a fixed cost per pass that C
// does not pay, not a cost of the wait under test.
func (pr *pipetestRing) pass(i int) (bool, error) {
	n, errno := system.Read(pr.r[i], pr.buf[:])
	if errno == unix.EAGAIN {
		return false, nil
	}
	if errno != 0 {
		return false, fmt.Errorf("read pipe %d: %w", i, errno)
	}
	if n != 1 {
		return false, fmt.Errorf("read pipe %d: got %d bytes, want the 1-byte token", i, n)
	}
	j := i + 1
	if j == len(pr.w) {
		j = 0
	}
	if _, errno := system.Write(pr.w[j], pr.buf[:1]); errno != 0 {
		return false, fmt.Errorf("write pipe %d: %w", j, errno)
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
	pr  *pipetestRing
	all unix.FdSet
	nfd int
	set unix.FdSet
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
			return nil, pipetestAddError(i, err)
		}
	}
	return &pipetestEpoll{pr: pr, ep: ep, evs: make([]epoll.Event, 64)}, nil
}

// pipetestAddError explains a failed registration of pipe i. ENOSPC is the
// per-user cap on epoll registrations (/proc/sys/fs/epoll/max_user_watches,
// sized from memory), which a large ring on a small machine can reach: the
// mechanism is then skipped at this N, with the reason, rather than the
// whole experiment failing.
func pipetestAddError(i int, err error) error {
	if errors.Is(err, unix.ENOSPC) {
		return fmt.Errorf("%w: epoll refused registration %d with ENOSPC: the fs.epoll.max_user_watches limit", errPipetestSkip, i+1)
	}
	return fmt.Errorf("pipe %d: %w", i, err)
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
	Tables  int       `json:"tables"`       // descriptor tables the ring spanned (1: one thread)
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
	Segment  int           // if > 0, cut rings larger than this into tables of this many pipes
	C        bool          // also run the C reference (needs gcc)
	Progress func(format string, args ...any)
}

// pipetestResult is a whole run.
type pipetestResult struct {
	Points []pipetestPoint `json:"points"`
	Notes  []string        `json:"notes,omitempty"`
	Ns     []int           `json:"n"`                // the N actually measured
	C      []pipetestPoint `json:"c,omitempty"`      // the C reference: same ring, same method
	CNote  string          `json:"c_note,omitempty"` // why C is absent
}

// pipetestLayout is a ring as the mechanisms see it: in one descriptor
// table (pipetestSingle) or spread over several (pipetestWide).
type pipetestLayout interface {
	open(mech string) (pipetestStepper, error)
	measure(st pipetestStepper, warm, d time.Duration) (int, time.Duration, error)
}

// pipetestSingle is a ring in the calling thread's table.
type pipetestSingle struct{ pr *pipetestRing }

func (s pipetestSingle) open(mech string) (pipetestStepper, error) {
	for _, m := range pipetestMechs {
		if m.name == mech {
			return m.open(s.pr)
		}
	}
	return nil, fmt.Errorf("pipetest: unknown mechanism %q", mech)
}

func (s pipetestSingle) measure(st pipetestStepper, warm, d time.Duration) (int, time.Duration, error) {
	return pipetestMeasure(st, warm, d)
}

// prime passes the token once around the ring with no wait. A pipe's first
// write allocates its buffer page, which the pipe keeps: without a lap
// first, the first mechanism measured on a large ring would pay N page
// allocations that the others do not.
func (s pipetestSingle) prime() error {
	for range s.pr.r {
		if ok, err := s.pr.pass(s.pr.at); err != nil || !ok {
			return fmt.Errorf("pipetest: priming lap: token lost at pipe %d (%v)", s.pr.at, err)
		}
	}
	return nil
}

func (s pipetestSingle) close() { s.pr.close() }

func (w *pipetestWide) tables() int { return len(w.workers) }

// pipetestPlan decides which rings fit one descriptor table: rings of more
// than single pipes are cut into segments of segment pipes. It raises
// RLIMIT_NOFILE as far as it may first; the notes say what was cut or left
// out and why.
func pipetestPlan(cfg pipetestConfig) (ns []int, single, segment int, notes []string) {
	maxN := 0
	for _, n := range cfg.Ns {
		maxN = max(maxN, n)
	}
	limit, err := system.RaiseNofile(2*maxN + system.OpenFds() + pipetestFdMargin)
	if err != nil {
		notes = append(notes, err.Error())
	}
	single = (limit - system.OpenFds() - pipetestFdMargin) / 2
	// A worker's table also holds every segment's cross pipe.
	segment = single - pipetestMaxTables
	if cfg.Segment > 0 {
		single = min(single, cfg.Segment)
		segment = min(segment, cfg.Segment)
	}
	if segment < 2 {
		notes = append(notes, fmt.Sprintf("RLIMIT_NOFILE %d leaves no room for a ring", limit))
		return nil, 0, 0, notes
	}
	wide := false
	for _, n := range cfg.Ns {
		if n > segment*pipetestMaxTables {
			notes = append(notes, fmt.Sprintf("N=%d not measured: %d tables of %d pipes hold at most %d",
				n, pipetestMaxTables, segment, segment*pipetestMaxTables))
			continue
		}
		wide = wide || n > single
		ns = append(ns, n)
	}
	if wide {
		notes = append(notes, fmt.Sprintf(
			"RLIMIT_NOFILE is %d: rings of more than %d pipes were cut into segments of up to %d, each made by a thread with a descriptor table of its own (unshare CLONE_FILES), one epoll instance watching all N; the token's holder hands the turn on at each segment's end (one thread wake-up per segment per lap, counted); poll, select and the ring cannot span tables",
			limit, single, segment))
	}
	return ns, single, segment, notes
}

// pipetestRunAll measures every mechanism at every N on one locked OS thread,
// or on one thread per descriptor table when the ring does not fit one.
func pipetestRunAll(cfg pipetestConfig) (*pipetestResult, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	res := &pipetestResult{}
	ns, capN, segment, notes := pipetestPlan(cfg)
	res.Notes = append(res.Notes, notes...)

	// Rounds: in each round every N that fits one table gets a fresh ring
	// and every mechanism runs once on it, in turn; each (mechanism, N)
	// keeps its best round. On a shared machine a burst of other work
	// lowers whichever runs it lands on; interleaving spreads the bursts
	// over all N and mechanisms alike, and the best round compares them
	// under the least disturbed conditions.
	//
	// A wide ring is made once and runs all its rounds before the next
	// wide ring is made: making and priming 100,000 pipes takes seconds,
	// and they hold about 600 MB of kernel memory, which one ring at a time
	// keeps within what a small machine has.
	pts := map[string]*pipetestPoint{}
	key := func(name string, n int) string { return fmt.Sprint(name, "/", n) }
	point := func(n, tables int) func(string) *pipetestPoint {
		return func(name string) *pipetestPoint {
			pt := pts[key(name, n)]
			if pt == nil {
				pt = &pipetestPoint{N: n, Mech: name, Tables: tables}
				pts[key(name, n)] = pt
			}
			return pt
		}
	}
	var singles, wides []int
	for _, n := range ns {
		if n > capN {
			wides = append(wides, n)
		} else {
			singles = append(singles, n)
		}
	}
	for round := 0; round < cfg.Rounds; round++ {
		for _, n := range singles {
			t0 := time.Now()
			pr, err := newPipetestRing(n)
			if err != nil {
				return res, err
			}
			lay := pipetestSingle{pr}
			err = lay.prime()
			if err == nil {
				if round == 0 {
					cfg.Progress("pipetest: N=%d: %d pipes made and primed in %v", n, n, time.Since(t0).Round(time.Millisecond))
				}
				err = pipetestRound(cfg, lay, n, round, point(n, 1))
			}
			lay.close()
			if err != nil {
				return res, err
			}
		}
	}
	unsupported := ""
	for _, n := range wides {
		t0 := time.Now()
		w, err := newPipetestWide(n, segment, cfg.Mechs)
		if errors.Is(err, errors.ErrUnsupported) {
			unsupported = fmt.Sprintf("N > %d not measured: one descriptor table cannot hold the ring and %v", capN, err)
			res.Notes = append(res.Notes, unsupported)
			break
		}
		if err != nil {
			return res, err
		}
		if err = w.prime(); err == nil {
			cfg.Progress("pipetest: N=%d: %d pipes made and primed in %v (%d descriptor tables)", n, n, time.Since(t0).Round(time.Millisecond), w.tables())
			for round := 0; round < cfg.Rounds && err == nil; round++ {
				err = pipetestRound(cfg, w, n, round, point(n, w.tables()))
			}
		}
		w.close()
		if err != nil {
			return res, err
		}
	}
	if cfg.C {
		pipetestRunCAll(cfg, res, ns, capN, segment, unsupported != "")
	}
	for _, n := range ns {
		if n > capN && unsupported != "" {
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

// pipetestRound runs every mechanism once on the ring lay of n pipes.
func pipetestRound(cfg pipetestConfig, lay pipetestLayout, n, round int, point func(string) *pipetestPoint) error {
	for _, name := range cfg.Mechs {
		pt := point(name)
		if pt.Skipped != "" {
			continue
		}
		// Opened for the round only: a second instance watching the
		// same pipes would add its callback to every write.
		st, err := lay.open(name)
		if errors.Is(err, errPipetestSkip) {
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
			cfg.Progress("pipetest: N=%-6d %-8s %12.0f passes/s (best of %d rounds; %d passes in %.2fs)",
				n, name, pt.Rate, len(pt.Rounds), pt.Passes, pt.Seconds)
		}
	}
	return nil
}

// pipetestRunCAll runs the C reference at every N, with the same segments;
// what stops it becomes res.CNote.
func pipetestRunCAll(cfg pipetestConfig, res *pipetestResult, ns []int, single, segment int, noWide bool) {
	prog, err := cref.BuildPipetest()
	if err != nil {
		res.CNote = err.Error()
		return
	}
	defer prog.Close()
	for _, n := range ns {
		seg := n
		if n > single {
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
			pt := pipetestPoint{N: n, Mech: m, Rounds: rates[m], Tables: (n + seg - 1) / seg}
			for _, r := range rates[m] {
				pt.Rate = max(pt.Rate, r)
			}
			res.C = append(res.C, pt)
			cfg.Progress("pipetest: N=%-6d C %-6s %12.0f passes/s (best of %d rounds)", n, m, pt.Rate, len(pt.Rounds))
		}
	}
}

// cRate is the C reference's best rate for mech at n, or 0.
func (r *pipetestResult) cRate(mech string, n int) float64 {
	for _, p := range r.C {
		if p.Mech == mech && p.N == n {
			return p.Rate
		}
	}
	return 0
}

// largest is the largest N at which mech was measured, or 0.
func (r *pipetestResult) largest(mech string) int {
	n := 0
	for _, p := range r.Points {
		if p.Mech == mech && p.Rate > 0 {
			n = max(n, p.N)
		}
	}
	return n
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
	fs := newFlagSet("pipetest", "The 2002 LSE pipetest (seed 001): one token passed around N pipes; passes/s for\npoll, select, epoll and the ring as N grows, beside a C program running the same ring.")
	ns := fs.String("n", "10,100,500,1000,5000,10000,16000,50000,100000", "numbers of pipes in the ring, comma-separated")
	segment := fs.Int("segment", 0, "cut rings larger than this into descriptor tables of this many pipes (0: only rings too large for one table)")
	mechs := fs.String("mech", strings.Join(pipetestMechNames(), ","), "mechanisms to measure, comma-separated")
	d := fs.Duration("d", 2*time.Second, "measuring time per mechanism and N, split into rounds")
	rounds := fs.Int("rounds", 5, "rounds per N; each mechanism runs once per round and its best round is kept")
	warm := fs.Duration("warmup", 20*time.Millisecond, "untimed warm-up before each round")
	withC := fs.Bool("C", true, "also run the C reference of the same ring, direct and epoll (needs gcc)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := pipetestParseConfig(*ns, *mechs, *d, *rounds, *warm, *segment)
	if err != nil {
		return err
	}
	cfg.C = *withC
	cfg.Progress = func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
	res, err := pipetestRunAll(cfg)
	if err != nil {
		return err
	}
	pipetestPrint(res, cfg.Mechs)
	return nil
}

func pipetestParseConfig(ns, mechs string, d time.Duration, rounds int, warm time.Duration, segment int) (pipetestConfig, error) {
	var cfg pipetestConfig
	var err error
	if cfg.Ns, err = parseInts("n", ns); err != nil {
		return cfg, err
	}
	if cfg.Mechs, err = parseNames("mech", mechs, pipetestMechNames()); err != nil {
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
	if segment < 0 || segment == 1 {
		return cfg, fmt.Errorf("-segment: %d is not 0 (automatic) or at least 2 pipes", segment)
	}
	cfg.Duration, cfg.Rounds, cfg.Warmup, cfg.Segment = d, rounds, warm, segment
	return cfg, nil
}

// pipetestPrint writes the table of passes per second, one row per N.
func pipetestPrint(res *pipetestResult, mechs []string) {
	fmt.Printf("%8s", "N")
	for _, m := range mechs {
		fmt.Printf(" %14s", m+" passes/s")
	}
	if res.C != nil {
		for _, m := range cref.PipetestMechs {
			fmt.Printf(" %14s", "C "+m)
		}
	}
	fmt.Printf(" %7s %12s\n", "tables", "epoll/poll")
	for _, n := range res.Ns {
		fmt.Printf("%8d", n)
		tables := 0
		for _, m := range mechs {
			if r := res.rate(m, n); r > 0 {
				fmt.Printf(" %14.0f", r)
			} else {
				fmt.Printf(" %14s", "-")
			}
			for _, p := range res.Points {
				if p.N == n && p.Mech == m && p.Skipped == "" {
					tables = p.Tables
				}
			}
		}
		if res.C != nil {
			for _, m := range cref.PipetestMechs {
				if r := res.cRate(m, n); r > 0 {
					fmt.Printf(" %14.0f", r)
				} else {
					fmt.Printf(" %14s", "-")
				}
			}
		}
		fmt.Printf(" %7d", tables)
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
	if res.CNote != "" {
		fmt.Println("# C reference:", res.CNote)
	}
	if len(res.Ns) > 1 {
		lo := res.Ns[0]
		for _, m := range mechs {
			if hi := res.largest(m); hi > lo {
				fmt.Printf("# %s: N=%d / N=%d = %.3f\n", m, hi, lo, res.rate(m, hi)/res.rate(m, lo))
			}
		}
		hi := res.Ns[len(res.Ns)-1]
		for _, m := range cref.PipetestMechs {
			if a, b := res.cRate(m, lo), res.cRate(m, hi); a > 0 && b > 0 {
				fmt.Printf("# C %s: N=%d / N=%d = %.3f\n", m, hi, lo, b/a)
			}
		}
	}
	fmt.Printf("# 2002 (seed 001): epoll %d passes/s at 10 pipes, %d at %d; poll %d at 10, %d at %d\n",
		pipetest2002Epoll10, pipetest2002EpollBig, pipetest2002N, pipetest2002Poll10, pipetest2002PollBig, pipetest2002N)
}

func pipetestReport(opts reportOptions) (Section, error) {
	cfg := pipetestConfig{
		Ns:       []int{10, 100, 1000, 9000, 16000, 100000},
		Mechs:    pipetestMechNames(),
		Duration: 600 * time.Millisecond,
		Rounds:   4,
		Warmup:   10 * time.Millisecond,
		Progress: opts.Progress,
		C:        true,
	}
	if opts.Quick {
		cfg.C = false
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
	// The 2002 shape, at the largest N a mechanism was measured at up to
	// the 2002 N (poll stops where one descriptor table does).
	upTo2002 := func(mech string) (big int, note string) {
		for _, p := range res.Points {
			if p.Mech == mech && p.Rate > 0 && p.N <= pipetest2002N {
				big = max(big, p.N)
			}
		}
		if big != pipetest2002N {
			note = fmt.Sprintf("2002 figure at N=%d", pipetest2002N)
		}
		return big, note
	}
	big, at2002 := upTo2002("epoll")
	if a, b := res.rate("epoll", 10), res.rate("epoll", big); a > 0 && b > 0 && big > 10 {
		add(Row{Case: fmt.Sprintf("epoll N=%d / N=10", big), Ours: b / a, Unit: "x",
			RefName: "seed 001 (2002)", Ref: float64(pipetest2002EpollBig) / pipetest2002Epoll10, RefNote: at2002})
	}
	if ph := res.largest("poll"); ph > lo {
		add(Row{Case: fmt.Sprintf("poll N=%d / N=%d", ph, lo), Ours: res.rate("poll", ph) / res.rate("poll", lo), Unit: "x",
			RefNote: fmt.Sprintf("1/N would be %.2g", float64(lo)/float64(ph))})
	}
	// The C reference on the same ring: whether a fall with N is the
	// machine's (C falls alike) or ours.
	if a, b, ca, cb := res.rate("epoll", lo), res.rate("epoll", hi), res.cRate("epoll", lo), res.cRate("epoll", hi); a > 0 && b > 0 {
		r := Row{Case: fmt.Sprintf("epoll N=%d / N=%d vs C", hi, lo), Ours: b / a, Unit: "x", RefName: "C, same ring"}
		if ca > 0 && cb > 0 {
			r.Ref = cb / ca
		} else {
			r.RefNote = res.CNote
		}
		add(r)
	}
	for _, n := range []int{lo, hi} {
		if e, c := res.rate("epoll", n), res.cRate("epoll", n); e > 0 && c > 0 {
			add(Row{Case: fmt.Sprintf("epoll N=%d vs C", n), Ours: e, Unit: "passes/s", RefName: "C, same ring", Ref: c})
		}
	}
	pbig, pat2002 := upTo2002("poll")
	if a, b := res.rate("poll", 10), res.rate("poll", pbig); a > 0 && b > 0 && pbig > 10 {
		add(Row{Case: fmt.Sprintf("poll N=%d / N=10", pbig), Ours: b / a, Unit: "x",
			RefName: "seed 001 (2002)", Ref: float64(pipetest2002PollBig) / pipetest2002Poll10, RefNote: pat2002})
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
		note string
	}{
		{"epoll", 10, pipetest2002Epoll10, ""}, {"epoll", big, pipetest2002EpollBig, at2002},
		{"poll", 10, pipetest2002Poll10, ""}, {"poll", pbig, pipetest2002PollBig, pat2002},
	} {
		if r := res.rate(c.mech, c.n); r > 0 {
			note := "2002 hardware, kernel 2.5.44"
			if c.n != 10 && c.note != "" {
				note += "; " + c.note
			}
			add(Row{Case: fmt.Sprintf("%s N=%d", c.mech, c.n), Ours: r, Unit: "passes/s",
				RefName: "seed 001 (2002)", Ref: c.ref, RefNote: note})
		}
	}

	ch := Chart{
		File:   "pipetest.svg",
		Title:  "pipetest: one token around N pipes, one thread moving it at a time",
		XLabel: "pipes in the ring (N)",
		YLabel: "token passes per second",
		LogX:   true,
		LogY:   true,
	}
	for _, m := range cfg.Mechs {
		chart.Curve(&ch, m, res.Ns, func(n int) (float64, float64) { return float64(n), res.rate(m, n) })
	}
	for _, m := range cref.PipetestMechs {
		chart.Curve(&ch, "C "+m, res.Ns, func(n int) (float64, float64) { return float64(n), res.cRate(m, n) })
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
