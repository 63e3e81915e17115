package harness

import "math"

// MeanRelStddev computes what perf's util/stat.c prints: the mean, and the
// standard deviation of the mean (not of the sample) as a percentage of
// the mean, which is what "(+- x%)" means in perf's output.
func MeanRelStddev(xs []float64) (mean, relStddevPct float64) {
	n := float64(len(xs))
	if n == 0 {
		return 0, 0
	}
	var m2 float64
	for i, x := range xs {
		d := x - mean
		mean += d / float64(i+1)
		m2 += d * (x - mean)
	}
	if n < 2 || mean == 0 {
		return mean, 0
	}
	stddevMean := math.Sqrt(m2 / (n - 1) / n)
	return mean, 100 * stddevMean / mean
}

// Percentile returns the q-quantile of sorted by nearest rank, or the zero
// value when sorted is empty.
func Percentile[T any](sorted []T, q float64) T {
	var zero T
	if len(sorted) == 0 {
		return zero
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
