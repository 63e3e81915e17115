package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultReportQuickWritesTableJSONAndCharts(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-quick", "-only", "wait,ctl", "-o", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"EXPERIMENT", "RATIO", "results: " + dir, "wait.svg", "ctl.svg"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr.String(), "wait: starting") || !strings.Contains(stderr.String(), "machine:") {
		t.Errorf("no progress on stderr:\n%s", stderr.String())
	}

	b, err := os.ReadFile(filepath.Join(dir, "latest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("latest.json does not decode: %v", err)
	}
	if rep.Schema != 1 || rep.Machine.CPUs < 1 || rep.Machine.Kernel == "" || rep.Machine.Go == "" || rep.Started == "" {
		t.Errorf("header: schema %d, machine %+v, started %q", rep.Schema, rep.Machine, rep.Started)
	}
	// Round trip: what was written decodes and encodes to the same document.
	b2, _ := json.MarshalIndent(rep, "", "  ")
	var rep2 Report
	if err := json.Unmarshal(b2, &rep2); err != nil || !reflect.DeepEqual(roundTrip(t, rep), roundTrip(t, rep2)) {
		t.Errorf("report does not survive a JSON round trip: %v", err)
	}
	var names []string
	for _, s := range rep.Sections {
		names = append(names, s.Experiment)
		if len(s.Rows) == 0 {
			t.Errorf("%s: no rows", s.Experiment)
		}
		for _, r := range s.Rows {
			if r.Ours <= 0 || r.Unit == "" || r.Experiment != s.Experiment {
				t.Errorf("%s: bad row %+v", s.Experiment, r)
			}
			if r.Ref != 0 && r.Ratio == 0 {
				t.Errorf("%s: row %q has a reference but no ratio", s.Experiment, r.Case)
			}
		}
		for _, ch := range s.Charts {
			svg, err := os.ReadFile(filepath.Join(dir, ch.File))
			if err != nil {
				t.Fatal(err)
			}
			counts := svgCount(t, svg)
			if counts["polyline"] != len(ch.Series) || len(ch.Series) == 0 {
				t.Errorf("%s: %d polylines for %d series", ch.File, counts["polyline"], len(ch.Series))
			}
		}
	}
	if strings.Join(names, ",") != "wait,ctl" {
		t.Errorf("sections %v, want wait then ctl only", names)
	}
	// The stamped file is the same report.
	stamped, _ := filepath.Glob(filepath.Join(dir, "epollbench-*.json"))
	if len(stamped) != 1 {
		t.Errorf("stamped JSON files: %v", stamped)
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

func TestHelpListsEverySubcommand(t *testing.T) {
	for _, arg := range []string{"help", "-h", "--help"} {
		var stdout, stderr bytes.Buffer
		if code := run([]string{arg}, &stdout, &stderr); code != 0 {
			t.Errorf("%s: exit %d", arg, code)
		}
		for _, name := range append(experimentNames(), "compare", "-quick", "-only") {
			if !strings.Contains(stdout.String(), name) {
				t.Errorf("%s: usage lacks %q:\n%s", arg, name, stdout.String())
			}
		}
	}
}

func TestBadCommandLinesExitWithUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"nonsense"}, {"-only", "wait,nonsense"}, {"-bogus"}, {"-quick", "extra"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2; stderr:\n%s", args, code, stderr.String())
		}
		if stderr.Len() == 0 {
			t.Errorf("%v: nothing said on stderr", args)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"compare", "only-one.json"}, &stdout, &stderr); code != 1 {
		t.Errorf("compare with one file: exit %d, want 1", code)
	}
}

// svgCount parses b as XML, failing the test if it is not well-formed, and
// counts its elements by name.
func svgCount(t *testing.T, b []byte) map[string]int {
	t.Helper()
	counts := map[string]int{}
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return counts
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			counts[se.Name.Local]++
		}
	}
}
