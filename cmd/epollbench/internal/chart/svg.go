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

// SVG draws ch as a standalone SVG document: for a line chart each
// series becomes one <polyline> (with a marker per point), for a bar chart
// one <rect class="bar"> per measured value; each series has one legend
// entry. Values a log axis cannot show (zero, negative) are left out of
// their series.
func SVG(ch Chart) []byte {
	var ys []float64
	for _, s := range ch.Series {
		ys = append(ys, s.Y...)
	}
	for _, l := range ch.Lines {
		ys = append(ys, l.Y)
	}
	c := &canvas{}
	if len(ch.Categories) > 0 {
		c.ay = newAxis(append(ys, 0), false)
		c.frame(ch, nil)
		c.bars(ch)
	} else {
		var xs []float64
		for _, s := range ch.Series {
			xs = append(xs, s.X...)
		}
		c.ax, c.ay = newAxis(xs, ch.LogX), newAxis(ys, ch.LogY)
		c.frame(ch, c.ax.ticks())
		c.lines(ch)
	}
	c.refLines(ch.Lines)
	c.f("</svg>\n")
	return []byte(c.b.String())
}

// canvas is an SVG document being drawn, with its axes.
type canvas struct {
	b      strings.Builder
	ax, ay axis
}

func (c *canvas) f(format string, args ...any) { fmt.Fprintf(&c.b, format, args...) }

func (c *canvas) px(v float64) float64 { return left + c.ax.frac(v)*plotW }
func (c *canvas) py(v float64) float64 { return top + (1-c.ay.frac(v))*plotH }

// frame draws the header, the title, the grid (vertical lines at xTicks),
// the plot's border, the tick labels and the axis labels.
func (c *canvas) frame(ch Chart, xTicks []float64) {
	c.f(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	c.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	c.f(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	c.f(`<text x="%d" y="28" font-size="15" font-weight="bold">%s</text>`+"\n", left, escape(ch.Title))
	c.f(`<g stroke="#e0e0e0" stroke-width="1">` + "\n")
	for _, t := range xTicks {
		c.f(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>`+"\n", c.px(t), top, c.px(t), top+plotH)
	}
	for _, t := range c.ay.ticks() {
		c.f(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`+"\n", left, c.py(t), left+plotW, c.py(t))
	}
	c.f("</g>\n")
	c.f(`<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", left, top, plotW, plotH)
	for _, t := range xTicks {
		c.f(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", c.px(t), top+plotH+18, FormatSI(t))
	}
	for _, t := range c.ay.ticks() {
		c.f(`<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, c.py(t)+4, FormatSI(t))
	}
	xl, yl := ch.XLabel, ch.YLabel
	if c.ax.log {
		xl += " (log)"
	}
	if c.ay.log {
		yl += " (log)"
	}
	c.f(`<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", left+plotW/2, height-12, escape(xl))
	c.f(`<text x="20" y="%d" text-anchor="middle" transform="rotate(-90 20 %d)">%s</text>`+"\n",
		top+plotH/2, top+plotH/2, escape(yl))
}

// color is the colour of series i of ch.
func color(ch Chart, i int) string {
	if c := ch.Series[i].Color; c != "" {
		return c
	}
	return Color(i)
}

// legend draws series i's entry: a swatch in its colour and its name.
func (c *canvas) legend(i int, name, color string, bar bool) {
	ly := top + 10 + i*20
	lx := left + plotW + 15
	if bar {
		c.f(`<rect x="%d" y="%d" width="24" height="10" fill="%s"/>`+"\n", lx, ly-5, color)
	} else {
		c.f(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>`+"\n", lx, ly, lx+24, ly, color)
	}
	c.f(`<text x="%d" y="%d">%s</text>`+"\n", lx+30, ly+4, escape(name))
}

// lines draws each series as a polyline with a marker per point.
func (c *canvas) lines(ch Chart) {
	for i, s := range ch.Series {
		color := color(ch, i)
		var pts []string
		for j := range min(len(s.X), len(s.Y)) {
			if c.ax.usable(s.X[j]) && c.ay.usable(s.Y[j]) {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", c.px(s.X[j]), c.py(s.Y[j])))
			}
		}
		c.f(`<g class="series">` + "\n")
		c.f(`<title>%s</title>`+"\n", escape(s.Name))
		c.f(`<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, strings.Join(pts, " "))
		for _, p := range pts {
			x, y, _ := strings.Cut(p, ",")
			c.f(`<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", x, y, color)
		}
		c.f("</g>\n")
		c.legend(i, s.Name, color, false)
	}
}

// bars draws a group of bars per category, the series side by side in
// legend order, and the categories' labels under the plot.
func (c *canvas) bars(ch Chart) {
	n := max(1, len(ch.Series))
	groupW := float64(plotW) / float64(len(ch.Categories))
	barW := groupW * 0.8 / float64(n)
	for i, s := range ch.Series {
		c.f(`<g class="series">` + "\n")
		c.f(`<title>%s</title>`+"\n", escape(s.Name))
		for j, v := range s.Y {
			if j >= len(ch.Categories) || !(v > 0) || math.IsInf(v, 0) {
				continue
			}
			x := left + float64(j)*groupW + groupW*0.1 + float64(i)*barW
			y := c.py(v)
			c.f(`<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s</title></rect>`+"\n",
				x, y, barW, top+plotH-y, color(ch, i), escape(s.Name), FormatSI(v))
		}
		c.f("</g>\n")
		c.legend(i, s.Name, color(ch, i), true)
	}
	for j, name := range ch.Categories {
		x := left + (float64(j)+0.5)*groupW
		c.f(`<text x="%.1f" y="%d" text-anchor="middle">`, x, top+plotH+18)
		for k, line := range strings.Split(name, "\n") {
			c.f(`<tspan x="%.1f" dy="%d">%s</tspan>`, x, min(k, 1)*14, escape(line))
		}
		c.f("</text>\n")
	}
}

// refLines draws the horizontal reference lines, dashed, labelled at the
// right end of the plot.
func (c *canvas) refLines(ls []Line) {
	for _, l := range ls {
		if !c.ay.usable(l.Y) {
			continue
		}
		y := c.py(l.Y)
		c.f(`<line class="ref" x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#333" stroke-width="1.5" stroke-dasharray="6 4"/>`+"\n",
			left, y, left+plotW, y)
		// A white halo keeps the label readable over a bar.
		c.f(`<text x="%d" y="%.1f" text-anchor="end" font-size="11" stroke="white" stroke-width="3" paint-order="stroke">%s</text>`+"\n",
			left+plotW-4, y-4, escape(l.Label))
	}
}
