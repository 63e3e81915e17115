package driver

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/eventpoll/eventpoll/bench/load"
	"github.com/eventpoll/eventpoll/bench/peers"
)

// The latency cases' offered rates, requests per second over the 100
// connections: well under the slowest Go peer's closed-loop rate in the
// same case in either placement (BENCHMARKS.md, the peers' tables), so
// that every server should keep up and their p99s compare at one load.
const (
	latencyEchoRate = 30000 // echo 64B c100: the slowest Go peer's closed loop about 80k/s
	latencyHTTPRate = 20000 // http c100: the slowest (net/http, nbio) about 56k/s
)

// latencyCases are the plan's open-loop cases: echo 64 B and HTTP at 100
// connections, each at its fixed rate (both at Options.Rate when it is
// set). The short plan runs HTTP alone: the standard report
// (cmd/epollbench's servers section, which runs the short plan) judges the
// p99 target on it, and one case in two placements keeps that report
// within its time.
func latencyCases(o Options) []Case {
	echo := Case{Family: FamilyLatency, Proto: peers.Echo, Conns: 100, Size: 64, Depth: 1, Rate: latencyEchoRate}
	http := Case{Family: FamilyLatency, Proto: peers.HTTP, Conns: 100, Depth: 1, Rate: latencyHTTPRate}
	if o.Rate > 0 {
		echo.Rate, http.Rate = o.Rate, o.Rate
	}
	if o.Short {
		return []Case{http}
	}
	return []Case{echo, http}
}

// rateText writes a rate as a case name shows it: "20k/s", "2.5k/s",
// "500/s".
func rateText(v float64) string {
	if v >= 1000 {
		return strconv.FormatFloat(v/1000, 'f', -1, 64) + "k/s"
	}
	return strconv.FormatFloat(v, 'f', -1, 64) + "/s"
}

// pacedBetter reports whether open-loop run a is a better best run than b:
// a run that kept up beats one that did not; between two that kept up the
// lower p99 wins, between two that did not the higher achieved rate.
func pacedBetter(a, b *load.Result) bool {
	aUp, bUp := a.Paced.Overloaded == "", b.Paced.Overloaded == ""
	switch {
	case aUp != bUp:
		return aUp
	case aUp:
		return a.P99 < b.P99
	}
	return a.Rate() > b.Rate()
}

// finishPaced adds an open-loop best run's own figures to its row.
func (r *Row) finishPaced(b *load.Result) {
	pc := b.Paced
	r.OfferedPerSec = pc.Offered
	r.LateP50us, r.LateP99us = us(pc.Lateness.Quantile(0.5)), us(pc.Lateness.Quantile(0.99))
	r.LateMaxUs = us(pc.Lateness.Max())
	out := pc.Outstanding
	r.Outstanding = &out
	r.Overloaded = pc.Overloaded
}

// P99Verdict judges the target "p99 latency at the same offered load no
// higher than the best Go peer's" in one latency case and placement: our
// p99 against the lowest p99 of the Go peers that kept up with the offered
// rate, and against the C server's.
type P99Verdict struct {
	Case        string   `json:"case"`
	Loops       string   `json:"loops"`
	Ours        string   `json:"ours"`
	OursP99us   *float64 `json:"ours_p99_us,omitempty"`
	BestGoPeer  string   `json:"best_go_peer,omitempty"`
	BestGoP99us *float64 `json:"best_go_p99_us,omitempty"`
	// Ratio is our p99 over the best Go peer's: the target is met at 1 or
	// below.
	Ratio  *float64 `json:"ratio,omitempty"`
	CP99us *float64 `json:"c_p99_us,omitempty"`
	VsC    *float64 `json:"vs_c,omitempty"` // our p99 over C's
	// Verdict is "met", "not met", or "not judged" when there is nothing
	// to compare: our row failed, or no Go peer kept up.
	Verdict string `json:"verdict"`
	Note    string `json:"note,omitempty"` // why not judged; who did not keep up or failed
}

// The verdicts.
const (
	Met       = "met"
	NotMet    = "not met"
	NotJudged = "not judged"
)

// judgeP99 judges the p99 target in every latency case and placement that
// the implementation under test ran in.
func judgeP99(rows []*Row) []P99Verdict {
	var out []P99Verdict
	for _, rs := range byCase(rows, func(r *Row) bool { return r.Family == FamilyLatency && r.Generator == "peerbench" }) {
		i := slices.IndexFunc(rs, func(r *Row) bool { return r.ours })
		if i < 0 {
			continue
		}
		out = append(out, judge(rs[i], rs))
	}
	return out
}

func judge(our *Row, rs []*Row) P99Verdict {
	v := P99Verdict{Case: our.Case, Loops: our.Loops, Ours: our.Impl, Verdict: NotJudged}
	var notes []string
	var best, c *Row
	for _, r := range rs {
		switch {
		case r == our:
		case r.Error != "":
			notes = append(notes, r.Impl+" failed")
		case r.P99us == nil:
			notes = append(notes, r.Impl+" has no p99")
		case r.Overloaded != "":
			notes = append(notes, r.Impl+" did not keep up ("+r.Overloaded+")")
		case r.isC:
			c = r
		case r.goPeer && (best == nil || *r.P99us < *best.P99us):
			best = r
		}
	}
	if best != nil {
		v.BestGoPeer, v.BestGoP99us = best.Impl, best.P99us
	}
	if c != nil {
		v.CP99us = c.P99us
	}
	switch {
	case our.Error != "":
		notes = append([]string{our.Impl + " failed: " + our.Error}, notes...)
	case our.P99us == nil:
		notes = append([]string{our.Impl + " has no p99"}, notes...)
	case our.Overloaded != "":
		// Its p99 is a queue's, not comparable; failing to keep up
		// with a rate the Go peers keep up with misses the target.
		v.OursP99us = our.P99us
		notes = append([]string{our.Impl + " did not keep up (" + our.Overloaded + ")"}, notes...)
		if best != nil {
			v.Verdict = NotMet
		}
	case best == nil:
		v.OursP99us = our.P99us
		notes = append([]string{"no Go peer kept up with the offered rate"}, notes...)
	default:
		v.OursP99us = our.P99us
		v.Ratio = ratio(*our.P99us, *best.P99us)
		v.Verdict = NotMet
		if *v.Ratio <= 1 {
			v.Verdict = Met
		}
		if c != nil {
			v.VsC = ratio(*our.P99us, *c.P99us)
		}
	}
	v.Note = strings.Join(notes, "; ")
	return v
}

// writeLatencyRows writes the latency family's rows: offered and achieved
// rate, the percentiles from the due times, the generator's lateness, the
// p99 ratios.
func writeLatencyRows(tw io.Writer, rows []*Row) {
	fmt.Fprintln(tw, "loops\tcase\timpl\toffered\tachieved\tp50\tp99\tp99.9\tgen late p99\tp99 ×best Go\tp99 ×C\tsrv cpu/op\tsys\t")
	for _, r := range rows {
		if r.Error != "" || r.OpsPerSec == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\t\t\t\t\t\t\t\t\t\n", r.Loops, r.Case, r.Impl, failure(r))
			continue
		}
		vsBest, vsC := ratioText(r.VsBestGoPeer), ratioText(r.VsC)
		if r.Overloaded != "" {
			vsBest, vsC = "overloaded", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Loops, r.Case, r.Impl,
			countText(r.OfferedPerSec), countText(r.OpsPerSec), usText(r.P50us), usText(r.P99us), usText(r.P999us),
			usText(r.LateP99us), vsBest, vsC, cpuText(r.ServerCPUus), sysText(r))
	}
}

// writeStalls writes the machine's gaps under the latency table.
func writeStalls(w io.Writer, ms []MachineStalls) {
	if len(ms) == 0 {
		return
	}
	fmt.Fprintf(w, "machine stalls: a thread spinning alone on each CPU for %v, gaps over %v between its clock reads "+
		"(where gaps fill 1%% of a CPU's time, a p99 of a server on it measures them as much as the server)\n", ms[0].Window, ms[0].Over)
	for _, m := range ms {
		fmt.Fprintf(w, "  %s the runs, %v\n", m.When, m.Stalls)
	}
}

// writeP99Target writes the target's verdicts.
func writeP99Target(w io.Writer, vs []P99Verdict) error {
	if len(vs) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\np99 target, judged on the latency rows (the same offered load for every server): %s's p99 <= the lowest Go peer's p99\n", vs[0].Ours)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "loops\tcase\tours\tbest Go peer\tratio\tC\t×C\tverdict\t")
	for _, v := range vs {
		bestText := "-"
		if v.BestGoPeer != "" {
			bestText = usText(v.BestGoP99us) + " " + v.BestGoPeer
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", v.Loops, v.Case, usText(v.OursP99us), bestText,
			ratioText(v.Ratio), usText(v.CP99us), ratioText(v.VsC), v.Verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, v := range vs {
		if v.Note != "" {
			fmt.Fprintf(w, "  loops=%s %s: %s\n", v.Loops, v.Case, v.Note)
		}
	}
	return nil
}
