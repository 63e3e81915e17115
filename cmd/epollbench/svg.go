package main

// Charts as SVG, written by hand: a line per series, optional log axes,
// axis labels, a legend. Enough to see a curve's shape in a browser or a
// pull request; not a plotting library.

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

const (
	svgWidth   = 860
	svgHeight  = 500
	svgLeft    = 90  // room for y tick labels and the y label
	svgRight   = 250 // room for the legend
	svgTop     = 50  // the title
	svgBottom  = 70  // x tick labels and the x label
	svgPlotW   = svgWidth - svgLeft - svgRight
	svgPlotH   = svgHeight - svgTop - svgBottom
	svgMaxTick = 12
)

// svgColors are distinguishable on white and in grey print.
var svgColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"}

// svgAxis maps data values to a pixel range.
type svgAxis struct {
	log    bool
	lo, hi float64 // in data units (log axes: positive)
}

func (a svgAxis) frac(v float64) float64 {
	if a.log {
		return (math.Log10(v) - math.Log10(a.lo)) / (math.Log10(a.hi) - math.Log10(a.lo))
	}
	return (v - a.lo) / (a.hi - a.lo)
}

// usable reports whether v can be drawn on the axis (log axes take
// positive values only).
func (a svgAxis) usable(v float64) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return false
	}
	return !a.log || v > 0
}

// newSVGAxis fits an axis to vals: log axes to whole decades, linear axes
// to round numbers, from zero when all values are positive.
func newSVGAxis(vals []float64, log bool) svgAxis {
	a := svgAxis{log: log}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		if a.usable(v) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if math.IsInf(lo, 1) { // nothing to draw
		if log {
			return svgAxis{log: true, lo: 1, hi: 10}
		}
		return svgAxis{lo: 0, hi: 1}
	}
	if log {
		// A quarter of headroom, so that a curve just under a decade does
		// not run along the frame.
		a.lo = math.Pow(10, math.Floor(math.Log10(lo/1.25)))
		a.hi = math.Pow(10, math.Ceil(math.Log10(hi*1.25)))
		if a.hi <= a.lo {
			a.hi = a.lo * 10
		}
		return a
	}
	if lo > 0 {
		lo = 0
	}
	if hi <= lo {
		hi = lo + 1
	}
	step := svgNiceStep((hi - lo) / 5)
	a.lo = math.Floor(lo/step) * step
	a.hi = math.Ceil(hi/step) * step
	return a
}

func svgNiceStep(raw float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// ticks returns the values to label: every decade (and 2, 5 between when
// the axis spans one or two decades) on log axes, round steps otherwise.
func (a svgAxis) ticks() []float64 {
	var ts []float64
	if a.log {
		decades := math.Round(math.Log10(a.hi / a.lo))
		stride := math.Max(1, math.Ceil(decades/svgMaxTick))
		for e := math.Log10(a.lo); e <= math.Log10(a.hi)+1e-9; e += stride {
			d := math.Pow(10, e)
			ts = append(ts, d)
			if decades <= 2 {
				for _, m := range []float64{2, 5} {
					if m*d < a.hi*(1-1e-9) {
						ts = append(ts, m*d)
					}
				}
			}
		}
		sort.Float64s(ts)
		return ts
	}
	step := svgNiceStep((a.hi - a.lo) / 5)
	for v := a.lo; v <= a.hi+step*1e-9; v += step {
		ts = append(ts, v)
	}
	return ts
}

// formatSI writes v compactly: 263416 as "263k", 0.95 as "0.95".
func formatSI(v float64) string {
	av := math.Abs(v)
	for _, u := range []struct {
		div float64
		sfx string
	}{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if av >= u.div {
			return strconv.FormatFloat(v/u.div, 'g', 3, 64) + u.sfx
		}
	}
	if av == 0 {
		return "0"
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func svgEscape(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// renderSVG draws ch. Each series becomes one <polyline> (with a marker
// per point) and one legend entry; values a log axis cannot show (zero,
// negative) are left out of their series.
func renderSVG(ch Chart) []byte {
	var xs, ys []float64
	for _, s := range ch.Series {
		xs = append(xs, s.X...)
		ys = append(ys, s.Y...)
	}
	ax, ay := newSVGAxis(xs, ch.LogX), newSVGAxis(ys, ch.LogY)
	px := func(v float64) float64 { return svgLeft + ax.frac(v)*svgPlotW }
	py := func(v float64) float64 { return svgTop + (1-ay.frac(v))*svgPlotH }

	var b strings.Builder
	f := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	f(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	f(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, svgHeight, svgWidth, svgHeight)
	f(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	f(`<text x="%d" y="28" font-size="15" font-weight="bold">%s</text>`+"\n", svgLeft, svgEscape(ch.Title))

	// Grid and ticks.
	f(`<g stroke="#e0e0e0" stroke-width="1">` + "\n")
	for _, t := range ax.ticks() {
		f(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>`+"\n", px(t), svgTop, px(t), svgTop+svgPlotH)
	}
	for _, t := range ay.ticks() {
		f(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`+"\n", svgLeft, py(t), svgLeft+svgPlotW, py(t))
	}
	f("</g>\n")
	f(`<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", svgLeft, svgTop, svgPlotW, svgPlotH)
	for _, t := range ax.ticks() {
		f(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", px(t), svgTop+svgPlotH+18, formatSI(t))
	}
	for _, t := range ay.ticks() {
		f(`<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", svgLeft-6, py(t)+4, formatSI(t))
	}
	xl, yl := ch.XLabel, ch.YLabel
	if ch.LogX {
		xl += " (log)"
	}
	if ch.LogY {
		yl += " (log)"
	}
	f(`<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", svgLeft+svgPlotW/2, svgHeight-20, svgEscape(xl))
	f(`<text x="20" y="%d" text-anchor="middle" transform="rotate(-90 20 %d)">%s</text>`+"\n",
		svgTop+svgPlotH/2, svgTop+svgPlotH/2, svgEscape(yl))

	// Series and legend.
	for i, s := range ch.Series {
		color := svgColors[i%len(svgColors)]
		var pts []string
		for j := range min(len(s.X), len(s.Y)) {
			if ax.usable(s.X[j]) && ay.usable(s.Y[j]) {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(s.X[j]), py(s.Y[j])))
			}
		}
		f(`<g class="series">` + "\n")
		f(`<title>%s</title>`+"\n", svgEscape(s.Name))
		f(`<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, strings.Join(pts, " "))
		for _, p := range pts {
			x, y, _ := strings.Cut(p, ",")
			f(`<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", x, y, color)
		}
		f("</g>\n")
		ly := svgTop + 10 + i*20
		lx := svgLeft + svgPlotW + 15
		f(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>`+"\n", lx, ly, lx+24, ly, color)
		f(`<text x="%d" y="%d">%s</text>`+"\n", lx+30, ly+4, svgEscape(s.Name))
	}
	f("</svg>\n")
	return []byte(b.String())
}

// sortSeries orders a series' points by x, so that its line reads left to
// right.
func sortSeries(s *Series) {
	idx := make([]int, min(len(s.X), len(s.Y)))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return s.X[idx[a]] < s.X[idx[b]] })
	x, y := make([]float64, len(idx)), make([]float64, len(idx))
	for i, j := range idx {
		x[i], y[i] = s.X[j], s.Y[j]
	}
	s.X, s.Y = x, y
}
