package harness

// Best is the best of repeated runs of one measurement, higher figures
// being better, with every run's figure beside it. On a shared machine
// interference only ever lowers a throughput, so the best run is the least
// disturbed one; the others stay in the JSON for a reader to judge the
// spread.
type Best[T any] struct {
	Run    T         // the run with the highest figure
	Figure float64   // its figure
	All    []float64 // every run's figure, in order
}

// Add records one run and its figure.
func (b *Best[T]) Add(run T, figure float64) {
	if len(b.All) == 0 || figure > b.Figure {
		b.Run, b.Figure = run, figure
	}
	b.All = append(b.All, figure)
}

// Len is the number of runs recorded.
func (b *Best[T]) Len() int { return len(b.All) }

// Alternate measures ours reps times and, when ref is not nil, the
// reference as often, alternating (ours, ref, ours, ref, ...) so that a
// burst of other work falls on both sides alike, and keeps the best of
// each. Each function gets the run's index and returns the run and its
// figure. An error of ours ends the measurement (err); an error of ref
// ends the reference side only (refErr) and ours runs on.
func Alternate[O, R any](reps int, ours func(rep int) (O, float64, error), ref func(rep int) (R, float64, error)) (o Best[O], r Best[R], refErr, err error) {
	for rep := 0; rep < reps; rep++ {
		run, fig, err := ours(rep)
		if err != nil {
			return o, r, refErr, err
		}
		o.Add(run, fig)
		if ref == nil || refErr != nil {
			continue
		}
		rrun, rfig, err := ref(rep)
		if err != nil {
			refErr = err
			continue
		}
		r.Add(rrun, rfig)
	}
	return o, r, refErr, nil
}
