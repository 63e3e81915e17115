package harness

import (
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
	"time"
)

// perf's "+-" is the standard deviation of the mean relative to the mean;
// perf itself printed 294750 and 232083 as 263416, 11.90%.
func TestMeanRelStddevIsPerfsArithmetic(t *testing.T) {
	avg, rel := MeanRelStddev([]float64{294750, 232083})
	if math.Abs(avg-263416.5) > 0.01 || math.Abs(rel-11.90) > 0.005 {
		t.Errorf("MeanRelStddev = %v, %v; want 263416.5, 11.90", avg, rel)
	}
	if avg, rel := MeanRelStddev([]float64{5}); avg != 5 || rel != 0 {
		t.Errorf("one sample: %v, %v", avg, rel)
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	s := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5}, {0.99, 10}, {0.1, 1}, {0, 1}, {1, 10}} {
		if got := Percentile(s, c.q); got != c.want {
			t.Errorf("percentile %v = %v, want %v", c.q, got, c.want)
		}
	}
	if got := Percentile([]time.Duration(nil), 0.5); got != 0 {
		t.Errorf("percentile of nothing = %v, want 0", got)
	}
}

func TestAlternateRunsBothSidesInTurnAndKeepsTheBest(t *testing.T) {
	var order []string
	ours := func(rep int) (int, float64, error) {
		order = append(order, "ours")
		return rep, []float64{3, 5, 4}[rep], nil
	}
	refBroke := errors.New("perf broke")
	ref := func(rep int) (string, float64, error) {
		order = append(order, "ref")
		if rep == 1 {
			return "", 0, refBroke
		}
		return "c", 7, nil
	}
	o, r, refErr, err := Alternate(3, ours, ref)
	if err != nil || !errors.Is(refErr, refBroke) {
		t.Fatalf("err %v, refErr %v", err, refErr)
	}
	if want := []string{"ours", "ref", "ours", "ref", "ours"}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v: the reference stops at its failure, ours goes on", order, want)
	}
	if o.Run != 1 || o.Figure != 5 || !slices.Equal(o.All, []float64{3, 5, 4}) || r.Len() != 1 {
		t.Errorf("ours %+v, ref %+v", o, r)
	}
	oursBroke := errors.New("ours broke")
	_, _, _, err = Alternate(3, func(int) (int, float64, error) { return 0, 0, oursBroke }, ref)
	if !errors.Is(err, oursBroke) {
		t.Errorf("ours failing: %v", err)
	}
}

func TestListFlagsRefuseEmptyAndOutOfRangeItems(t *testing.T) {
	if got, err := Ints("n", " 10, 1_000 ,"); err != nil || !slices.Equal(got, []int{10, 1000}) {
		t.Errorf("Ints: %v, %v", got, err)
	}
	if got, err := Durations("req", "10us,3.1ms"); err != nil || got[1] != 3100*time.Microsecond {
		t.Errorf("Durations: %v, %v", got, err)
	}
	for _, bad := range []func() error{
		func() error { _, err := Ints("n", ",,"); return err },
		func() error { _, err := Ints("n", "0"); return err },
		func() error { _, err := Names("mech", "epoll,kqueue", []string{"epoll"}); return err },
		func() error { _, err := Durations("req", "-1ms"); return err },
	} {
		if bad() == nil {
			t.Error("a bad list was accepted")
		}
	}
}

// No worker's setup may fall into another's measured time: every prepare
// has returned before the clock starts and any work runs.
func TestStartRunsNoWorkBeforeEveryWorkerIsPrepared(t *testing.T) {
	var mu sync.Mutex
	var prepared, worked []time.Time
	clock, done := Start(3, time.Second,
		func(i int) {
			time.Sleep(time.Duration(i) * 20 * time.Millisecond)
			mu.Lock()
			prepared = append(prepared, time.Now())
			mu.Unlock()
		},
		func(i int, c *Clock) {
			mu.Lock()
			worked = append(worked, time.Now())
			mu.Unlock()
		})
	<-done
	if len(prepared) != 3 || len(worked) != 3 {
		t.Fatalf("%d prepared, %d worked, want 3 each", len(prepared), len(worked))
	}
	last := slices.MaxFunc(prepared, time.Time.Compare)
	if clock.Start.Before(last) {
		t.Errorf("the clock started %v before the last worker was prepared", last.Sub(clock.Start))
	}
	for _, w := range worked {
		if w.Before(clock.Start) {
			t.Errorf("a worker ran %v before the clock started", clock.Start.Sub(w))
		}
	}
}
