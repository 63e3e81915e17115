package chart

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
	width    = 860
	height   = 500
	left     = 90  // room for y tick labels and the y label
	right    = 250 // room for the legend
	top      = 50  // the title
	bottom   = 70  // x tick labels and the x label
	plotW    = width - left - right
	plotH    = height - top - bottom
	maxTicks = 12
)

// colors are distinguishable on white and in grey print.
var colors = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"}

// axis maps data values to a pixel range.
type axis struct {
	log    bool
	lo, hi float64 // in data units (log axes: positive)
}

func (a axis) frac(v float64) float64 {
	if a.log {
		return (math.Log10(v) - math.Log10(a.lo)) / (math.Log10(a.hi) - math.Log10(a.lo))
	}
	return (v - a.lo) / (a.hi - a.lo)
}

// usable reports whether v can be drawn on the axis (log axes take
// positive values only).
func (a axis) usable(v float64) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return false
	}
	return !a.log || v > 0
}

// newAxis fits an axis to vals: log axes to whole decades, linear axes
// to round numbers, from zero when all values are positive.
func newAxis(vals []float64, log bool) axis {
	a := axis{log: log}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		if a.usable(v) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if math.IsInf(lo, 1) { // nothing to draw
		if log {
			return axis{log: true, lo: 1, hi: 10}
		}
		return axis{lo: 0, hi: 1}
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
	step := niceStep((hi - lo) / 5)
	a.lo = math.Floor(lo/step) * step
	a.hi = math.Ceil(hi/step) * step
	return a
}

func niceStep(raw float64) float64 {
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
func (a axis) ticks() []float64 {
	var ts []float64
	if a.log {
		decades := math.Round(math.Log10(a.hi / a.lo))
		stride := math.Max(1, math.Ceil(decades/maxTicks))
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
	step := niceStep((a.hi - a.lo) / 5)
	for v := a.lo; v <= a.hi+step*1e-9; v += step {
		ts = append(ts, v)
	}
	return ts
}

// FormatSI writes v compactly: 263416 as "263k", 0.95 as "0.95".
func FormatSI(v float64) string {
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

func escape(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// SVG draws ch as a standalone SVG document. Each series becomes one <polyline> (with a marker
// per point) and one legend entry; values a log axis cannot show (zero,
// negative) are left out of their series.
func SVG(ch Chart) []byte {
	var xs, ys []float64
	for _, s := range ch.Series {
		xs = append(xs, s.X...)
		ys = append(ys, s.Y...)
	}
	ax, ay := newAxis(xs, ch.LogX), newAxis(ys, ch.LogY)
	px := func(v float64) float64 { return left + ax.frac(v)*plotW }
	py := func(v float64) float64 { return top + (1-ay.frac(v))*plotH }

	var b strings.Builder
	f := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	f(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	f(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	f(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	f(`<text x="%d" y="28" font-size="15" font-weight="bold">%s</text>`+"\n", left, escape(ch.Title))

	// Grid and ticks.
	f(`<g stroke="#e0e0e0" stroke-width="1">` + "\n")
	for _, t := range ax.ticks() {
		f(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>`+"\n", px(t), top, px(t), top+plotH)
	}
	for _, t := range ay.ticks() {
		f(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`+"\n", left, py(t), left+plotW, py(t))
	}
	f("</g>\n")
	f(`<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", left, top, plotW, plotH)
	for _, t := range ax.ticks() {
		f(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", px(t), top+plotH+18, FormatSI(t))
	}
	for _, t := range ay.ticks() {
		f(`<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, py(t)+4, FormatSI(t))
	}
	xl, yl := ch.XLabel, ch.YLabel
	if ch.LogX {
		xl += " (log)"
	}
	if ch.LogY {
		yl += " (log)"
	}
	f(`<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", left+plotW/2, height-20, escape(xl))
	f(`<text x="20" y="%d" text-anchor="middle" transform="rotate(-90 20 %d)">%s</text>`+"\n",
		top+plotH/2, top+plotH/2, escape(yl))

	// Series and legend.
	for i, s := range ch.Series {
		color := colors[i%len(colors)]
		var pts []string
		for j := range min(len(s.X), len(s.Y)) {
			if ax.usable(s.X[j]) && ay.usable(s.Y[j]) {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(s.X[j]), py(s.Y[j])))
			}
		}
		f(`<g class="series">` + "\n")
		f(`<title>%s</title>`+"\n", escape(s.Name))
		f(`<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, strings.Join(pts, " "))
		for _, p := range pts {
			x, y, _ := strings.Cut(p, ",")
			f(`<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", x, y, color)
		}
		f("</g>\n")
		ly := top + 10 + i*20
		lx := left + plotW + 15
		f(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>`+"\n", lx, ly, lx+24, ly, color)
		f(`<text x="%d" y="%d">%s</text>`+"\n", lx+30, ly+4, escape(s.Name))
	}
	f("</svg>\n")
	return []byte(b.String())
}
