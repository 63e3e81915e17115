package load

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogramQuantileIsWithinOneBucketAboveTheExactValue(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	vals := make([]time.Duration, 100000)
	for i := range vals {
		// log-uniform from 1 ns to ~1 s, the span latencies take
		vals[i] = time.Duration(math.Exp2(r.Float64() * 30))
		h.Record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 1} {
		exact := vals[int(q*float64(len(vals))+0.999999)-1]
		got := h.Quantile(q)
		if got < exact || float64(got-exact) > float64(exact)/subBuckets {
			t.Errorf("Quantile(%v) = %v, exact %v: outside [exact, exact*(1+1/%d)]", q, got, exact, subBuckets)
		}
	}
	if h.Count() != uint64(len(vals)) || h.Min() != vals[0] || h.Max() != vals[len(vals)-1] {
		t.Errorf("count/min/max = %d/%v/%v, want %d/%v/%v", h.Count(), h.Min(), h.Max(), len(vals), vals[0], vals[len(vals)-1])
	}
}

func TestHistogramSmallValuesAreExact(t *testing.T) {
	var h Histogram
	for v := range 128 {
		h.Record(time.Duration(v))
	}
	for v := range 128 {
		if got := h.Quantile(float64(v+1) / 128); got != time.Duration(v) {
			t.Fatalf("Quantile(%d/128) = %v, want %dns", v+1, got, v)
		}
	}
}

func TestHistogramBucketsTileTheRange(t *testing.T) {
	// Every value lands in a bucket whose range holds it, and consecutive
	// buckets leave no gap: the bucket after v's highest value starts at
	// highest+1.
	for _, v := range []int64{0, 1, 127, 128, 129, 255, 256, 257, 1000, 1 << 20, 1<<20 + 12345, 1<<40 - 1, 1 << 62} {
		g, b := locate(v)
		hi := highest(g, b)
		if v > hi {
			t.Errorf("value %d in group %d bucket %d whose highest is %d", v, g, b, hi)
		}
		g2, b2 := locate(hi + 1)
		if (g2 == g && b2 != b+1) || (g2 != g && (g2 != g+1 || b2 != 0)) {
			t.Errorf("after %d (group %d bucket %d) comes group %d bucket %d", hi, g, b, g2, b2)
		}
	}
}

func TestHistogramMergeEqualsRecordingEverything(t *testing.T) {
	var a, b, all Histogram
	for i := range 5000 {
		d := time.Duration(i*i + 3)
		all.Record(d)
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	for _, q := range []float64{0.5, 0.99, 0.999, 1} {
		if a.Quantile(q) != all.Quantile(q) {
			t.Errorf("merged Quantile(%v) = %v, want %v", q, a.Quantile(q), all.Quantile(q))
		}
	}
	if a.Count() != all.Count() || a.Min() != all.Min() || a.Max() != all.Max() || a.Mean() != all.Mean() {
		t.Errorf("merged count/min/max/mean differ")
	}
}

func TestHistogramEmptyReportsZero(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Count() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram reports values")
	}
}

func TestHistogramRecordAllocatesOnlyANewGroup(t *testing.T) {
	var h Histogram
	h.Record(time.Microsecond)
	if n := testing.AllocsPerRun(1000, func() { h.Record(time.Microsecond + 7) }); n != 0 {
		t.Fatalf("Record allocates %v times per call in a known group", n)
	}
}
