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
}

// Chart is one figure, written as an SVG file beside the report.
type Chart struct {
	File   string   `json:"file"` // base name without directory, e.g. "pipetest.svg"
	Title  string   `json:"title"`
	XLabel string   `json:"x_label"`
	YLabel string   `json:"y_label"`
	LogX   bool     `json:"log_x"`
	LogY   bool     `json:"log_y"`
	Series []Series `json:"series"`
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
