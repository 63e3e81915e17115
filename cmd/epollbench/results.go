package main

import "github.com/eventpoll/eventpoll/cmd/epollbench/internal/chart"

// The types every experiment returns. The default report prints Rows as one
// table, writes Report as JSON and each Chart as an SVG file.

// Row is one figure of ours beside the reference it is compared with.
type Row struct {
	Experiment    string  `json:"experiment"`                // "wait", "ctl", "pipetest", "timeout", "http"
	Case          string  `json:"case"`                      // what was measured, e.g. "epoll N=10000" or "-E edge"
	Ours          float64 `json:"ours"`                      // our figure
	Unit          string  `json:"unit"`                      // "ops/s", "passes/s", "us", "replies/s"
	RefName       string  `json:"ref_name,omitempty"`        // what Ref is, e.g. "C perf bench", "poll(2)", "seed 001 (2002)"
	Ref           float64 `json:"ref,omitempty"`             // the reference figure, 0 when absent
	RefNote       string  `json:"ref_note,omitempty"`        // why Ref is absent ("perf not installed") or a remark
	Ratio         float64 `json:"ratio,omitempty"`           // Ours/Ref (or Ref/Ours when LowerIsBetter), 0 when no Ref
	LowerIsBetter bool    `json:"lower_is_better,omitempty"` // latency-like units: the ratio is Ref/Ours so >1 means we win
}

// Series and Chart are the chart package's.
type (
	Series = chart.Series
	Chart  = chart.Chart
)

// Section is what one experiment contributes to a report.
type Section struct {
	Experiment string         `json:"experiment"`
	Params     map[string]any `json:"params"` // the flags it ran with
	Rows       []Row          `json:"rows"`
	Charts     []Chart        `json:"charts,omitempty"`
	Raw        any            `json:"raw,omitempty"`   // experiment-specific detail (per-thread figures, histograms)
	Notes      []string       `json:"notes,omitempty"` // caveats a reader must see
}

// Report is the JSON document written to epollbench-results/.
type Report struct {
	Schema   int       `json:"schema"`  // 1
	Started  string    `json:"started"` // RFC 3339
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

// ratio fills r.Ratio from Ours and Ref.
func (r *Row) ratio() {
	if r.Ref == 0 || r.Ours == 0 {
		r.Ratio = 0
		return
	}
	if r.LowerIsBetter {
		r.Ratio = r.Ref / r.Ours
	} else {
		r.Ratio = r.Ours / r.Ref
	}
}
