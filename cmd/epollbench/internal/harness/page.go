package harness

// The report as one page: index.html, readable from the file system with
// no server and nothing fetched (the styles and every chart are inside),
// and well-formed XML as well as HTML, so that a test can parse it with
// encoding/xml.

import (
	"bytes"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/chart"
)

// PageFile is the name of the page in the results directory.
const PageFile = "index.html"

// WriteHTML writes rep as one self-contained page, PageFile in dir: the
// machine, a count of the targets' verdicts, and per section its table,
// its notes and its charts drawn inline.
func WriteHTML(dir string, rep *Report) ([]string, error) {
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, newPage(rep)); err != nil {
		return nil, fmt.Errorf("page: %w", err)
	}
	p := filepath.Join(dir, PageFile)
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("write page: %w", err)
	}
	return []string{p}, nil
}

// Marks of the verdicts: each a shape of its own, and its word beside it,
// so that no reader depends on telling colours apart.
var marks = map[Verdict]string{Met: "✔", NotMet: "✘", NotJudged: "○"}

type page struct {
	Started, Elapsed string
	Machine          Machine
	Verdicts         []verdictCount
	Sections         []pageSection
}

type verdictCount struct {
	Class, Mark string
	Verdict     Verdict
	N           int
}

type pageSection struct {
	Name     string
	Verdicts []verdictCount
	Rows     []pageRow
	Notes    []string
	Charts   []pageChart
}

type pageRow struct {
	Case, Ours, RefName, Ref, Ratio, Target, Note string
	Class, Mark                                   string // the verdict's class and mark; "" without a target
	Verdict                                       Verdict
}

type pageChart struct {
	Title, File string
	SVG         template.HTML
}

func newPage(rep *Report) page {
	p := page{Started: rep.Started, Machine: rep.Machine}
	if t, err := time.Parse(time.RFC3339, rep.Started); err == nil {
		p.Started = t.UTC().Format("2006-01-02 15:04 MST")
	}
	if rep.Elapsed > 0 {
		p.Elapsed = time.Duration(rep.Elapsed * float64(time.Second)).Round(time.Second).String()
	}
	total := map[Verdict]int{}
	for _, s := range rep.Sections {
		ps := pageSection{Name: s.Experiment, Notes: s.Notes}
		own := map[Verdict]int{}
		for _, r := range s.Rows {
			pr := newPageRow(r)
			if r.Target != nil {
				own[r.Target.Verdict]++
				total[r.Target.Verdict]++
			}
			ps.Rows = append(ps.Rows, pr)
		}
		ps.Verdicts = counts(own)
		for _, ch := range s.Charts {
			ps.Charts = append(ps.Charts, pageChart{Title: ch.Title, File: ch.File, SVG: inlineSVG(ch)})
		}
		p.Sections = append(p.Sections, ps)
	}
	p.Verdicts = counts(total)
	return p
}

func newPageRow(r Row) pageRow {
	pr := pageRow{Case: r.Case, Ours: "–", RefName: r.RefName, Ref: "–", Ratio: "–", Note: r.RefNote}
	if r.Ours != 0 {
		pr.Ours = Figure(r.Ours, r.Unit)
	}
	if r.Ref != 0 {
		pr.Ref = Figure(r.Ref, r.Unit)
	}
	if r.Ratio != 0 {
		pr.Ratio = fmt.Sprintf("%.2fx", r.Ratio)
	}
	if t := r.Target; t != nil {
		pr.Target = fmt.Sprintf("≥ %gx", t.MinRatio)
		pr.Verdict, pr.Mark, pr.Class = t.Verdict, marks[t.Verdict], verdictClass(t.Verdict)
	}
	return pr
}

// counts lists the verdicts that occur, in a fixed order.
func counts(n map[Verdict]int) []verdictCount {
	var vs []verdictCount
	for _, v := range []Verdict{Met, NotMet, NotJudged} {
		if n[v] > 0 {
			vs = append(vs, verdictCount{Class: verdictClass(v), Mark: marks[v], Verdict: v, N: n[v]})
		}
	}
	return vs
}

func verdictClass(v Verdict) string { return strings.ReplaceAll(string(v), " ", "") }

// inlineSVG is a chart as an element of the page: its SVG document
// without the XML declaration, which only a document may carry.
func inlineSVG(ch chart.Chart) template.HTML {
	svg := string(chart.SVG(ch))
	if strings.HasPrefix(svg, "<?xml") {
		if _, rest, ok := strings.Cut(svg, "?>"); ok {
			svg = strings.TrimLeft(rest, "\n")
		}
	}
	return template.HTML(svg) // drawn by package chart, which escapes every text it is given
}

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>epollbench report, {{.Started}}</title>
<style>
body { font: 14px/1.45 "DejaVu Sans", "Liberation Sans", system-ui, sans-serif; color: #222; margin: 1.5em auto; max-width: 1500px; padding: 0 1.2em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; border-bottom: 2px solid #bbb; margin-top: 2.2em; padding-bottom: 0.15em; }
table { border-collapse: collapse; }
.rows { width: 100%; font-variant-numeric: tabular-nums; }
.rows th, .rows td { padding: 3px 9px; border-bottom: 1px solid #e2e2e2; text-align: left; vertical-align: top; }
.rows thead th { position: sticky; top: 0; background: #eef0f3; border-bottom: 2px solid #999; }
.rows tbody tr:nth-child(even) { background: #f8f8f8; }
.rows td.num { text-align: right; white-space: nowrap; }
.rows td.case { font-family: "DejaVu Sans Mono", monospace; font-size: 0.93em; }
.rows td.note { color: #555; font-size: 0.93em; max-width: 34em; }
.verdict { white-space: nowrap; font-weight: bold; }
.mark { display: inline-block; width: 1.2em; text-align: center; font-size: 1.1em; }
.met .mark { color: #0072b2; }
.notmet .mark { color: #d55e00; }
.verdict.notjudged { color: #555; font-weight: normal; }
.rows tbody tr.notmet { background: #fbeee4; }
.machine th { text-align: left; padding: 1px 14px 1px 0; color: #555; font-weight: normal; }
.machine td { padding: 1px 0; }
.summary { font-size: 1.05em; }
.summary .verdict { margin-right: 1.6em; }
.notes li { margin: 0.15em 0; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(780px, 1fr)); gap: 1.2em; }
figure { margin: 0; }
figure svg { width: 100%; height: auto; max-width: 960px; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 0.9em; }
nav a { margin-right: 1em; }
</style>
</head>
<body>
<h1>epollbench report</h1>
<table class="machine">
<tr><th>date</th><td>{{.Started}}{{if .Elapsed}} (the experiments took {{.Elapsed}}){{end}}</td></tr>
<tr><th>kernel</th><td>{{.Machine.Kernel}}</td></tr>
<tr><th>CPU</th><td>{{or .Machine.Model "unknown"}}</td></tr>
<tr><th>cores</th><td>{{.Machine.CPUs}}</td></tr>
<tr><th>Go</th><td>{{.Machine.Go}}</td></tr>
<tr><th>perf</th><td>{{or .Machine.Perf "not installed"}}</td></tr>
</table>
<p class="summary">Targets: {{range .Verdicts}}<span class="verdict {{.Class}}"><span class="mark">{{.Mark}}</span> {{.N}} {{.Verdict}}</span>{{else}}none in this report{{end}}</p>
<p>Each row is one of our figures beside a reference. Ratio is ours/reference (reference/ours for
lower-is-better units such as latencies and memory), so above 1 means ours is ahead. A target is
the ratio a row must reach: <span class="verdict met"><span class="mark">✔</span> met</span>,
<span class="verdict notmet"><span class="mark">✘</span> not met</span>,
<span class="verdict notjudged"><span class="mark">○</span> not judged</span> (no ratio: the note says why).
A dash is a figure not measured.</p>
<nav>{{range .Sections}}<a href="#{{.Name}}">{{.Name}}</a>{{end}}</nav>
{{range .Sections}}
<section id="{{.Name}}">
<h2>{{.Name}}</h2>
{{if .Verdicts}}<p class="summary">{{range .Verdicts}}<span class="verdict {{.Class}}"><span class="mark">{{.Mark}}</span> {{.N}} {{.Verdict}}</span>{{end}}</p>{{end}}
<table class="rows">
<thead><tr><th>case</th><th>ours</th><th>reference</th><th>ref</th><th>ratio</th><th>target</th><th>verdict</th><th>note</th></tr></thead>
<tbody>
{{range .Rows}}<tr class="{{.Class}}"><td class="case">{{.Case}}</td><td class="num">{{.Ours}}</td><td>{{.RefName}}</td><td class="num">{{.Ref}}</td><td class="num">{{.Ratio}}</td><td class="num">{{.Target}}</td><td class="verdict {{.Class}}">{{if .Mark}}<span class="mark">{{.Mark}}</span> {{.Verdict}}{{end}}</td><td class="note">{{.Note}}</td></tr>
{{end}}</tbody>
</table>
{{if .Notes}}<ul class="notes">
{{range .Notes}}<li>{{.}}</li>
{{end}}</ul>{{end}}
{{if .Charts}}<div class="charts">
{{range .Charts}}<figure>{{.SVG}}<figcaption>{{.File}}</figcaption></figure>
{{end}}</div>{{end}}
</section>
{{end}}
</body>
</html>
`))
