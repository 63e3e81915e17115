package chart

import (
	"math"
	"reflect"
	"testing"
)

func TestCurveKeepsMeasuredPointsInOrderOfX(t *testing.T) {
	var ch Chart
	rates := map[int]float64{1000: 3, 10: 1, 100: 0, 50: math.Inf(1), 20: 2}
	Curve(&ch, "epoll", []int{1000, 10, 100, 50, 20}, func(n int) (float64, float64) { return float64(n), rates[n] })
	want := []Series{{Name: "epoll", X: []float64{10, 20, 1000}, Y: []float64{1, 2, 3}}}
	if !reflect.DeepEqual(ch.Series, want) {
		t.Errorf("series %+v, want %+v: unmeasured points dropped, the rest ordered by x", ch.Series, want)
	}
}

func TestCurveWithNothingMeasuredDrawsNothing(t *testing.T) {
	var ch Chart
	Curve(&ch, "skipped", []int{1, 2}, func(int) (float64, float64) { return 1, 0 })
	if len(ch.Series) != 0 {
		t.Errorf("a curve with no measured point added %+v", ch.Series)
	}
}
