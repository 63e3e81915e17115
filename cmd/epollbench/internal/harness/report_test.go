package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/chart"
)

// fake is an experiment that measures nothing: its section is made of the
// figures it is given, so that the harness can be tested in milliseconds.
func fake(name string, ours, ref float64, fail error) Experiment {
	return Experiment{
		Name: name, Summary: "a " + name, About: "measures nothing",
		Flags: func(fs *flag.FlagSet) Runner {
			n := fs.Int("n", 1, "rows")
			return func(out io.Writer, log Log) error {
				log.Printf("running %d", *n)
				fmt.Fprintf(out, "%s: %d rows\n", name, *n)
				return fail
			}
		},
		Report: func(opts Options) (Section, error) {
			opts.Log.Printf("%s quick=%v", name, opts.Quick)
			sec := Section{Experiment: name, Params: map[string]any{"quick": opts.Quick}}
			sec.Add(Row{Case: "throughput", Ours: ours, Unit: "ops/s", RefName: "C", Ref: ref, Target: AtLeast(0.95)})
			sec.Add(Row{Case: "latency", Ours: 2, Unit: "us", RefName: "C", Ref: 3, LowerIsBetter: true})
			sec.Add(Row{Case: "alone", Ours: 5, Unit: "x", RefName: "C", RefNote: "C not run", Target: AtLeast(1)})
			sec.Charts = []chart.Chart{{File: name + ".svg", Title: name, XLabel: "x", YLabel: "y",
				Series: []chart.Series{{Name: "ours", X: []float64{1, 2}, Y: []float64{ours, ours}}}}}
			return sec, fail
		},
	}
}

func TestSectionAddJudgesTargetsByTheRatio(t *testing.T) {
	sec := fake("w", 96, 100, nil).Report
	s, _ := sec(Options{})
	want := []struct {
		ratio   float64
		verdict Verdict
	}{{0.96, Met}, {1.5, ""}, {0, NotJudged}}
	for i, w := range want {
		r := s.Rows[i]
		if r.Experiment != "w" || r.Ratio != w.ratio {
			t.Errorf("row %q: experiment %q ratio %v, want w and %v", r.Case, r.Experiment, r.Ratio, w.ratio)
		}
		if (r.Target == nil) != (w.verdict == "") || (r.Target != nil && r.Target.Verdict != w.verdict) {
			t.Errorf("row %q: target %+v, want verdict %q", r.Case, r.Target, w.verdict)
		}
	}
	s2, _ := fake("w", 90, 100, nil).Report(Options{})
	if v := s2.Rows[0].Target.Verdict; v != NotMet {
		t.Errorf("0.90x against a target of 0.95x: %q", v)
	}
	// One Target value given to two rows is judged once for each.
	tg := AtLeast(1)
	var s3 Section
	s3.Add(Row{Case: "a", Ours: 2, Ref: 1, Target: tg})
	s3.Add(Row{Case: "b", Ours: 1, Ref: 2, Target: tg})
	if s3.Rows[0].Target.Verdict != Met || s3.Rows[1].Target.Verdict != NotMet || tg.Verdict != "" {
		t.Errorf("a shared target: %q, %q (the caller's: %q)", s3.Rows[0].Target.Verdict, s3.Rows[1].Target.Verdict, tg.Verdict)
	}
}

func TestRunWritesTableJSONAndChartsAndNamesWhatFailed(t *testing.T) {
	dir := t.TempDir()
	broke := errors.New("broke")
	exps := []Experiment{fake("one", 96, 100, nil), fake("two", 90, 100, broke), {Name: "sub", Flags: fake("sub", 1, 1, nil).Flags}}
	var stdout, stderr bytes.Buffer
	rep, files, err := Run(exps, Config{Quick: true, Dir: dir}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "two") {
		t.Errorf("err = %v, want the failed experiment named", err)
	}
	out := stdout.String()
	for _, want := range []string{"EXPERIMENT", "TARGET", ">= 0.95x met", ">= 0.95x not met", ">= 1x not judged",
		"note (two): FAILED: broke", "results: " + dir, "page:    " + filepath.Join(dir, "index.html"),
		"chart:   " + filepath.Join(dir, "one.svg")} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr.String(), "epollbench: one quick=true") {
		t.Errorf("progress lacks the experiment's line:\n%s", stderr.String())
	}
	if len(rep.Sections) != 2 || len(files) != 4 {
		t.Fatalf("%d sections (want 2: sub has no report form), files %v", len(rep.Sections), files)
	}
	got, err := Load(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(roundTrip(t, got), roundTrip(t, rep)) {
		t.Errorf("the JSON written does not read back as the report")
	}
	latest, err := os.ReadFile(filepath.Join(dir, "latest.json"))
	if stamped, _ := os.ReadFile(files[0]); err != nil || !bytes.Equal(latest, stamped) {
		t.Errorf("latest.json differs from %s (%v)", files[0], err)
	}
	if tg := got.Sections[0].Rows[0].Target; tg == nil || tg.MinRatio != 0.95 || tg.Verdict != Met {
		t.Errorf("target in the JSON: %+v", tg)
	}
}

func TestRunOnlyRunsTheExperimentsNamed(t *testing.T) {
	exps := []Experiment{fake("one", 1, 1, nil), fake("two", 1, 1, nil)}
	rep, _, err := Run(exps, Config{Dir: t.TempDir(), Only: []string{"two"}}, io.Discard, io.Discard)
	if err != nil || len(rep.Sections) != 1 || rep.Sections[0].Experiment != "two" {
		t.Errorf("-only two: %v, sections %+v", err, rep.Sections)
	}
}

func TestWriteChartsRefusesAPath(t *testing.T) {
	rep := &Report{Sections: []Section{{Experiment: "x", Charts: []chart.Chart{{File: "../x.svg"}}}}}
	if _, err := WriteCharts(t.TempDir(), rep); err == nil {
		t.Error("a chart file with a directory was written")
	}
}

// roundTrip decodes v's JSON into a generic value, so that reports can be
// compared without the concrete types behind Raw.
func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var g any
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestMainDispatchesAndExitsWithTheRightStatus(t *testing.T) {
	broke := errors.New("broke")
	exps := []Experiment{fake("one", 1, 1, nil), fake("bad", 1, 1, broke)}
	for _, c := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"help"}, 0, "compare"},
		{[]string{"-h"}, 0, "-quick"},
		{[]string{"one", "-n", "3"}, 0, "one: 3 rows"},
		{[]string{"one", "-h"}, 0, ""},
		{[]string{"bad"}, 1, "bad: 1 rows"},
		{[]string{"one", "-bogus"}, 2, ""},
		{[]string{"one", "stray"}, 1, ""},
		{[]string{"nonsense"}, 2, ""},
		{[]string{"-only", "one,nonsense"}, 2, ""},
		{[]string{"-bogus"}, 2, ""},
		{[]string{"-quick", "extra"}, 2, ""},
		{[]string{"compare", "only-one.json"}, 1, ""},
	} {
		var stdout, stderr bytes.Buffer
		if code := Main(c.args, exps, &stdout, &stderr); code != c.code {
			t.Errorf("%q: exit %d, want %d; stderr:\n%s", c.args, code, c.code, stderr.String())
		}
		if !strings.Contains(stdout.String(), c.out) {
			t.Errorf("%q: stdout lacks %q:\n%s", c.args, c.out, stdout.String())
		}
		if c.code == 2 && stderr.Len() == 0 {
			t.Errorf("%q: nothing said on stderr", c.args)
		}
	}
	var stdout bytes.Buffer
	Main([]string{"one", "-h"}, exps, &stdout, &stdout)
	if !strings.Contains(stdout.String(), "usage: epollbench one [flags]") || !strings.Contains(stdout.String(), "measures nothing") {
		t.Errorf("one -h:\n%s", stdout.String())
	}
}
