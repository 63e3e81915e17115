package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/chart"
)

// Output writes one form of a finished report into a directory: the JSON
// document, the page, the SVG charts.
type Output struct {
	Label string // how the run lists the files written: "results", "chart"
	// Write writes into dir, which exists, and returns the paths to list.
	Write func(dir string, rep *Report) ([]string, error)
}

// Outputs are the forms the standard report is written in: the JSON
// document, the page (index.html: the table, the notes and every chart in
// one file), then every chart on its own.
func Outputs() []Output {
	return []Output{{"results", WriteJSON}, {"page", WriteHTML}, {"chart", WriteCharts}}
}

// WriteJSON writes rep as JSON under a name stamped with its start time
// (epollbench-YYYYMMDD-HHMMSS.json) and again as latest.json, and returns
// the stamped one.
func WriteJSON(dir string, rep *Report) ([]string, error) {
	started, err := time.Parse(time.RFC3339, rep.Started)
	if err != nil {
		return nil, fmt.Errorf("report start time %q: %w", rep.Started, err)
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode results: %w", err)
	}
	b = append(b, '\n')
	path := filepath.Join(dir, "epollbench-"+started.UTC().Format("20060102-150405")+".json")
	for _, p := range []string{path, filepath.Join(dir, "latest.json")} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return nil, fmt.Errorf("write results: %w", err)
		}
	}
	return []string{path}, nil
}

// WriteCharts writes every chart of rep as an SVG file named by the chart.
func WriteCharts(dir string, rep *Report) ([]string, error) {
	var paths []string
	for _, s := range rep.Sections {
		for _, ch := range s.Charts {
			if ch.File == "" || filepath.Base(ch.File) != ch.File {
				return paths, fmt.Errorf("chart %q of %s: file must be a plain base name", ch.File, s.Experiment)
			}
			p := filepath.Join(dir, ch.File)
			if err := os.WriteFile(p, chart.SVG(ch), 0o644); err != nil {
				return paths, fmt.Errorf("write chart: %w", err)
			}
			paths = append(paths, p)
		}
	}
	return paths, nil
}

// Load reads a JSON report and checks its schema.
func Load(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("%s: not an epollbench report: %w", path, err)
	}
	if rep.Schema != Schema {
		return nil, fmt.Errorf("%s: schema %d, this epollbench reads schema %d", path, rep.Schema, Schema)
	}
	return &rep, nil
}
