package main

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

// Series is one curve of a chart.
type Series struct {
	Name string    `json:"name"`
	X    []float64 `json:"x"`
	Y    []float64 `json:"y"`
}

// Chart is one figure written as SVG.
type Chart struct {
	File   string   `json:"file"` // base name without directory, e.g. "pipetest.svg"
	Title  string   `json:"title"`
	XLabel string   `json:"x_label"`
	YLabel string   `json:"y_label"`
	LogX   bool     `json:"log_x"`
	LogY   bool     `json:"log_y"`
	Series []Series `json:"series"`
}

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

// addSeries appends to ch the curve name of y(x) at each x where y is
// positive (a figure measured), and leaves ch alone when there is none.
func (ch *Chart) addSeries(name string, xs []int, y func(x int) float64) {
	s := Series{Name: name}
	for _, x := range xs {
		if v := y(x); v > 0 {
			s.X = append(s.X, float64(x))
			s.Y = append(s.Y, v)
		}
	}
	if len(s.X) > 0 {
		ch.Series = append(ch.Series, s)
	}
}
