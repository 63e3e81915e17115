package chart

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
)

// svgElements parses b as XML (failing the test if it is not well-formed)
// and counts its elements by name; texts collects the character data.
func svgElements(t *testing.T, b []byte) (counts map[string]int, texts string) {
	t.Helper()
	counts = map[string]int{}
	var sb strings.Builder
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, b)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			counts[tok.Name.Local]++
		case xml.CharData:
			sb.Write(tok)
			sb.WriteByte('\n')
		}
	}
	return counts, sb.String()
}

func TestSVGHasOneLinePerSeriesAndIsWellFormed(t *testing.T) {
	for _, logAxes := range []bool{true, false} {
		ch := Chart{
			File: "t.svg", Title: `ops/s <for> "you" & me`, XLabel: "fds", YLabel: "ops/s",
			LogX: logAxes, LogY: logAxes,
			Series: []Series{
				{Name: "Go", X: []float64{1, 10, 100, 1000}, Y: []float64{7e5, 6e5, 5e5, 2e5}},
				{Name: "C <perf>", X: []float64{1, 1000}, Y: []float64{6.8e5, 2.1e5}},
				// A zero cannot go on a log axis; the series stays, the point goes.
				{Name: "with zero", X: []float64{1, 10}, Y: []float64{0, 3e5}},
			},
		}
		counts, texts := svgElements(t, SVG(ch))
		if counts["svg"] != 1 {
			t.Errorf("log=%v: %d <svg> roots", logAxes, counts["svg"])
		}
		if counts["polyline"] != len(ch.Series) {
			t.Errorf("log=%v: %d polylines for %d series", logAxes, counts["polyline"], len(ch.Series))
		}
		for _, want := range []string{ch.Title, "C <perf>", "with zero", "fds", "ops/s"} {
			if !strings.Contains(texts, want) {
				t.Errorf("log=%v: text %q missing from the SVG", logAxes, want)
			}
		}
		wantPoints := 4 + 2 + 2
		if logAxes {
			wantPoints = 4 + 2 + 1
		}
		if counts["circle"] != wantPoints {
			t.Errorf("log=%v: %d point markers, want %d", logAxes, counts["circle"], wantPoints)
		}
	}
}

func TestSVGOfAnEmptyChartIsStillWellFormed(t *testing.T) {
	counts, _ := svgElements(t, SVG(Chart{Title: "nothing", LogX: true, LogY: true}))
	if counts["svg"] != 1 || counts["polyline"] != 0 {
		t.Errorf("counts %v", counts)
	}
}

func TestLogAxisSpansWholeDecades(t *testing.T) {
	a := newAxis([]float64{8, 1024, 0, -1}, true)
	if a.lo != 1 || a.hi != 10000 {
		t.Errorf("axis [%v, %v], want [1, 10000]", a.lo, a.hi)
	}
	if b := newAxis([]float64{980e3, 990e3}, true); b.lo != 1e5 || b.hi != 1e7 {
		t.Errorf("values just under a decade: axis [%v, %v], want headroom [1e5, 1e7]", b.lo, b.hi)
	}
	ticks := a.ticks()
	if len(ticks) != 5 || ticks[0] != 1 || ticks[4] != 10000 {
		t.Errorf("ticks %v", ticks)
	}
	if got := FormatSI(263416); got != "263k" {
		t.Errorf("FormatSI(263416) = %q", got)
	}
}

func TestBarChartDrawsABarPerMeasuredValueAndLabelsEveryCategory(t *testing.T) {
	ch := Chart{
		File: "b.svg", Title: "bars", XLabel: "case", YLabel: "x best",
		Categories: []string{"echo 64B\nloops=1", "echo 64B\nloops=all", "http"},
		Series: []Series{
			{Name: "gnet", Y: []float64{1, 0.9, 1}, Color: "#123456"},
			{Name: "c", Y: []float64{1.2, 0, math.NaN()}}, // not measured in two categories
		},
		Lines: []Line{{Y: 1.1, Label: "target 1.1x"}},
	}
	counts, texts := svgElements(t, SVG(ch))
	if counts["polyline"] != 0 || counts["svg"] != 1 {
		t.Errorf("counts %v: a bar chart draws no lines", counts)
	}
	bars := strings.Count(string(SVG(ch)), `class="bar"`)
	if bars != 4 {
		t.Errorf("%d bars, want 4: one per measured value", bars)
	}
	for _, want := range []string{"echo 64B", "loops=1", "loops=all", "http", "gnet", "target 1.1x", "c: 1.2"} {
		if !strings.Contains(texts, want) {
			t.Errorf("text %q missing from the SVG", want)
		}
	}
	if n := strings.Count(string(SVG(ch)), `fill="#123456"`); n != 4 {
		t.Errorf("the series' own colour is used %d times, want 4: its three bars and its legend", n)
	}
	if n := strings.Count(string(SVG(ch)), `class="ref"`); n != 1 {
		t.Errorf("%d reference lines, want 1", n)
	}
}

func TestBarLeavesOutWhatWasNotMeasured(t *testing.T) {
	ch := Chart{Categories: []string{"a", "b", "c"}}
	vals := map[int]float64{0: 5, 1: 0, 2: math.Inf(1)}
	if s := Bar(&ch, "some", func(i int) float64 { return vals[i] }); s == nil || s.Name != "some" {
		t.Errorf("Bar returned %+v, want the series it added", s)
	}
	if s := Bar(&ch, "none", func(int) float64 { return 0 }); s != nil {
		t.Errorf("Bar returned %+v for a series it left out", s)
	}
	want := []Series{{Name: "some", Y: []float64{5, 0, 0}}}
	if !reflect.DeepEqual(ch.Series, want) {
		t.Errorf("series %+v, want %+v", ch.Series, want)
	}
}
