package load

import (
	"math"
	"math/bits"
	"time"
)

// Histogram counts durations in log-linear buckets, as HdrHistogram does:
// every value below 128 ns has its own bucket, and each power of two above
// is cut into 128 equal buckets, so a reported quantile is at most 1/128
// (0.8%) above the value recorded. A group of 128 buckets is allocated when
// the first value falls in it, so a connection's histogram costs a few KiB.
// The zero value is empty and ready; a Histogram is not safe for concurrent
// use (each connection keeps its own and the run merges them).
type Histogram struct {
	groups [groups]*[subBuckets]uint64
	n      uint64
	sum    float64
	min    int64
	max    int64
}

const (
	subBits    = 7
	subBuckets = 1 << subBits
	groups     = 64 - subBits + 1
)

// locate returns the group and bucket that count v (ns, >= 0).
func locate(v int64) (g, b int) {
	if v < subBuckets {
		return 0, int(v)
	}
	e := bits.Len64(uint64(v)) - 1 // v is in [2^e, 2^(e+1))
	return e - subBits + 1, int(v>>(e-subBits)) - subBuckets
}

// highest returns the largest value that falls in group g, bucket b: the
// value a quantile landing there reports, so latency is never understated.
func highest(g, b int) int64 {
	if g == 0 {
		return int64(b)
	}
	width := int64(1) << (g - 1)
	return (int64(subBuckets+b) << (g - 1)) + width - 1
}

// Record counts one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	g, b := locate(v)
	if h.groups[g] == nil {
		h.groups[g] = new([subBuckets]uint64)
	}
	h.groups[g][b]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	h.max = max(h.max, v)
	h.n++
	h.sum += float64(v)
}

// Merge adds every count of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for g, grp := range o.groups {
		if grp == nil {
			continue
		}
		if h.groups[g] == nil {
			h.groups[g] = new([subBuckets]uint64)
		}
		for b, c := range grp {
			h.groups[g][b] += c
		}
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of durations recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest duration recorded, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Min returns the smallest duration recorded, exactly.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Mean returns the average duration recorded.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the q-quantile (0 < q <= 1) by rank: the highest value of
// the bucket holding the ceil(q*n)-th smallest duration, never above Max. It
// returns 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for g, grp := range h.groups {
		if grp == nil {
			continue
		}
		for b, c := range grp {
			seen += c
			if seen >= rank {
				return time.Duration(min(highest(g, b), h.max))
			}
		}
	}
	return time.Duration(h.max)
}
