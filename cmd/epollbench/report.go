package main

// The default report: every experiment's short form in turn, one table of
// our figures beside their references, the whole as JSON and the charts as
// SVG in one directory.

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/chart"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/cref"
	"golang.org/x/sys/unix"
)

// reportSchema is Report.Schema: bump it when a field changes meaning or
// goes away (adding fields keeps it).
const reportSchema = 1

// reportConfig is the default report's flags.
type reportConfig struct {
	Quick bool
	Dir   string
	Only  []string // experiment names; empty means all
}

// parseReportFlags reads the flags of the default run.
func parseReportFlags(args []string, stderr io.Writer) (reportConfig, error) {
	var cfg reportConfig
	fs := flag.NewFlagSet("epollbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&cfg.Quick, "quick", false, "a seconds-long smoke run: tiny runtimes, no C reference")
	fs.StringVar(&cfg.Dir, "o", "epollbench-results", "directory for the JSON results and SVG charts")
	only := fs.String("only", "", "comma-separated experiments to run (default all): "+strings.Join(experimentNames(), ","))
	fs.Usage = func() { usage(stderr) }
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q (flags go before nothing else; see epollbench help)", fs.Arg(0))
	}
	for _, name := range strings.Split(*only, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if _, ok := experiments[name]; !ok {
			return cfg, fmt.Errorf("-only: unknown experiment %q (known: %s)", name, strings.Join(experimentNames(), ", "))
		}
		cfg.Only = append(cfg.Only, name)
	}
	return cfg, nil
}

func experimentNames() []string {
	var names []string
	for _, e := range ordered() {
		names = append(names, e.Name)
	}
	return names
}

// runReport runs the selected experiments, prints the table to stdout and
// writes the files. It returns the report and the path of its JSON; an
// experiment that fails is noted in the report and makes the error non-nil
// after the others have run.
func runReport(cfg reportConfig, stdout, stderr io.Writer) (*Report, string, error) {
	progress := func(format string, args ...any) {
		fmt.Fprintf(stderr, "epollbench: "+format+"\n", args...)
	}
	started := time.Now()
	rep := &Report{Schema: reportSchema, Started: started.UTC().Format(time.RFC3339), Machine: machineInfo()}
	progress("machine: %s, %d CPUs (%s), %s, %s", rep.Machine.Kernel, rep.Machine.CPUs, rep.Machine.Model,
		rep.Machine.Go, orString(rep.Machine.Perf, cref.PerfMissing))
	var failed []string
	for _, e := range ordered() {
		if len(cfg.Only) > 0 && !contains(cfg.Only, e.Name) {
			continue
		}
		t0 := time.Now()
		progress("%s: starting", e.Name)
		sec, err := e.Report(reportOptions{Quick: cfg.Quick, Progress: progress})
		if sec.Experiment == "" {
			sec.Experiment = e.Name
		}
		if err != nil {
			progress("%s: FAILED: %v", e.Name, err)
			sec.Notes = append(sec.Notes, "FAILED: "+err.Error())
			failed = append(failed, e.Name)
		}
		for i := range sec.Rows {
			if sec.Rows[i].Experiment == "" {
				sec.Rows[i].Experiment = e.Name
			}
			sec.Rows[i].ratio()
		}
		rep.Sections = append(rep.Sections, sec)
		progress("%s: done in %v", e.Name, time.Since(t0).Round(100*time.Millisecond))
	}

	printTable(stdout, rep)
	path, err := writeReport(cfg.Dir, rep, started)
	if err != nil {
		return rep, "", err
	}
	fmt.Fprintf(stdout, "\nresults: %s\n", path)
	for _, s := range rep.Sections {
		for _, ch := range s.Charts {
			fmt.Fprintf(stdout, "chart:   %s\n", filepath.Join(cfg.Dir, ch.File))
		}
	}
	fmt.Fprintf(stdout, "total time: %v\n", time.Since(started).Round(100*time.Millisecond))
	if len(failed) > 0 {
		return rep, path, fmt.Errorf("experiments failed: %s (see the notes above)", strings.Join(failed, ", "))
	}
	return rep, path, nil
}

// writeReport writes the JSON (under a name stamped with the start time,
// and as latest.json) and every chart's SVG into dir.
func writeReport(dir string, rep *Report, started time.Time) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("results directory: %w", err)
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode results: %w", err)
	}
	b = append(b, '\n')
	path := filepath.Join(dir, "epollbench-"+started.UTC().Format("20060102-150405")+".json")
	for _, p := range []string{path, filepath.Join(dir, "latest.json")} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return "", fmt.Errorf("write results: %w", err)
		}
	}
	for _, s := range rep.Sections {
		for _, ch := range s.Charts {
			if ch.File == "" || filepath.Base(ch.File) != ch.File {
				return "", fmt.Errorf("chart %q of %s: file must be a plain base name", ch.File, s.Experiment)
			}
			if err := os.WriteFile(filepath.Join(dir, ch.File), chart.SVG(ch), 0o644); err != nil {
				return "", fmt.Errorf("write chart: %w", err)
			}
		}
	}
	return path, nil
}

// printTable prints every row: our figure, the reference, their ratio.
// Notes follow their section's rows.
func printTable(w io.Writer, rep *Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "EXPERIMENT\tCASE\tOURS\tREFERENCE\tREF\tRATIO\tNOTE\n")
	for _, s := range rep.Sections {
		for _, r := range s.Rows {
			ref, ratio := "-", "-"
			if r.Ref != 0 {
				ref = formatFigure(r.Ref, r.Unit)
			}
			if r.Ratio != 0 {
				ratio = fmt.Sprintf("%.2fx", r.Ratio)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Experiment, r.Case, formatFigure(r.Ours, r.Unit),
				orString(r.RefName, "-"), ref, ratio, r.RefNote)
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

func formatFigure(v float64, unit string) string {
	if unit == "" {
		return chart.FormatSI(v)
	}
	return chart.FormatSI(v) + " " + unit
}

func orString(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
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

// loadReport reads a JSON report and checks its schema.
func loadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("%s: not an epollbench report: %w", path, err)
	}
	if rep.Schema != reportSchema {
		return nil, fmt.Errorf("%s: schema %d, this epollbench reads schema %d", path, rep.Schema, reportSchema)
	}
	return &rep, nil
}
