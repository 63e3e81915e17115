package harness

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/chart"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/cref"
	"golang.org/x/sys/unix"
)

// Schema is Report.Schema: bumped when a field changes meaning or goes
// away; adding fields keeps it.
const Schema = 1

// Report is the standard report: the JSON document written to the output
// directory.
type Report struct {
	Schema   int       `json:"schema"`
	Started  string    `json:"started"`             // RFC 3339, UTC
	Elapsed  float64   `json:"elapsed_s,omitempty"` // seconds the experiments took, before the outputs were written
	Machine  Machine   `json:"machine"`
	Sections []Section `json:"sections"`
}

// Machine describes where a report was made.
type Machine struct {
	Kernel string `json:"kernel"` // uname -r
	CPUs   int    `json:"cpus"`
	Model  string `json:"cpu_model"`
	Go     string `json:"go"`
	Perf   string `json:"perf"` // perf version, or "" when absent
}

// Section is what one experiment contributes to a report.
type Section struct {
	Experiment string         `json:"experiment"`
	Params     map[string]any `json:"params"` // the settings its short form ran with
	Rows       []Row          `json:"rows"`
	Charts     []chart.Chart  `json:"charts,omitempty"`
	Raw        any            `json:"raw,omitempty"`   // experiment-specific detail (per-thread figures, histograms)
	Notes      []string       `json:"notes,omitempty"` // caveats a reader must see
}

// Row is one figure of ours beside the reference it is compared with.
type Row struct {
	Experiment    string  `json:"experiment"`                // the section's
	Case          string  `json:"case"`                      // what was measured, e.g. "epoll N=10000" or "-E -t 1 -f 64"
	Ours          float64 `json:"ours,omitempty"`            // our figure; 0 (absent) when not measured, RefNote says why
	Unit          string  `json:"unit"`                      // "ops/s", "passes/s", "us", "replies/s", "x" (a ratio)
	RefName       string  `json:"ref_name,omitempty"`        // what Ref is: "C perf bench", "poll(2)", "seed 001 (2002)"
	Ref           float64 `json:"ref,omitempty"`             // the reference figure, 0 when absent
	RefNote       string  `json:"ref_note,omitempty"`        // why Ref is absent ("perf not installed"), or a remark
	Ratio         float64 `json:"ratio,omitempty"`           // Ours/Ref (Ref/Ours when LowerIsBetter), 0 unless both are positive
	LowerIsBetter bool    `json:"lower_is_better,omitempty"` // latency-like units: the ratio is Ref/Ours, so above 1 we win
	Target        *Target `json:"target,omitempty"`          // a goal the ratio must reach, judged by Add
}

// Finish computes the row's ratio from Ours and Ref, and judges its
// target by that ratio. Section.Add and the report call it; a subcommand
// that prints a verdict of its own calls it too. Only two positive figures
// have a ratio: a missing one is 0, and a memory growth measured at or
// below zero is within the measurement's noise, not a figure to divide by.
func (r *Row) Finish() {
	r.Ratio = 0
	if r.Ref > 0 && r.Ours > 0 {
		if r.LowerIsBetter {
			r.Ratio = r.Ref / r.Ours
		} else {
			r.Ratio = r.Ours / r.Ref
		}
	}
	if r.Target != nil {
		r.Target.judge(r.Ratio)
	}
}

// Add appends r to the section: it takes the section's experiment name
// when it has none, and gets its ratio and its target's verdict.
func (s *Section) Add(r Row) {
	if r.Experiment == "" {
		r.Experiment = s.Experiment
	}
	if r.Target != nil {
		t := *r.Target // the caller's Target may be shared by several rows
		r.Target = &t
	}
	r.Finish()
	s.Rows = append(s.Rows, r)
}

// Run runs the selected experiments' short forms in order, prints the
// table to stdout and progress to stderr, and writes the outputs into
// cfg.Dir. It returns the report and the files written. An experiment that
// fails is noted in its section and makes the error non-nil after the
// others have run.
func Run(exps []Experiment, cfg Config, stdout, stderr io.Writer) (*Report, []string, error) {
	log := Log{W: stderr, Prefix: "epollbench: "}
	started := time.Now()
	rep := &Report{Schema: Schema, Started: started.UTC().Format(time.RFC3339), Machine: machineInfo()}
	log.Printf("machine: %s, %d CPUs (%s), %s, %s", rep.Machine.Kernel, rep.Machine.CPUs, rep.Machine.Model,
		rep.Machine.Go, or(rep.Machine.Perf, cref.PerfMissing))
	var failed []string
	for _, e := range exps {
		if e.Report == nil || (len(cfg.Only) > 0 && !slices.Contains(cfg.Only, e.Name)) {
			continue
		}
		sec, err := section(e, cfg.Quick, log)
		if err != nil {
			failed = append(failed, e.Name)
		}
		rep.Sections = append(rep.Sections, sec)
	}
	rep.Elapsed = time.Since(started).Seconds()
	PrintTable(stdout, rep)
	fmt.Fprintln(stdout)
	files, err := write(rep, cfg, stdout)
	if err != nil {
		return rep, files, err
	}
	fmt.Fprintf(stdout, "total time: %v\n", time.Since(started).Round(100*time.Millisecond))
	if len(failed) > 0 {
		return rep, files, fmt.Errorf("experiments failed: %s (see the notes above)", strings.Join(failed, ", "))
	}
	return rep, files, nil
}

// section runs e's short form. A failure is also a note of the section,
// which keeps what e measured before it failed.
func section(e Experiment, quick bool, log Log) (Section, error) {
	t0 := time.Now()
	log.Printf("%s: starting", e.Name)
	sec, err := e.Report(Options{Quick: quick, Log: log})
	if sec.Experiment == "" {
		sec.Experiment = e.Name
	}
	if err != nil {
		log.Printf("%s: FAILED: %v", e.Name, err)
		sec.Notes = append(sec.Notes, "FAILED: "+err.Error())
	}
	for i := range sec.Rows {
		if sec.Rows[i].Experiment == "" {
			sec.Rows[i].Experiment = e.Name
		}
		sec.Rows[i].Finish()
	}
	log.Printf("%s: done in %v", e.Name, time.Since(t0).Round(100*time.Millisecond))
	return sec, err
}

// write writes rep in every output form into cfg.Dir and lists the files
// on stdout.
func write(rep *Report, cfg Config, stdout io.Writer) ([]string, error) {
	outputs := cfg.Outputs
	if outputs == nil {
		outputs = Outputs()
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("results directory: %w", err)
	}
	var files []string
	for _, o := range outputs {
		paths, err := o.Write(cfg.Dir, rep)
		if err != nil {
			return files, err
		}
		for _, p := range paths {
			fmt.Fprintf(stdout, "%-8s %s\n", o.Label+":", p)
		}
		files = append(files, paths...)
	}
	return files, nil
}

// PrintTable prints every row: our figure, the reference, their ratio and
// the target. Notes follow, section by section.
func PrintTable(w io.Writer, rep *Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "EXPERIMENT\tCASE\tOURS\tREFERENCE\tREF\tRATIO\tTARGET\tNOTE\n")
	for _, s := range rep.Sections {
		for _, r := range s.Rows {
			ours, ref, ratio, target := "-", "-", "-", "-"
			if r.Ours != 0 {
				ours = Figure(r.Ours, r.Unit)
			}
			if r.Ref != 0 {
				ref = Figure(r.Ref, r.Unit)
			}
			if r.Ratio != 0 {
				ratio = fmt.Sprintf("%.2fx", r.Ratio)
			}
			if r.Target != nil {
				target = r.Target.String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Experiment, r.Case, ours,
				or(r.RefName, "-"), ref, ratio, target, r.RefNote)
		}
	}
	tw.Flush()
	for _, s := range rep.Sections {
		for _, n := range s.Notes {
			fmt.Fprintf(w, "note (%s): %s\n", s.Experiment, n)
		}
	}
	fmt.Fprintln(w, "RATIO is ours/ref (ref/ours for lower-is-better units): above 1 means ours is ahead.")
}

// Figure writes v compactly with its unit: "263k ops/s".
func Figure(v float64, unit string) string {
	if unit == "" {
		return chart.FormatSI(v)
	}
	return chart.FormatSI(v) + " " + unit
}

func or(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// machineInfo describes this machine for Report.Machine.
func machineInfo() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), Perf: cref.PerfVersion()}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	m.Model = cpuModel()
	return m
}

// cpuModel reads the first "model name" of /proc/cpuinfo (x86), or another
// line naming the processor on architectures that spell it differently.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	alt := ""
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "model name":
			return v
		case "Model", "Hardware", "CPU part", "cpu model":
			if alt == "" {
				alt = v
			}
		}
	}
	return alt
}
