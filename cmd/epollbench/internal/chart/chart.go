// Package chart holds the figures of epollbench's reports and draws them
// as SVG: a line per series, optional log axes, axis labels, a legend.
// Enough to see a curve's shape in a browser or a pull request; not a
// plotting library.
package chart

import (
	"math"
	"sort"
)

// Series is one curve of a chart.
type Series struct {
	Name string    `json:"name"`
	X    []float64 `json:"x"`
	Y    []float64 `json:"y"`
	// Color is the series' colour ("#1f77b4"), so that one thing keeps
	// one colour across charts; "" takes the palette's colour for the
	// series' place in the chart.
	Color string `json:"color,omitempty"`
}

// Color is the palette's i-th colour, for Series.Color.
func Color(i int) string { return colors[i%len(colors)] }

// Chart is one figure, written as an SVG file beside the report: a line
// per series over a numeric x axis, or, when Categories is set, a group of
// bars per category.
type Chart struct {
	File   string   `json:"file"` // base name without directory, e.g. "pipetest.svg"
	Title  string   `json:"title"`
	XLabel string   `json:"x_label"`
	YLabel string   `json:"y_label"`
	LogX   bool     `json:"log_x"`
	LogY   bool     `json:"log_y"`
	Series []Series `json:"series"`
	// Categories make a bar chart: along x one group per category (a
	// "\n" in a name breaks its label), in each group one bar per series,
	// Series.Y[i] being the bar of category i and Series.X unused. A value
	// that is not a positive finite figure draws no bar. Bars stand on a
	// linear axis from zero: LogX and LogY are ignored.
	Categories []string `json:"categories,omitempty"`
	// Lines are horizontal reference lines: a target, a reference's level.
	Lines []Line `json:"lines,omitempty"`
}

// Line is a horizontal line across the plot at Y, labelled.
type Line struct {
	Y     float64 `json:"y"`
	Label string  `json:"label"`
}

// Bar appends to ch, a bar chart, the series name with one value per
// category, value(category) giving it (0 where nothing was measured), and
// returns it; a series with no measured value is left out, and Bar
// returns nil.
func Bar(ch *Chart, name string, value func(category int) float64) *Series {
	s := Series{Name: name, Y: make([]float64, len(ch.Categories))}
	measured := false
	for i := range ch.Categories {
		v := value(i)
		if v > 0 && !math.IsInf(v, 0) {
			s.Y[i] = v
			measured = true
		}
	}
	if !measured {
		return nil
	}
	ch.Series = append(ch.Series, s)
	return &ch.Series[len(ch.Series)-1]
}

// Curve appends to ch the measured curve name: one point per item, at the
// x and y that point gives, ordered by x. A point whose y is not a
// measured figure (zero, negative, NaN, infinite: a mechanism skipped or
// not run there) is left out, and so is a curve left with no point, so
// that what was not measured draws nothing.
func Curve[T any](ch *Chart, name string, items []T, point func(T) (x, y float64)) {
	s := Series{Name: name}
	for _, it := range items {
		x, y := point(it)
		if y > 0 && !math.IsInf(y, 0) && !math.IsNaN(x) {
			s.X = append(s.X, x)
			s.Y = append(s.Y, y)
		}
	}
	if len(s.X) == 0 {
		return
	}
	sortByX(&s)
	ch.Series = append(ch.Series, s)
}

// sortByX orders a series' points by x, so that its line reads left to
// right.
func sortByX(s *Series) {
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
