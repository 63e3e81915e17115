package servers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness/harnesstest"
)

// Two canned runs of the driver: peerbench-short.json is what
// `peerbench -short -rounds 1 -duration 30ms -warmup 10ms -idle 200
// -impls gnet,nbio,netpoll,net,nethttp,c` wrote on the development machine
// (2026-12-03 10:53 UTC: the peers and C, no eventpoll; wrk was not
// installed, so no wrk rows; the short plan's latency case, where every
// server kept up); peerbench-ours.json has invented figures in the same
// layout, with an implementation marked ours, chosen so that each target
// is met in one place and missed in another, with a peer that failed its
// check, wrk rows, and latency runs that did not keep up.

func load(t *testing.T, name string) ([]byte, *peerReport) {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := parsePeerReport(raw)
	if err != nil {
		t.Fatal(err)
	}
	return raw, rep
}

func build(t *testing.T, name string) (harness.Section, error) {
	t.Helper()
	raw, rep := load(t, name)
	return buildSection(raw, rep, commandLine([]string{"-short"}))
}

// rowOf returns the row of case c against ref, failing t if there is not
// exactly one.
func rowOf(t *testing.T, sec harness.Section, c, ref string) harness.Row {
	t.Helper()
	var found []harness.Row
	for _, r := range sec.Rows {
		if r.Case == c && r.RefName == ref {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d rows of %q against %q, want 1", len(found), c, ref)
	}
	return found[0]
}

func verdict(r harness.Row) harness.Verdict {
	if r.Target == nil {
		return ""
	}
	return r.Target.Verdict
}

func TestWithoutOurServerTheRowsShowThePeersAndJudgeNothing(t *testing.T) {
	raw, rep := load(t, "peerbench-short.json")
	sec, err := buildSection(raw, rep, "go run ./cmd/peerbench -short")
	if err != nil {
		t.Fatal(err)
	}
	harnesstest.CheckSection(t, sec, "servers")
	if !bytes.Equal(sec.Raw.(json.RawMessage), raw) {
		t.Error("the section's raw detail is not the driver's JSON as written")
	}
	targets := 0
	for _, r := range sec.Rows {
		if r.Ours != 0 || !strings.Contains(r.RefNote, "eventpoll's server not in the run") {
			t.Errorf("row %q against %q: ours %v, note %q", r.Case, r.RefName, r.Ours, r.RefNote)
		}
		if r.Target != nil {
			targets++
			if r.Target.Verdict != harness.NotJudged {
				t.Errorf("row %q against %q judged %q without our figure", r.Case, r.RefName, r.Target.Verdict)
			}
		}
	}
	// Every figure of the driver's is in a row, against its implementation.
	for _, p := range rep.Rows {
		g := group{kase: p.Case, loops: p.Loops, generator: p.Generator}
		kase := g.name()
		if p.Family == familyLatency {
			kase += " p99"
		}
		r := rowOf(t, sec, kase, refName(p.Impl))
		if p.Overloaded != "" { // a queue's p99: in the note, compared with none
			if r.Ref != 0 || !strings.Contains(r.RefNote, fmt.Sprintf("did not keep up (%s): its p99 is a queue's, %.0f us", p.Overloaded, p.figure())) {
				t.Errorf("%s in %q did not keep up: ref %v, note %q", p.Impl, kase, r.Ref, r.RefNote)
			}
			continue
		}
		if r.Ref != p.figure() || (r.Ref <= 0 && !strings.Contains(r.RefNote, refName(p.Impl)+": no figure")) {
			t.Errorf("%s in %q: ref %v, the driver's figure %v, note %q", p.Impl, kase, r.Ref, p.figure(), r.RefNote)
		}
		// The best Go peer and C carry the throughput targets.
		if p.Family == familyEcho || p.Family == familyHTTP {
			switch {
			case p.Impl == p.BestGoPeer && (r.Target == nil || r.Target.MinRatio != 1.1):
				t.Errorf("%q: the best Go peer %s's row has target %+v, want >= 1.1x", g.name(), p.Impl, r.Target)
			case p.Impl == cImpl && (r.Target == nil || r.Target.MinRatio != 0.9):
				t.Errorf("%q: C's row has target %+v, want >= 0.9x", g.name(), r.Target)
			case p.Impl != p.BestGoPeer && p.Impl != cImpl && r.Target != nil:
				t.Errorf("%q: %s is neither the best Go peer nor C but has a target", g.name(), p.Impl)
			}
		}
	}
	for _, want := range []string{"echo 4KiB c100 loops=all p99", "http c100 @20k/s loops=1 p99",
		"http c100 @20k/s loops=all p99", "idle c200 loops=1 Go heap+stack", "connrate w32 loops=all sharedqueue vs acceptor"} {
		if !slices.ContainsFunc(sec.Rows, func(r harness.Row) bool { return r.Case == want }) {
			t.Errorf("no row %q", want)
		}
	}
	checkOrder(t, sec, "", "")
	// The p99 row is against the lowest p99 of the Go peers.
	p99 := rowOf(t, sec, "http c100 loops=1 p99", "best Go peer's p99")
	lowest := math.Inf(1)
	for _, p := range rep.Rows {
		if p.Case == "http c100" && p.Loops == "1" && p.Generator == "peerbench" && p.Impl != cImpl && p.P99us != nil {
			lowest = min(lowest, *p.P99us)
		}
	}
	if p99.Ref != lowest || !p99.LowerIsBetter || p99.Target != nil {
		t.Errorf("p99 row: ref %v (lower is better: %v, target %+v), want the Go peers' lowest %v and no target", p99.Ref, p99.LowerIsBetter, p99.Target, lowest)
	}
	if targets < 20 {
		t.Errorf("%d targets, want every case's", targets)
	}
	notes := strings.Join(sec.Notes, "\n")
	for _, want := range []string{"eventpoll's server is not in the run", "1 loop: the server is pinned", "go run ./cmd/peerbench -short", "targets: echo and HTTP throughput"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	checkCharts(t, sec, rep)
}

// checkOrder checks that the rows come in the order of families, and, when
// wrk is the case named, that in the http family wrk's cross-checks follow
// the driver's own cases, whose last is lastOwn.
func checkOrder(t *testing.T, sec harness.Section, wrk, lastOwn string) {
	t.Helper()
	var order []string
	for _, r := range sec.Rows {
		if len(order) == 0 || order[len(order)-1] != r.Case {
			order = append(order, r.Case)
		}
	}
	fam := func(c string) int {
		if strings.Contains(c, "@") { // "http c100 @20k/s loops=1 p99"
			return slices.Index(families, familyLatency)
		}
		return slices.Index(families, strings.Fields(c)[0])
	}
	if !slices.IsSortedFunc(order, func(a, b string) int { return fam(a) - fam(b) }) {
		t.Errorf("rows not in the order of families: %q", order)
	}
	if wrk == "" {
		return
	}
	if i, j := slices.Index(order, wrk), slices.Index(order, lastOwn); j < 0 || i != j+1 {
		t.Errorf("wrk's row at %d, the last of the driver's http rows at %d: %q", i, j, order)
	}
}

// checkCharts checks a bar chart per family, each with a series per
// implementation that has a figure in it.
func checkCharts(t *testing.T, sec harness.Section, rep *peerReport) {
	t.Helper()
	var files []string
	colour := map[string]string{} // an implementation keeps its colour from chart to chart
	for _, ch := range sec.Charts {
		for _, s := range ch.Series {
			if c, ok := colour[s.Name]; (ok && c != s.Color) || s.Color == "" {
				t.Errorf("%s: %s is drawn in %q, elsewhere in %q", ch.File, s.Name, s.Color, c)
			}
			colour[s.Name] = s.Color
		}
		files = append(files, ch.File)
		fam := strings.TrimSuffix(strings.TrimPrefix(ch.File, "servers-"), ".svg")
		var want []string
		drawn := map[string]bool{}
		for _, p := range rep.Rows {
			n := refName(p.Impl)
			if p.Family == fam && p.Error == "" && !slices.Contains(want, n) {
				want = append(want, n)
			}
			// A latency run that did not keep up has a queue's p99:
			// not drawn.
			if p.Family == fam && p.figure() > 0 && p.Overloaded == "" {
				drawn[n] = true
			}
		}
		want = slices.DeleteFunc(want, func(n string) bool { return !drawn[n] })
		var got []string
		for _, s := range ch.Series {
			got = append(got, s.Name)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: series %q, want %q", ch.File, got, want)
		}
	}
	if want := []string{"servers-echo.svg", "servers-http.svg", "servers-latency.svg", "servers-idle.svg", "servers-connrate.svg"}; !slices.Equal(files, want) {
		t.Errorf("charts %q, want %q", files, want)
	}
}

func TestOurServerIsJudgedAgainstTheBestGoPeerAndC(t *testing.T) {
	sec, err := build(t, "peerbench-ours.json")
	if err != nil {
		t.Fatalf("a peer's failure failed the section: %v", err)
	}
	harnesstest.CheckSection(t, sec, "servers")
	for _, c := range []struct {
		kase, ref string
		ratio     float64
		verdict   harness.Verdict
	}{
		{"echo 64B c100 loops=1", "gnet", 1.2, harness.Met},                      // 120k against the best Go peer's 100k
		{"echo 64B c100 loops=1", "C epoll server", 120.0 / 140, harness.NotMet}, // against C's 140k
		{"echo 64B c100 loops=1", "nbio", 120.0 / 90, ""},                        // not the best: no target
		{"echo 64B c100 loops=1 p99", "best Go peer's p99", 800.0 / 900, ""},     // closed loop: information
		{"http c100 p16 loops=1 wrk", "gnet", 400.0 / 350, harness.Met},
		{"http c100 p16 loops=1 wrk", "C epoll server", 400.0 / 420, harness.Met},
		{"http c100 loops=all", "net", 1.25, harness.Met},
		{"http c100 loops=all p99", "best Go peer's p99", 600.0 / 500, ""}, // gnet's; nbio failed; information
		// The p99 target, at one offered rate: against gnet's 350 us,
		// not the overloaded nbio's 200.
		{"http c100 @20k/s loops=1 p99", "best Go peer's p99", 350.0 / 300, harness.Met},
		{"http c100 @20k/s loops=1 p99", "nbio", 0, ""}, // did not keep up: compared with none
		{"http c100 @20k/s loops=1 p99", "C epoll server", 250.0 / 300, ""},
		{"http c100 @20k/s loops=all p99", "best Go peer's p99", 480.0 / 500, harness.NotMet},
		{"http c100 @20k/s loops=all p99", "nethttp", 0, ""},
		{"http c100 @20k/s loops=all p99", "net", 700.0 / 500, ""},
		{"idle c2000 loops=1", "gnet", 3, harness.Met}, // a third of gnet's RSS
		{"idle c2000 loops=1 Go heap+stack", "bound", 1024.0 / 700, harness.Met},
		{"idle c2000 loops=all", "gnet", 1.6, harness.NotMet},
		{"idle c2000 loops=all Go heap+stack", "bound", 1024.0 / 1500, harness.NotMet},
		{"connrate w32 loops=1", "gnet", 15.0 / 16, ""}, // the default mode, multiqueue; no target
		{"connrate w32 loops=all sharedqueue vs acceptor", "eventpoll acceptor mode", 21.0 / 15, harness.Met},
	} {
		r := rowOf(t, sec, c.kase, c.ref)
		if math.Abs(r.Ratio-c.ratio) > 1e-9 || verdict(r) != c.verdict {
			t.Errorf("%q against %q: ratio %v judged %q, want %v judged %q", c.kase, c.ref, r.Ratio, verdict(r), c.ratio, c.verdict)
		}
	}
	// wrk gives no p99 for pipelined runs: no p99 row to judge.
	if slices.ContainsFunc(sec.Rows, func(r harness.Row) bool { return r.Case == "http c100 p16 loops=1 wrk p99" }) {
		t.Error("a p99 row where no Go peer has a p99")
	}
	// One loop accepting or every loop: compared with two loops only.
	if slices.ContainsFunc(sec.Rows, func(r harness.Row) bool { return r.Case == "connrate w32 loops=1 sharedqueue vs acceptor" }) {
		t.Error("shared queue against acceptor judged with one loop")
	}
	// The failed peer's rows have no figure of theirs, and say so.
	for _, c := range []string{"http c100 loops=all", "http c100 p16 loops=1 wrk"} {
		r := rowOf(t, sec, c, "nbio")
		if r.Ref != 0 || r.Ratio != 0 || !strings.Contains(r.RefNote, "nbio FAILED") || r.Ours == 0 {
			t.Errorf("%q against the failed nbio: %+v", c, r)
		}
	}
	notes := strings.Join(sec.Notes, "\n")
	for _, want := range []string{
		"FAILED: nbio in http c100 p16 loops=1 wrk, http c100 loops=all, http c100 @20k/s loops=all: failed the check before timing",
		"eventpoll runs its default mode, multiqueue",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	if strings.Contains(notes, "not in the run") {
		t.Error("the notes say eventpoll is not in the run")
	}
	checkOrder(t, sec, "http c100 p16 loops=1 wrk", "http c100 loops=all p99")
	_, rep := load(t, "peerbench-ours.json")
	// Ours is "eventpoll" in four charts and its modes in the
	// connection rate's, where they are what is compared.
	checkCharts(t, sec, rep)
}

func TestOurServerFailingFailsTheSectionAndEmptiesItsRows(t *testing.T) {
	raw, rep := load(t, "peerbench-ours.json")
	for i := range rep.Rows {
		if rep.Rows[i].Impl == "eventpoll" && rep.Rows[i].Case == "echo 64B c100" {
			rep.Rows[i].Error = "echo 64B c100: message 7 of connection 3: byte 12 is 0x41, want 0x42"
		}
	}
	sec, err := buildSection(raw, rep, "go run ./cmd/peerbench -short")
	if err == nil || !strings.Contains(err.Error(), "eventpoll") || !strings.Contains(err.Error(), "byte 12") {
		t.Fatalf("err = %v, want our failure named", err)
	}
	for _, ref := range []string{"gnet", "C epoll server"} {
		r := rowOf(t, sec, "echo 64B c100 loops=1", ref)
		if r.Ours != 0 || verdict(r) != harness.NotJudged || !strings.Contains(r.RefNote, "eventpoll FAILED") {
			t.Errorf("our failed row against %q: %+v", ref, r)
		}
	}
	if r := rowOf(t, sec, "echo 64B c100 loops=1 p99", "best Go peer's p99"); r.Ours != 0 || r.Target != nil || !strings.Contains(r.RefNote, "eventpoll FAILED") {
		t.Errorf("our failed closed-loop p99 row: %+v", r)
	}
}

// The p99 target ("p99 at the same offered load no higher than the best
// Go peer's") is judged on the latency rows, where every server ran at one
// offered rate, against the lowest p99 of the Go peers that kept up; the
// closed-loop p99 rows, each server at its own rate, carry no target.
func TestP99TargetIsJudgedAtOneOfferedRateOnTheLatencyRows(t *testing.T) {
	for _, file := range []string{"peerbench-ours.json", "peerbench-short.json"} {
		sec, _ := build(t, file)
		_, rep := load(t, file)
		latencyCases := 0
		for _, r := range sec.Rows {
			closedP99 := strings.HasSuffix(r.Case, " p99") && !strings.Contains(r.Case, "@")
			if closedP99 && (r.Target != nil || !strings.Contains(r.RefNote, closedLoopP99)) {
				t.Errorf("%s: closed-loop row %q against %q: target %+v, note %q; want information, no target", file, r.Case, r.RefName, r.Target, r.RefNote)
			}
			if r.Unit == "us" && r.Target != nil && !strings.Contains(r.Case, "@") {
				t.Errorf("%s: p99 target on %q, not a latency row", file, r.Case)
			}
			if !strings.Contains(r.Case, "@") {
				continue
			}
			if r.Unit != "us" || !r.LowerIsBetter || !strings.HasSuffix(r.Case, " p99") {
				t.Errorf("%s: latency row %q against %q: unit %q, lower is better %v", file, r.Case, r.RefName, r.Unit, r.LowerIsBetter)
			}
			switch {
			case r.RefName == "best Go peer's p99":
				latencyCases++
				if r.Target == nil || r.Target.MinRatio != minVsBestP99 {
					t.Errorf("%s: %q: target %+v, want >= %gx", file, r.Case, r.Target, float64(minVsBestP99))
				}
			case r.Target != nil:
				t.Errorf("%s: %q against %s carries a target", file, r.Case, r.RefName)
			}
		}
		// One target row per latency case and placement the driver ran.
		want := 0
		for _, p := range rep.Rows {
			if p.Family == familyLatency && p.Impl == cImpl {
				want++
			}
		}
		if want == 0 || latencyCases != want {
			t.Errorf("%s: %d latency target rows, want %d (the driver's latency groups)", file, latencyCases, want)
		}
	}

	sec, _ := build(t, "peerbench-ours.json")
	for _, c := range []struct {
		kase, ref string
		ref99     float64
		notes     []string
	}{
		{"http c100 @20k/s loops=1 p99", "best Go peer's p99", 350, []string{
			"gnet's, the lowest of the Go peers that kept up", "nbio did not keep up: not compared",
			"the generator's lateness p99: 40 us in eventpoll's run, 35 us in gnet's run"}},
		{"http c100 @20k/s loops=1 p99", "nbio", 0, []string{
			"nbio did not keep up (ended the window behind: 500 requests outstanding): its p99 is a queue's, 200 us",
			"the generator's lateness p99 45 us"}},
		{"http c100 @20k/s loops=all p99", "best Go peer's p99", 480, []string{
			"nethttp did not keep up: not compared", "60 us in eventpoll's run, 50 us in gnet's run",
			"the p99s differ by 20 us, no more than that: this run does not separate them"}},
		{"http c100 @20k/s loops=all p99", "nbio", 0, []string{"nbio FAILED"}},
	} {
		r := rowOf(t, sec, c.kase, c.ref)
		if r.Ref != c.ref99 {
			t.Errorf("%q against %q: ref %v, want %v", c.kase, c.ref, r.Ref, c.ref99)
		}
		for _, n := range c.notes {
			if !strings.Contains(r.RefNote, n) {
				t.Errorf("%q against %q: note %q lacks %q", c.kase, c.ref, r.RefNote, n)
			}
		}
	}
	// The machine's own gaps around the latency runs are in the notes.
	want := "before, CPU 0: 3.43% of the time in 51 gaps, the longest 4174 us; before, CPU 1: 1.11% of the time in 36 gaps"
	if !slices.ContainsFunc(sec.Notes, func(n string) bool {
		return strings.Contains(n, "machine stalls around the latency runs") && strings.Contains(n, want) && strings.Contains(n, "after, CPU 1")
	}) {
		t.Errorf("no note with the machine's stalls (%q):\n%s", want, strings.Join(sec.Notes, "\n"))
	}
	if short, _ := build(t, "peerbench-short.json"); slices.ContainsFunc(short.Notes, func(n string) bool { return strings.Contains(n, "machine stalls") }) {
		t.Error("a note on machine stalls from a report that measured none")
	}
	if r := rowOf(t, sec, "http c100 @20k/s loops=1 p99", "best Go peer's p99"); strings.Contains(r.RefNote, "separate") {
		t.Errorf("50 us apart with the generator 40 us late said not separated: %q", r.RefNote)
	}
}

// A run that did not keep up is said so; with no Go peer keeping up there
// is nothing to judge against, and where the row's verdict is not the
// driver's, the row quotes the driver's.
func TestOverloadedLatencyRunsAreNamedAndNotJudgedAgainst(t *testing.T) {
	raw, rep := load(t, "peerbench-ours.json")
	for i := range rep.Rows {
		r := &rep.Rows[i]
		if r.Family != familyLatency || r.Loops != "1" {
			continue
		}
		switch r.Impl {
		case "gnet", "net", "nethttp":
			r.Overloaded = "answered 9000/s of the 20000/s offered"
		case "eventpoll":
			r.Overloaded = "ended the window behind: 300 requests outstanding"
		}
	}
	rep.P99Target[0].Verdict, rep.P99Target[0].Note = "not judged", "no Go peer kept up with the offered rate"
	sec, err := buildSection(raw, rep, "go run ./cmd/peerbench -short")
	if err != nil {
		t.Fatal(err)
	}
	r := rowOf(t, sec, "http c100 @20k/s loops=1 p99", "best Go peer's p99")
	if r.Ref != 0 || verdict(r) != harness.NotJudged || r.Ours != 300 {
		t.Errorf("no Go peer kept up: %+v, want our figure, none to judge against", r)
	}
	for _, want := range []string{"no Go peer kept up with the offered rate", "eventpoll did not keep up (ended the window behind",
		"gnet, nbio, net, nethttp did not keep up"} {
		if !strings.Contains(r.RefNote, want) {
			t.Errorf("note %q lacks %q", r.RefNote, want)
		}
	}
	if strings.Contains(r.RefNote, "peerbench judged") {
		t.Errorf("the driver's verdict quoted where it agrees: %q", r.RefNote)
	}
	// Only ours did not keep up: the driver misses the target, whatever
	// the queue's p99; the row says so where its ratio would not.
	_, rep = load(t, "peerbench-ours.json")
	for i := range rep.Rows {
		if r := &rep.Rows[i]; r.Family == familyLatency && r.Loops == "1" && r.Impl == "eventpoll" {
			r.Overloaded = "ended the window behind: 300 requests outstanding"
		}
	}
	rep.P99Target[0].Verdict, rep.P99Target[0].Note = "not met", "eventpoll did not keep up (ended the window behind: 300 requests outstanding)"
	sec, _ = buildSection(raw, rep, "go run ./cmd/peerbench -short")
	r = rowOf(t, sec, "http c100 @20k/s loops=1 p99", "best Go peer's p99")
	if !strings.Contains(r.RefNote, "peerbench judged it not met; eventpoll did not keep up") || strings.Contains(r.RefNote, "separate") {
		t.Errorf("ours overloaded: note %q, want the driver's verdict and no separation claim", r.RefNote)
	}
	if r := rowOf(t, sec, "http c100 @20k/s loops=1 p99", "gnet"); !strings.Contains(r.RefNote, "eventpoll did not keep up") {
		t.Errorf("ours overloaded, the row against gnet: note %q", r.RefNote)
	}
}

func TestParseRefusesAnotherLayoutOrAnEmptyRun(t *testing.T) {
	for _, bad := range []string{
		``, `not json`, `{"schema": "eventpoll-peerbench/2", "rows": [{"impl": "c"}]}`,
		`{"schema": "eventpoll-peerbench/1", "rows": []}`, `{"rows": [{"impl": "c"}]}`,
	} {
		if _, err := parsePeerReport([]byte(bad)); err == nil {
			t.Errorf("%q was read as peerbench's JSON", bad)
		}
	}
}
