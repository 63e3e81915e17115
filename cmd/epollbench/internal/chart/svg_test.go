package chart

import (
	"bytes"
	"encoding/xml"
	"io"
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
