// Package harnesstest is what the experiments' tests share: a progress Log
// into the test's log, a subcommand run into a buffer, and the checks every
// report section must pass.
package harnesstest

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
)

// Log returns a harness.Log that writes into t's log.
func Log(t testing.TB) harness.Log { return harness.Log{W: logWriter{t}} }

type logWriter struct{ t testing.TB }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// Options are the quick short form's options, progress into t's log.
func Options(t testing.TB) harness.Options { return harness.Options{Quick: true, Log: Log(t)} }

// Run runs e as a subcommand with args and returns what it wrote to its
// output; its progress and flag errors go to t's log.
func Run(t testing.TB, e harness.Experiment, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := harness.Command(e, args, &out, logWriter{t})
	return out.String(), err
}

// Prints runs e with args and fails t unless it succeeds and its output
// holds each of wants. It returns the output.
func Prints(t testing.TB, e harness.Experiment, args []string, wants ...string) string {
	t.Helper()
	out, err := Run(t, e, args...)
	if err != nil {
		t.Fatalf("%s %q: %v", e.Name, args, err)
	}
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("%s %q: output lacks %q:\n%s", e.Name, args, want, out)
		}
	}
	return out
}

// Parses runs e with args and fails t unless it succeeds and parse reads
// its output (perf's format, say). It returns the output and what parse
// read.
func Parses[P any](t testing.TB, e harness.Experiment, parse func(out string) (P, error), args ...string) (string, P) {
	t.Helper()
	out, err := Run(t, e, args...)
	if err != nil {
		t.Fatalf("%s %q: %v", e.Name, args, err)
	}
	p, err := parse(out)
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", e.Name, args, err, out)
	}
	return out, p
}

// Refuses fails t for each command line of lines that e accepts.
func Refuses(t testing.TB, e harness.Experiment, lines ...[]string) {
	t.Helper()
	for _, args := range lines {
		if _, err := Run(t, e, args...); err == nil {
			t.Errorf("%s %q: no error", e.Name, args)
		}
	}
}

// Quick runs e's short form as the report's -quick does, fails t if it
// fails, checks its section (CheckSection) and returns it.
func Quick(t testing.TB, e harness.Experiment) harness.Section {
	t.Helper()
	sec, err := e.Report(Options(t))
	if err != nil {
		t.Fatalf("%s: %v", e.Name, err)
	}
	CheckSection(t, sec, e.Name)
	return sec
}

// CheckSection checks what every experiment's section must hold: its name
// on every row, finite figures with a unit (positive, or a note saying why
// not), a ratio that agrees
// with Ours and Ref, a judged target wherever there is one, and charts
// whose series are well-formed (and positive on a logarithmic axis; a value
// per category in a bar chart).
func CheckSection(t testing.TB, sec harness.Section, name string) {
	t.Helper()
	if sec.Experiment != name {
		t.Errorf("section experiment = %q, want %q", sec.Experiment, name)
	}
	if len(sec.Rows) == 0 {
		t.Fatalf("%s: no rows", name)
	}
	for _, r := range sec.Rows {
		checkRow(t, r, name)
	}
	if len(sec.Charts) == 0 {
		t.Fatalf("%s: no chart", name)
	}
	for _, c := range sec.Charts {
		if c.File == "" || !strings.HasSuffix(c.File, ".svg") || strings.Contains(c.File, "/") {
			t.Errorf("chart file %q: want a base name ending in .svg", c.File)
		}
		if c.Title == "" || c.XLabel == "" || c.YLabel == "" {
			t.Errorf("chart %q: missing title or axis label", c.File)
		}
		if len(c.Series) == 0 {
			t.Errorf("chart %q: no series", c.File)
		}
		for _, s := range c.Series {
			if len(c.Categories) > 0 {
				if s.Name == "" || len(s.Y) != len(c.Categories) {
					t.Errorf("bar chart %q series %q: %d values for %d categories", c.File, s.Name, len(s.Y), len(c.Categories))
				}
				continue
			}
			if s.Name == "" || len(s.X) == 0 || len(s.X) != len(s.Y) {
				t.Errorf("chart %q series %q: %d x for %d y", c.File, s.Name, len(s.X), len(s.Y))
			}
			for i := range s.X {
				if (c.LogX && !(s.X[i] > 0)) || (c.LogY && !(s.Y[i] > 0)) || math.IsNaN(s.X[i]) || math.IsNaN(s.Y[i]) {
					t.Errorf("chart %q series %q point %d = (%v, %v): not drawable", c.File, s.Name, i, s.X[i], s.Y[i])
				}
			}
		}
	}
}

func checkRow(t testing.TB, r harness.Row, name string) {
	t.Helper()
	if r.Experiment != name {
		t.Errorf("row %q: experiment %q, want %q", r.Case, r.Experiment, name)
	}
	if r.Case == "" || r.Unit == "" {
		t.Errorf("row %+v: empty case or unit", r)
	}
	if math.IsNaN(r.Ours) || math.IsInf(r.Ours, 0) || (!(r.Ours > 0) && r.RefNote == "") {
		t.Errorf("row %q: ours = %v, want a finite figure, positive unless the note says why not", r.Case, r.Ours)
	}
	if r.Ref != 0 && r.RefName == "" {
		t.Errorf("row %q: a reference figure without a name", r.Case)
	}
	want := 0.0
	if r.Ref > 0 && r.Ours > 0 {
		want = r.Ours / r.Ref
		if r.LowerIsBetter {
			want = r.Ref / r.Ours
		}
	}
	if math.Abs(r.Ratio-want) > 1e-9*math.Max(1, want) {
		t.Errorf("row %q: ratio %v, want %v", r.Case, r.Ratio, want)
	}
	if tg := r.Target; tg != nil {
		switch {
		case r.Ratio == 0 && tg.Verdict != harness.NotJudged,
			r.Ratio != 0 && r.Ratio >= tg.MinRatio && tg.Verdict != harness.Met,
			r.Ratio != 0 && r.Ratio < tg.MinRatio && tg.Verdict != harness.NotMet:
			t.Errorf("row %q: ratio %v against target %v judged %q", r.Case, r.Ratio, tg.MinRatio, tg.Verdict)
		}
	}
}
