package driver

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/eventpoll/eventpoll/bench/load"
	"github.com/eventpoll/eventpoll/bench/proc"
)

// Report is what a run measured, with what it ran on.
type Report struct {
	Schema          string           `json:"schema"`
	Started         time.Time        `json:"started"`
	ElapsedSeconds  float64          `json:"elapsed_s"`
	Machine         Machine          `json:"machine"`
	Settings        Settings         `json:"settings"`
	Notes           []string         `json:"notes"`
	Implementations []Implementation `json:"implementations"`
	Rows            []*Row           `json:"rows"`
	// P99Target judges the p99 target on the latency rows, where every
	// server ran at the same offered load; the closed-loop rows' p99s
	// are each at its server's own rate, information only.
	P99Target []P99Verdict `json:"p99_target,omitempty"`
	// MachineStalls is what a thread spinning alone on each CPU lost, for
	// stallWindow before and after the runs, when latency cases ran: the
	// machine's floor under every p99 of the latency rows.
	MachineStalls []MachineStalls `json:"machine_stalls,omitempty"`
	// ServerCPU sets our server CPU per op beside the Go peer's that
	// spent least, in every case where ours has the figure: information,
	// not a target.
	ServerCPU []CPUComparison `json:"server_cpu,omitempty"`
}

// MachineStalls is one CPU's gaps, measured before or after the runs.
type MachineStalls struct {
	When string `json:"when"` // "before" or "after"
	proc.Stalls
}

// Schema names the JSON layout bench/README.md documents.
const Schema = "eventpoll-peerbench/1"

// Settings are the plan's timings.
type Settings struct {
	Short      bool    `json:"short"`
	Rounds     int     `json:"rounds"`
	WarmupMS   float64 `json:"warmup_ms"`
	DurationMS float64 `json:"duration_ms"`
	WrkSeconds float64 `json:"wrk_s,omitempty"`
}

// Implementation describes one implementation in the report.
type Implementation struct {
	Name    string   `json:"name"`
	Doc     string   `json:"doc"`
	Modes   []string `json:"modes,omitempty"`
	Ours    bool     `json:"ours,omitempty"`
	Skipped string   `json:"skipped,omitempty"`
}

// Row is one implementation's result in one case, placement and
// generator: the best of its runs.
type Row struct {
	Impl        string `json:"impl"` // name, or name/mode
	Case        string `json:"case"`
	Family      Family `json:"family"`
	Loops       string `json:"loops"` // "1" or "all"
	ServerLoops int    `json:"server_loops"`
	Pinned      bool   `json:"pinned"`
	Generator   string `json:"generator"` // "peerbench" or "wrk"
	// Engine is how peerbench's generator drove the connections in the
	// echo, http and latency rows: "goroutines" (one per connection),
	// "epoll xN" (N goroutines, each with a block of the connections in
	// an epoll instance of its own), "epoll xN spin" (those polling).
	Engine    string  `json:"engine,omitempty"`
	Conns     int     `json:"conns"`
	Size      int     `json:"size,omitempty"`
	Depth     int     `json:"depth"`
	OpsPerSec float64 `json:"ops_per_s,omitempty"` // latency rows: the achieved rate
	MBPerSec  float64 `json:"mb_per_s,omitempty"`
	// Latency percentiles in microseconds; absent when the generator
	// cannot tell (wrk's p99.9; wrk's percentiles when pipelining).
	// Closed loop (echo, http): from a batch's write, at the server's
	// own rate. Latency rows: from each request's due time, at the
	// offered rate.
	P50us  *float64    `json:"p50_us,omitempty"`
	P99us  *float64    `json:"p99_us,omitempty"`
	P999us *float64    `json:"p999_us,omitempty"`
	Runs   []float64   `json:"runs_ops_per_s,omitempty"`
	Idle   *IdleMemory `json:"idle,omitempty"`
	// The server process's CPU time (every thread's, user and system)
	// in the best run's measured window over the ops it completed, in
	// µs; the user and system parts are absent when the window held
	// less than a clock tick of CPU time. Every run's figure is in
	// RunsServerCPUus. Absent for idle rows.
	ServerCPUus     *float64  `json:"server_cpu_us_per_op,omitempty"`
	ServerUserUs    *float64  `json:"server_user_us_per_op,omitempty"`
	ServerSysUs     *float64  `json:"server_sys_us_per_op,omitempty"`
	RunsServerCPUus []float64 `json:"runs_server_cpu_us_per_op,omitempty"`
	// Latency rows (open loop): the offered rate, every run's p99, how
	// late the generator's sends went out after their due times (the
	// floor of what it resolves), the requests unanswered at the
	// window's end, and why the server did not keep up ("" when it did).
	OfferedPerSec float64   `json:"offered_per_s,omitempty"`
	RunsP99us     []float64 `json:"runs_p99_us,omitempty"`
	LateP50us     *float64  `json:"late_p50_us,omitempty"`
	LateP99us     *float64  `json:"late_p99_us,omitempty"`
	LateMaxUs     *float64  `json:"late_max_us,omitempty"`
	Outstanding   *int64    `json:"outstanding,omitempty"`
	Overloaded    string    `json:"overloaded,omitempty"`
	// BestGoPeer is the Go peer with the best figure in this case;
	// VsBestGoPeer and VsC divide this row's figure by the best Go
	// peer's and by C's (ops/s; RSS per connection for idle; p99 for
	// latency rows, where a row that did not keep up is compared with
	// none and none with it).
	BestGoPeer   string   `json:"best_go_peer,omitempty"`
	VsBestGoPeer *float64 `json:"vs_best_go_peer,omitempty"`
	VsC          *float64 `json:"vs_c,omitempty"`
	Error        string   `json:"error,omitempty"`

	best    *load.Result
	bestCPU *cpuPerOp
	goPeer  bool
	isC     bool // the C reference (c), which the ×C ratios and the C p99 take
	ours    bool
}

// IdleMemory is what a server holds for idle connections.
type IdleMemory struct {
	Conns      int     `json:"conns"`
	RSSBefore  uint64  `json:"rss_before"`
	RSSAfter   uint64  `json:"rss_after"`
	RSSPerConn float64 `json:"rss_per_conn"`
	// Go heap (live, after a GC) plus goroutine stacks; absent for C.
	GoBefore  *uint64  `json:"go_before,omitempty"`
	GoAfter   *uint64  `json:"go_after,omitempty"`
	GoPerConn *float64 `json:"go_per_conn,omitempty"`
}

// add counts one run: its result and what the server spent per op in it.
// The best run's CPU figure is the row's, whatever the other runs spent.
func (r *Row) add(res *load.Result, cpu *cpuPerOp) {
	r.Runs = append(r.Runs, res.Rate())
	r.RunsServerCPUus = append(r.RunsServerCPUus, cpu.total)
	if res.Paced != nil {
		// The best open-loop run is the lowest p99 of those that
		// kept up, not the most ops: every run was offered the same.
		r.RunsP99us = append(r.RunsP99us, float64(res.P99)/1e3)
		if r.best == nil || pacedBetter(res, r.best) {
			r.best, r.bestCPU = res, cpu
		}
		return
	}
	if r.best == nil || res.Rate() > r.best.Rate() {
		r.best, r.bestCPU = res, cpu
	}
}

func (r *Row) fail(err error) {
	if r.Error == "" {
		r.Error = err.Error()
	}
}

// rowKey orders rows: placement, family, case, generator, implementation.
type rowKey struct {
	placement, family, kase int
	generator               string
	impl                    int
	mode                    string
}

func (r *runner) row(pl placement, c Case, s *server, generator string) *Row {
	k := rowKey{
		placement: slices.IndexFunc(r.e.placements, func(p placement) bool { return p.label == pl.label }),
		family:    slices.Index([]Family{FamilyEcho, FamilyHTTP, FamilyLatency, FamilyIdle, FamilyConnRate}, c.Family),
		kase:      slices.Index(r.p.cases, c),
		generator: generator,
		impl:      slices.Index(r.e.impls, s.im),
		mode:      s.mode,
	}
	if row, ok := r.rows[k]; ok {
		return row
	}
	row := &Row{Impl: s.im.key(s.mode), Case: c.Name(), Family: c.Family, Loops: pl.label,
		ServerLoops: pl.serverLoops, Pinned: pl.serverCPUs != nil, Generator: generator,
		Conns: c.Conns, Size: c.Size, Depth: c.Depth, goPeer: s.im.goPeer(), isC: s.im.name == cRef, ours: s.im.ours}
	if generator == "peerbench" && (c.Family == FamilyEcho || c.Family == FamilyHTTP || c.Family == FamilyLatency) {
		row.Engine = r.engineFor(pl, c).String()
	}
	r.rows[k] = row
	r.keys = append(r.keys, k)
	return row
}

func (r *runner) report(started time.Time) *Report {
	rep := &Report{Schema: Schema, Started: started, ElapsedSeconds: time.Since(started).Seconds(),
		Machine: r.e.machine, Notes: r.e.notes, MachineStalls: r.stalls,
		Settings: Settings{Short: r.o.Short, Rounds: r.p.rounds, WarmupMS: ms(r.p.warmup), DurationMS: ms(r.p.duration)}}
	if r.o.Wrk && load.WrkPath() != "" {
		rep.Settings.WrkSeconds = r.p.wrkTime.Seconds()
	}
	for _, im := range r.e.impls {
		rep.Implementations = append(rep.Implementations, Implementation{Name: im.name, Doc: im.doc, Modes: im.modes, Ours: im.ours, Skipped: im.skip})
	}
	keys := slices.Clone(r.keys)
	slices.SortFunc(keys, func(a, b rowKey) int {
		return cmp.Or(cmp.Compare(a.placement, b.placement), cmp.Compare(a.family, b.family),
			cmp.Compare(a.kase, b.kase), cmp.Compare(b.generator, a.generator), cmp.Compare(a.impl, b.impl),
			cmp.Compare(a.mode, b.mode))
	})
	for _, k := range keys {
		row := r.rows[k]
		row.finish()
		rep.Rows = append(rep.Rows, row)
	}
	compare(rep.Rows)
	rep.P99Target = judgeP99(rep.Rows)
	rep.ServerCPU = compareCPU(rep.Rows)
	return rep
}

// finish turns the best run into the row's figures; a row with an error
// keeps none, whatever other rounds measured.
func (r *Row) finish() {
	if r.Error != "" {
		r.Runs, r.RunsP99us, r.best, r.Idle = nil, nil, nil, nil
		r.RunsServerCPUus, r.bestCPU = nil, nil
		return
	}
	if r.best == nil {
		return
	}
	b := r.best
	r.OpsPerSec = b.Rate()
	if b.Bytes > 0 {
		r.MBPerSec = float64(b.Bytes) / b.Window.Seconds() / 1e6
	}
	r.P50us, r.P99us, r.P999us = us(b.P50), us(b.P99), us(b.P999)
	if c := r.bestCPU; c != nil {
		total := c.total
		r.ServerCPUus, r.ServerUserUs, r.ServerSysUs = &total, c.user, c.sys
	}
	if b.Paced != nil {
		r.finishPaced(b)
	}
}

// caseKey is a case in one placement with one generator: the rows that
// are compared side by side.
type caseKey struct{ loops, kase, gen string }

// byCase groups the rows that keep accepts (all when keep is nil) by case,
// placement and generator, the groups in the order of their first row.
func byCase(rows []*Row, keep func(*Row) bool) [][]*Row {
	index := map[caseKey]int{}
	var groups [][]*Row
	for _, r := range rows {
		if keep != nil && !keep(r) {
			continue
		}
		k := caseKey{r.Loops, r.Case, r.Generator}
		i, ok := index[k]
		if !ok {
			i = len(groups)
			index[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], r)
	}
	return groups
}

// compare fills the ratios of every row to the best Go peer and to C in
// its case, placement and generator.
func compare(rows []*Row) {
	for _, rs := range byCase(rows, nil) {
		var best, c *Row
		for _, r := range rs {
			if r.Error != "" || figure(r) == 0 || r.Overloaded != "" {
				continue
			}
			if r.isC {
				c = r
			}
			if r.goPeer && (best == nil || better(r, best)) {
				best = r
			}
		}
		for _, r := range rs {
			if r.Error != "" || figure(r) == 0 || r.Overloaded != "" {
				continue
			}
			if best != nil {
				r.BestGoPeer = best.Impl
				r.VsBestGoPeer = ratio(figure(r), figure(best))
			}
			if c != nil {
				r.VsC = ratio(figure(r), figure(c))
			}
		}
	}
}

// figure is the number a row is compared by: ops/s, RSS per idle
// connection, or a latency row's p99.
func figure(r *Row) float64 {
	switch {
	case r.Idle != nil:
		return r.Idle.RSSPerConn
	case r.Family == FamilyLatency:
		if r.P99us == nil {
			return 0
		}
		return *r.P99us
	}
	return r.OpsPerSec
}

// better reports whether a's figure beats b's: more ops, less memory,
// a lower p99.
func better(a, b *Row) bool {
	if a.Idle != nil || a.Family == FamilyLatency {
		return figure(a) < figure(b)
	}
	return figure(a) > figure(b)
}

func ratio(a, b float64) *float64 {
	if b == 0 {
		return nil
	}
	v := a / b
	return &v
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func us(d time.Duration) *float64 {
	if d <= 0 {
		return nil
	}
	v := float64(d) / float64(time.Microsecond)
	return &v
}

// Failed reports whether any row has an error.
func (rep *Report) Failed() bool {
	return slices.ContainsFunc(rep.Rows, func(r *Row) bool { return r.Error != "" })
}

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteTable writes the report as text tables, one per family.
func (rep *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "peerbench: %s, %d CPUs (%s), %s; best of %d rounds of %.0f ms after %.0f ms warm-up\n",
		rep.Machine.Kernel, rep.Machine.CPUs, rep.Machine.CPUModel, rep.Machine.Go,
		rep.Settings.Rounds, rep.Settings.DurationMS, rep.Settings.WarmupMS)
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	for _, fam := range []Family{FamilyEcho, FamilyHTTP, FamilyLatency, FamilyConnRate, FamilyIdle} {
		var rows []*Row
		for _, r := range rep.Rows {
			if r.Family == fam {
				rows = append(rows, r)
			}
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s\n", familyTitle[fam])
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		if fam == FamilyIdle {
			fmt.Fprintln(tw, "loops\tcase\timpl\tRSS/conn\tGo heap+stack/conn\t×best Go\t×C\t")
			for _, r := range rows {
				if r.Error != "" || r.Idle == nil {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\t\t\t\n", r.Loops, r.Case, r.Impl, failure(r))
					continue
				}
				goPer := "-"
				if r.Idle.GoPerConn != nil {
					goPer = bytesText(*r.Idle.GoPerConn)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Loops, r.Case, r.Impl,
					bytesText(r.Idle.RSSPerConn), goPer, ratioText(r.VsBestGoPeer), ratioText(r.VsC))
			}
		} else if fam == FamilyLatency {
			writeLatencyRows(tw, rows)
		} else {
			fmt.Fprintln(tw, "loops\tcase\timpl\tgen\tops/s\tp50\tp99\tp99.9\t×best Go\t×C\tsrv cpu/op\tsys\t")
			for _, r := range rows {
				if r.Error != "" || r.OpsPerSec == 0 {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\t\t\t\t\t\t\t\n", r.Loops, r.Case, r.Impl, r.Generator, failure(r))
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Loops, r.Case, r.Impl, r.Generator,
					countText(r.OpsPerSec), usText(r.P50us), usText(r.P99us), usText(r.P999us),
					ratioText(r.VsBestGoPeer), ratioText(r.VsC), cpuText(r.ServerCPUus), sysText(r))
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	writeStalls(w, rep.MachineStalls)
	if err := writeP99Target(w, rep.P99Target); err != nil {
		return err
	}
	if err := writeCPUComparison(w, rep.ServerCPU); err != nil {
		return err
	}
	var failed []string
	for _, r := range rep.Rows {
		if r.Error != "" {
			failed = append(failed, fmt.Sprintf("  %s loops=%s %s (%s): %s", r.Impl, r.Loops, r.Case, r.Generator, r.Error))
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "\nFAILED (no figure is reported for these):\n%s\n", strings.Join(failed, "\n"))
	}
	return nil
}

var familyTitle = map[Family]string{
	FamilyEcho: "echo, closed loop: messages echoed per second, every byte verified; latency from a batch's write to each message's last byte, " +
		"each server at its own rate (information: the p99 target is judged on the latency rows)",
	FamilyHTTP: "http, closed loop: plaintext responses per second, every response verified (wrk rows: wrk's own figures; its percentiles are per batch, " +
		"left out when pipelining); latency at each server's own rate (information: the p99 target is judged on the latency rows)",
	FamilyLatency: "latency, open loop: every server offered the same requests per second at fixed times, every reply verified; latency from each " +
		"request's due time to its reply's last byte (the generator one thread on epoll, polling where it has CPUs of its own); best run = the lowest p99 of those that kept up; ratios are p99 over the lowest " +
		"Go peer's and C's (lower is better); a server that answered < 97% of the offered rate, or ended the window behind, is overloaded and compared with none",
	FamilyConnRate: "connrate: connect, one verified request, close, per second; latency of the whole cycle",
	FamilyIdle:     "idle: memory per idle connection (each made one request); lower is better, ratios of RSS/conn",
}

func failure(r *Row) string {
	if r.Error != "" {
		return "FAILED"
	}
	return "no figure"
}

func countText(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func usText(v *float64) string {
	switch {
	case v == nil:
		return "-"
	case *v < 1000:
		return fmt.Sprintf("%.0fµs", *v)
	case *v < 1e6:
		return fmt.Sprintf("%.2fms", *v/1000)
	}
	return fmt.Sprintf("%.2fs", *v/1e6)
}

func ratioText(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *v)
}

func bytesText(v float64) string {
	switch {
	case v < 0:
		return fmt.Sprintf("%.0f B", v)
	case v < 10*1024:
		return fmt.Sprintf("%.0f B", v)
	}
	return fmt.Sprintf("%.1f KiB", v/1024)
}
