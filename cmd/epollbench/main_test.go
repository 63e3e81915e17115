package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
)

// The command as a user runs it: the standard report's quick form of a
// real experiment, written as a table, JSON and SVG. (Each experiment's
// own tests run its quick form; this one is about the command.)
func TestQuickReportWritesTableJSONAndCharts(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := harness.Main([]string{"-quick", "-only", "pipetest", "-o", dir}, experiments, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"EXPERIMENT", "RATIO", "TARGET", "results: " + dir, "page:    " + filepath.Join(dir, "index.html"), "pipetest.svg"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr.String(), "pipetest: starting") || !strings.Contains(stderr.String(), "machine:") {
		t.Errorf("no progress on stderr:\n%s", stderr.String())
	}
	b, err := os.ReadFile(filepath.Join(dir, "latest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep harness.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("latest.json does not decode: %v", err)
	}
	if rep.Schema != 1 || rep.Machine.CPUs < 1 || rep.Machine.Kernel == "" || rep.Machine.Go == "" || rep.Started == "" {
		t.Errorf("header: schema %d, machine %+v, started %q", rep.Schema, rep.Machine, rep.Started)
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
			if n := countElements(t, svg, "polyline"); n != len(ch.Series) || n == 0 {
				t.Errorf("%s: %d polylines for %d series", ch.File, n, len(ch.Series))
			}
		}
	}
	if strings.Join(names, ",") != "pipetest" {
		t.Errorf("sections %v, want pipetest only", names)
	}
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if n := countElements(t, page, "svg"); n != len(rep.Sections[0].Charts) || n == 0 {
		t.Errorf("index.html has %d charts, the report %d", n, len(rep.Sections[0].Charts))
	}
	if stamped, _ := filepath.Glob(filepath.Join(dir, "epollbench-*.json")); len(stamped) != 1 {
		t.Errorf("stamped JSON files: %v", stamped)
	}
}

func TestHelpListsEveryExperiment(t *testing.T) {
	var stdout bytes.Buffer
	if code := harness.Main([]string{"help"}, experiments, &stdout, io.Discard); code != 0 {
		t.Errorf("help: exit %d", code)
	}
	for _, e := range experiments {
		if !strings.Contains(stdout.String(), "  "+e.Name+" ") {
			t.Errorf("help lacks %q:\n%s", e.Name, stdout.String())
		}
		// Every experiment has a section in the standard report but soak,
		// the long reliability run, which is a subcommand only.
		if (e.Report == nil) != (e.Name == "soak") {
			t.Errorf("%s: report form %v; want one for every experiment but soak", e.Name, e.Report != nil)
		}
	}
}

// countElements parses b as XML (an SVG chart, or the page, which is
// well-formed XML too), failing the test if it is not well-formed, and
// counts the elements named name.
func countElements(t *testing.T, b []byte, name string) int {
	t.Helper()
	n := 0
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == name {
			n++
		}
	}
}
