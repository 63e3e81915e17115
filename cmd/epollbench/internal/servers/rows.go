package servers

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
)

// The targets of the servers section, as ratios (above 1: ours ahead).
const (
	minVsBestGoPeer = 1.1  // echo and HTTP throughput, against the best Go peer's
	minVsC          = 0.9  // the same against the C server's
	minVsBestP99    = 1    // p99 at the same offered load no higher than the lowest Go peer's that kept up
	minVsBestMemory = 2    // RSS per idle connection at most half the best Go peer's
	minVsAcceptor   = 1    // shared-queue connection rate against the acceptor mode's
	goMemoryBound   = 1024 // bytes of Go heap and stack per idle connection
)

// units are the figures' units per family.
var units = map[string]string{familyEcho: "msg/s", familyHTTP: "resp/s", familyLatency: "us", familyConnRate: "conn/s", familyIdle: "B/conn"}

// group is one case in one placement with one generator: the
// implementations side by side, as the driver compares them.
type group struct {
	family, kase, loops, generator string
	serverLoops                    int
	rows                           []*peerRow
}

// name is the group as a row's case: "echo 64B c100 loops=1",
// "http c100 loops=1 wrk".
func (g *group) name() string {
	s := g.kase + " loops=" + g.loops
	if g.generator != "" && g.generator != "peerbench" {
		s += " " + g.generator
	}
	return s
}

func (g *group) find(impl string) *peerRow {
	for _, r := range g.rows {
		if r.Impl == impl {
			return r
		}
	}
	return nil
}

// bestGoPeer is the Go peer the driver found best in the group, "" when
// none has a figure.
func (g *group) bestGoPeer() string {
	for _, r := range g.rows {
		if r.BestGoPeer != "" {
			return r.BestGoPeer
		}
	}
	return ""
}

// groupRows gathers the driver's rows into groups, by family in the order
// of families, our generator's before wrk's cross-checks, then in the
// order the driver listed them.
func groupRows(rows []peerRow) []*group {
	var gs []*group
	for i := range rows {
		r := &rows[i]
		k := slices.IndexFunc(gs, func(g *group) bool {
			return g.kase == r.Case && g.loops == r.Loops && g.generator == r.Generator
		})
		if k < 0 {
			gs = append(gs, &group{family: r.Family, kase: r.Case, loops: r.Loops, generator: r.Generator, serverLoops: r.ServerLoops})
			k = len(gs) - 1
		}
		gs[k].rows = append(gs[k].rows, r)
	}
	slices.SortStableFunc(gs, func(a, b *group) int {
		return cmp.Or(cmp.Compare(familyOrder(a.family), familyOrder(b.family)),
			cmp.Compare(crossCheck(a), crossCheck(b)))
	})
	return gs
}

// crossCheck is 1 for a group of another generator than the driver's own
// (wrk), 0 for the driver's.
func crossCheck(g *group) int {
	if g.generator == "" || g.generator == "peerbench" {
		return 0
	}
	return 1
}

func familyOrder(f string) int {
	if i := slices.Index(families, f); i >= 0 {
		return i
	}
	return len(families)
}

// builder turns the driver's report into the section's rows and notes.
type builder struct {
	sec  *harness.Section
	ours *peerImpl // nil: eventpoll's server is not in the run
}

func (b *builder) oursName() string {
	if b.ours == nil {
		return "eventpoll"
	}
	return b.ours.Name
}

func (b *builder) isOurs(impl string) bool {
	return b.ours != nil && (impl == b.ours.Name || strings.HasPrefix(impl, b.ours.Name+"/"))
}

func (b *builder) isGoPeer(r *peerRow) bool { return r.Impl != cImpl && !b.isOurs(r.Impl) }

// ourRow is our implementation's row in g: its default mode where the
// case runs every mode.
func (b *builder) ourRow(g *group) *peerRow {
	if b.ours == nil {
		return nil
	}
	if len(b.ours.Modes) > 0 {
		if r := g.find(b.ours.Name + "/" + b.ours.Modes[0]); r != nil {
			return r
		}
	}
	return g.find(b.ours.Name)
}

// oursNote says why a row has no figure of ours, "" when it has one.
func (b *builder) oursNote(our *peerRow) string {
	switch {
	case b.ours == nil:
		return "eventpoll's server not in the run"
	case our == nil:
		return b.ours.Name + " has no row in this case"
	case our.Error != "":
		return b.ours.Name + " FAILED (see the notes)"
	case our.Family != familyIdle && our.figure() == 0:
		return b.ours.Name + noFigure
	}
	return ""
}

func peerNote(p *peerRow) string {
	switch {
	case p.Error != "":
		return refName(p.Impl) + " FAILED (see the notes)"
	case p.Family != familyIdle && p.figure() == 0:
		return refName(p.Impl) + noFigure
	}
	return ""
}

// noFigure follows the name of an implementation whose runs completed no
// operation in their window: the driver reports no figure and no error.
const noFigure = ": no figure (no operation completed in the measured window)"

func refName(impl string) string {
	if impl == cImpl {
		return "C epoll server"
	}
	return impl
}

func join(notes ...string) string {
	return strings.Join(slices.DeleteFunc(notes, func(s string) bool { return s == "" }), "; ")
}

// throughput adds our figure against each peer's and the C server's,
// with the targets on the best Go peer's row and on C's (echo and HTTP),
// and the closed-loop p99 row.
func (b *builder) throughput(g *group) {
	our := b.ourRow(g)
	judged := g.family == familyEcho || g.family == familyHTTP
	best := g.bestGoPeer()
	for _, p := range g.rows {
		if b.isOurs(p.Impl) {
			continue
		}
		row := harness.Row{Case: g.name(), Ours: our.figure(), Unit: units[g.family], RefName: refName(p.Impl), Ref: p.figure()}
		role := ""
		switch {
		case judged && p.Impl == best:
			row.Target, role = harness.AtLeast(minVsBestGoPeer), "the best Go peer"
		case judged && p.Impl == cImpl:
			row.Target = harness.AtLeast(minVsC)
		}
		row.RefNote = join(role, b.oursNote(our), peerNote(p))
		b.sec.Add(row)
	}
	if judged {
		b.p99(g, our)
	}
}

// p99 adds our closed-loop p99 latency against the lowest of the Go
// peers', when a Go peer has one (wrk gives none for pipelined runs). It
// carries no target: in a closed loop each server runs at its own rate,
// so the p99s are at different loads; the target is judged on the latency
// rows (latency), where every server is offered the same rate.
func (b *builder) p99(g *group, our *peerRow) {
	var best *peerRow
	for _, p := range g.rows {
		if !b.isGoPeer(p) || p.Error != "" || p.P99us == nil || *p.P99us <= 0 {
			continue
		}
		if best == nil || *p.P99us < *best.P99us {
			best = p
		}
	}
	if best == nil {
		return
	}
	row := harness.Row{Case: g.name() + " p99", Unit: units[familyLatency], RefName: "best Go peer's p99", Ref: *best.P99us,
		LowerIsBetter: true}
	missing := b.oursNote(our)
	if missing == "" && our.P99us == nil {
		missing = b.ours.Name + "'s p99 unknown"
	} else if missing == "" {
		row.Ours = *our.P99us
	}
	row.RefNote = join(best.Impl+"'s, the lowest of the Go peers", closedLoopP99, missing)
	b.sec.Add(row)
}

// closedLoopP99 is the note of a closed-loop p99 row.
const closedLoopP99 = "closed loop, each server at its own rate: information, the p99 target is judged on the latency rows"

// latency adds an open-loop group's rows, where every server was offered
// the same rate: our p99 against each peer's and C's, information, and
// the row that carries the p99 target, against the lowest p99 of the Go
// peers that kept up with the offered rate. A run that did not keep up
// (overloaded) has a queue's p99, which none is compared with: a peer's
// is in its row's note, not its figure, and the rows say so, and give the generator's own lateness p99 (how late its sends
// went out after their due times), below which a difference between two
// servers is not the servers'. verdicts are the driver's own, quoted
// where the row's differs.
func (b *builder) latency(g *group, verdicts []peerVerdict) {
	our := b.ourRow(g)
	kase := g.name() + " p99"
	missing := b.oursNote(our)
	if missing == "" && our.Overloaded != "" {
		missing = b.ours.Name + overloadedNote(our)
	}
	var best *peerRow
	var behind []string
	for _, p := range g.rows {
		switch {
		case !b.isGoPeer(p) || p.figure() == 0:
		case p.Overloaded != "":
			behind = append(behind, p.Impl)
		case best == nil || p.figure() < best.figure():
			best = p
		}
	}
	for _, p := range g.rows {
		if b.isOurs(p.Impl) {
			continue
		}
		row := harness.Row{Case: kase, Ours: our.figure(), Unit: units[familyLatency], RefName: refName(p.Impl), Ref: p.figure(),
			LowerIsBetter: true}
		note := peerNote(p)
		if note == "" && p.Overloaded != "" {
			// Compared with none: the figure goes into the note.
			note = fmt.Sprintf("%s%s, %.0f us", refName(p.Impl), overloadedNote(p), row.Ref)
			row.Ref = 0
		}
		row.RefNote = join(missing, note, lateness(p))
		b.sec.Add(row)
	}
	row := harness.Row{Case: kase, Ours: our.figure(), Unit: units[familyLatency], RefName: "best Go peer's p99",
		LowerIsBetter: true, Target: harness.AtLeast(minVsBestP99)}
	role := "no Go peer kept up with the offered rate"
	if best != nil {
		row.Ref = best.figure()
		role = best.Impl + "'s, the lowest of the Go peers that kept up with the offered rate"
	}
	notes := []string{role, missing}
	if len(behind) > 0 {
		notes = append(notes, strings.Join(behind, ", ")+" did not keep up: not compared")
	}
	notes = append(notes, separation(b.oursName(), our, best))
	row.Finish()
	if i := slices.IndexFunc(verdicts, func(v peerVerdict) bool { return v.Case == g.kase && v.Loops == g.loops }); i >= 0 &&
		row.Target.Verdict != harness.Verdict(verdicts[i].Verdict) {
		notes = append(notes, "peerbench judged it "+join(verdicts[i].Verdict, verdicts[i].Note))
	}
	row.RefNote = join(notes...)
	b.sec.Add(row)
}

// overloadedNote follows the name of an implementation that did not keep
// up with the offered rate.
func overloadedNote(r *peerRow) string {
	return " did not keep up (" + r.Overloaded + "): its p99 is a queue's"
}

// lateness says how late the generator's sends went out in r's best run.
func lateness(r *peerRow) string {
	if r == nil || r.Error != "" || r.LateP99us == nil {
		return ""
	}
	return fmt.Sprintf("the generator's lateness p99 %.0f us", *r.LateP99us)
}

// separation says how late the generator's sends went out in our run and
// in the best Go peer's, and whether the two p99s differ by more than
// that: by less, the run cannot tell the two servers apart.
func separation(ours string, our, best *peerRow) string {
	var parts []string
	var floor float64
	for _, r := range []struct {
		name string
		row  *peerRow
	}{{ours, our}, {"", best}} {
		if r.row == nil || r.row.Error != "" || r.row.LateP99us == nil {
			continue
		}
		name := r.name
		if name == "" {
			name = r.row.Impl
		}
		parts = append(parts, fmt.Sprintf("%.0f us in %s's run", *r.row.LateP99us, name))
		floor = max(floor, *r.row.LateP99us)
	}
	if len(parts) == 0 {
		return ""
	}
	s := "the generator's lateness p99: " + strings.Join(parts, ", ")
	if a, b := our.figure(), best.figure(); len(parts) == 2 && a > 0 && b > 0 && our.Overloaded == "" && math.Abs(a-b) <= floor {
		s += fmt.Sprintf("; the p99s differ by %.0f us, no more than that: this run does not separate them", math.Abs(a-b))
	}
	return s
}

// idle adds our memory per idle connection against each peer's and C's,
// the target on the best Go peer's row, and our Go heap and stack per
// connection against the bound.
func (b *builder) idle(g *group) {
	our := b.ourRow(g)
	best := g.bestGoPeer()
	noise := ""
	if our != nil && our.Error == "" && our.Idle != nil && our.Idle.RSSPerConn <= 0 {
		noise = "eventpoll's growth measured at or below zero: within the measurement's noise"
	}
	for _, p := range g.rows {
		if b.isOurs(p.Impl) {
			continue
		}
		row := harness.Row{Case: g.name(), Ours: our.figure(), Unit: units[familyIdle], RefName: refName(p.Impl), Ref: p.figure(),
			LowerIsBetter: true}
		role := ""
		if p.Impl == best {
			row.Target, role = harness.AtLeast(minVsBestMemory), "the best Go peer; the target is at most half its memory"
		}
		row.RefNote = join(role, b.oursNote(our), noise, peerNote(p))
		b.sec.Add(row)
	}
	row := harness.Row{Case: g.name() + " Go heap+stack", Unit: units[familyIdle], RefName: "bound", Ref: goMemoryBound,
		LowerIsBetter: true, Target: harness.AtLeast(1)}
	missing := b.oursNote(our)
	switch {
	case missing == "" && (our.Idle == nil || our.Idle.GoPerConn == nil):
		missing = b.ours.Name + "'s Go memory unknown"
	case missing == "":
		row.Ours = *our.Idle.GoPerConn
		if row.Ours <= 0 {
			missing = "measured at or below zero: within the measurement's noise"
		}
	}
	row.RefNote = join("Go heap after a GC plus goroutine stacks, per connection", missing)
	b.sec.Add(row)
}

// modes adds, where the server has two loops or more, our shared-queue
// mode's connection rate against our acceptor mode's (seed 003: every
// loop accepting from one queue against one loop handing connections out).
func (b *builder) modes(g *group) {
	if g.serverLoops < 2 {
		return
	}
	ours := b.oursName()
	row := harness.Row{Case: g.name() + " sharedqueue vs acceptor", Unit: units[familyConnRate],
		RefName: ours + " acceptor mode", Target: harness.AtLeast(minVsAcceptor)}
	if b.ours == nil {
		row.RefNote = b.oursNote(nil)
		b.sec.Add(row)
		return
	}
	sq, ac := g.find(ours+"/sharedqueue"), g.find(ours+"/acceptor")
	row.Ours, row.Ref = sq.figure(), ac.figure()
	var notes []string
	for _, m := range []struct {
		mode string
		r    *peerRow
	}{{"sharedqueue", sq}, {"acceptor", ac}} {
		switch {
		case m.r == nil:
			notes = append(notes, fmt.Sprintf("%s ran no %s mode", ours, m.mode))
		case m.r.Error != "":
			notes = append(notes, fmt.Sprintf("%s/%s FAILED (see the notes)", ours, m.mode))
		}
	}
	row.RefNote = join(notes...)
	b.sec.Add(row)
}

// failures lists the rows that failed, one note per implementation and
// error, and whether any of them is ours.
func (b *builder) failures(rows []peerRow) (notes []string, oursFailed []string) {
	type failure struct{ impl, err string }
	var order []failure
	cases := map[failure][]string{}
	for _, r := range rows {
		if r.Error == "" {
			continue
		}
		f := failure{r.Impl, r.Error}
		if _, ok := cases[f]; !ok {
			order = append(order, f)
		}
		g := group{kase: r.Case, loops: r.Loops, generator: r.Generator}
		cases[f] = append(cases[f], g.name())
	}
	for _, f := range order {
		n := fmt.Sprintf("FAILED: %s in %s: %s", refName(f.impl), strings.Join(cases[f], ", "), f.err)
		notes = append(notes, n)
		if b.isOurs(f.impl) {
			oursFailed = append(oursFailed, n)
		}
	}
	return notes, oursFailed
}

// buildSection turns the driver's report (rep, parsed from raw) into the
// servers section: the rows, the notes, the charts, the driver's whole
// JSON as the raw detail. It fails when our server failed a check or a
// run; a peer's failure is a note, and its rows have no reference figure.
func buildSection(raw []byte, rep *peerReport, command string) (harness.Section, error) {
	sec := harness.Section{Experiment: name, Raw: json.RawMessage(raw),
		Params: map[string]any{"command": command, "rounds": rep.Settings.Rounds, "duration_ms": rep.Settings.DurationMS,
			"warmup_ms": rep.Settings.WarmupMS, "short": rep.Settings.Short, "wrk_s": rep.Settings.WrkSeconds}}
	b := &builder{sec: &sec, ours: rep.ours()}
	gs := groupRows(rep.Rows)
	for _, g := range gs {
		switch g.family {
		case familyIdle:
			b.idle(g)
		case familyConnRate:
			b.throughput(g)
			b.modes(g)
		case familyLatency:
			b.latency(g, rep.P99Target)
		default:
			b.throughput(g)
		}
	}
	sec.Notes = append(sec.Notes, fmt.Sprintf("peerbench (the bench/ module) in a child process, %s: %.0f s; best of %d interleaved rounds "+
		"of %.0f ms after %.0f ms warm-up, each server in a process of its own, every echoed byte and HTTP response verified (bench/README.md)",
		command, rep.Elapsed, rep.Settings.Rounds, rep.Settings.DurationMS, rep.Settings.WarmupMS))
	sec.Notes = append(sec.Notes, rep.Notes...)
	if b.ours == nil {
		sec.Notes = append(sec.Notes, "eventpoll's server is not in the run (the bench module registers no implementation marked Ours yet): "+
			"the rows show the peers' figures, and no target is judged")
	} else if len(b.ours.Modes) > 0 {
		sec.Notes = append(sec.Notes, fmt.Sprintf("%s runs its default mode, %s, in every case but the connection rate, which runs each of its modes (%s)",
			b.ours.Name, b.ours.Modes[0], strings.Join(b.ours.Modes, ", ")))
	}
	sec.Notes = append(sec.Notes, fmt.Sprintf("targets: echo and HTTP throughput >= %gx the best Go peer's and >= %gx the C server's; "+
		"p99 at the same offered load no higher than the lowest of the Go peers' that kept up (the latency rows, open loop; the "+
		"closed-loop p99 rows, each server at its own rate, are information); RSS per idle connection at most 1/%g of the best Go peer's (lower is better, "+
		"so the ratio is theirs/ours), Go heap+stack per idle connection <= %d B; shared-queue connection rate >= the acceptor mode's "+
		"with 2 loops or more", minVsBestGoPeer, minVsC, float64(minVsBestMemory), goMemoryBound))
	if slices.ContainsFunc(gs, func(g *group) bool { return g.family == familyLatency }) {
		sec.Notes = append(sec.Notes, "latency rows (open loop): every server offered the same requests per second at fixed times, "+
			"latency from each request's due time to its reply; a server that answered under 97% of the offered rate or ended "+
			"the window behind did not keep up, and its p99 (a queue's) is compared with none; the generator's lateness p99 is "+
			"the floor below which two servers' p99s are not told apart")
		if n := stallsNote(rep.MachineStalls); n != "" {
			sec.Notes = append(sec.Notes, n)
		}
	} else {
		sec.Notes = append(sec.Notes, "no latency rows in this run (peerbench -cases without latency): the p99 target is not judged")
	}
	failed, oursFailed := b.failures(rep.Rows)
	sec.Notes = append(sec.Notes, failed...)
	sec.Charts = charts(gs, b)
	if len(oursFailed) > 0 {
		return sec, fmt.Errorf("%s's server failed: %s", b.oursName(), strings.Join(oursFailed, "; "))
	}
	return sec, nil
}

// stallsNote says what the machine itself took from a thread spinning
// alone on each CPU around the latency runs; "" when not measured.
func stallsNote(ms []peerStalls) string {
	if len(ms) == 0 {
		return ""
	}
	var parts []string
	for _, m := range ms {
		share := 0.0
		if m.WindowNS > 0 {
			share = 100 * m.LostNS / m.WindowNS
		}
		parts = append(parts, fmt.Sprintf("%s, CPU %d: %.2f%% of the time in %d gaps, the longest %.0f us",
			m.When, m.CPU, share, m.Count, m.MaxNS/1e3))
	}
	return fmt.Sprintf("machine stalls around the latency runs (a thread spinning alone on each CPU for %.0f ms, gaps over %.0f us "+
		"between its clock reads; where they fill 1%% of a CPU's time, every p99 on it holds them, whichever server runs there): %s",
		ms[0].WindowNS/1e6, ms[0].OverNS/1e3, strings.Join(parts, "; "))
}
