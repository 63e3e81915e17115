package harness

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeReportFile(t *testing.T, dir, name string, rep Report) string {
	t.Helper()
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCompareReportsRatioPerRow(t *testing.T) {
	dir := t.TempDir()
	old := Report{Schema: 1, Started: "2026-11-22T10:00:00Z", Sections: []Section{{Experiment: "wait", Rows: []Row{
		{Experiment: "wait", Case: "-t 1 -f 64", Ours: 400000, Unit: "ops/s"},
		{Experiment: "wait", Case: "-E -t 1 -f 64", Ours: 300000, Unit: "ops/s"},
		{Experiment: "timeout", Case: "overshoot", Ours: 60, Unit: "us", LowerIsBetter: true},
	}}}}
	new := Report{Schema: 1, Started: "2026-11-23T10:00:00Z", Sections: []Section{{Experiment: "wait", Rows: []Row{
		{Experiment: "wait", Case: "-t 1 -f 64", Ours: 800000, Unit: "ops/s"},
		{Experiment: "wait", Case: "-t 1 -f 64", Ours: 800000, Unit: "ops/s", RefName: "C perf bench",
			Target: &Target{MinRatio: 0.95, Verdict: Met}},
		{Experiment: "timeout", Case: "overshoot", Ours: 30, Unit: "us", LowerIsBetter: true},
		{Experiment: "ctl", Case: "per-op -t 2 -f 64", Ours: 1e6, Unit: "ops/s"},
	}}}}
	rows := CompareRows(&old, &new)
	got := map[string]float64{}
	for _, r := range rows {
		if r.RefName == "" {
			got[r.Case] = r.Change()
		}
	}
	if len(rows) != 5 {
		t.Errorf("%d rows, want 5: a case set against two references is two rows", len(rows))
	}
	want := map[string]float64{"-t 1 -f 64": 2, "overshoot": 2, "per-op -t 2 -f 64": 0, "-E -t 1 -f 64": 0}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("change of %q = %v (present %v), want %v", k, g, ok, v)
		}
	}

	var buf bytes.Buffer
	if err := Compare([]string{writeReportFile(t, dir, "old.json", old), writeReportFile(t, dir, "new.json", new)}, &buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"2.00x", "new row", "gone", "800k ops/s", "400k ops/s", ">= 0.95x met"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestCompareRefusesOtherSchemasAndBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := writeReportFile(t, dir, "good.json", Report{Schema: 1})
	future := writeReportFile(t, dir, "future.json", Report{Schema: 2})
	junk := filepath.Join(dir, "junk.json")
	os.WriteFile(junk, []byte("not json"), 0o644)
	for _, args := range [][]string{{good, future}, {junk, good}, {good}, {good, filepath.Join(dir, "missing.json")}} {
		if err := Compare(args, io.Discard); err == nil {
			t.Errorf("compare %v: no error", args)
		}
	}
	if err := Compare([]string{good, good}, io.Discard); err != nil {
		t.Errorf("compare of two empty schema-1 reports: %v", err)
	}
}
