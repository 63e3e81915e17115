package uring

import (
	"testing"
)

// More completions than the CQ holds, none reaped while they are produced:
// with IORING_FEAT_NODROP the surplus waits in the kernel, and Reap brings
// every one of them back.
func TestCQOverflowLosesNoCompletion(t *testing.T) {
	r := newTestRing(t, 4, Options{}) // SQ 4, CQ 8
	const total = 100
	for next := 0; next < total; {
		for r.SQSpace() > 0 && next < total {
			s := r.GetSQE()
			s.PrepNop()
			s.UserData = uint64(next)
			next++
		}
		if _, err := r.Submit(); err != nil {
			t.Fatalf("Submit with an overflowing CQ: %v", err)
		}
	}
	if !r.cqNeedsFlush() {
		t.Fatal("kernel did not flag IORING_SQ_CQ_OVERFLOW; the test did not overflow the CQ")
	}
	seen := make([]int, total)
	buf := make([]CQE, 3) // smaller than the CQ: forces many partial reaps
	for got := 0; got < total; {
		n, err := r.Reap(buf)
		if err != nil {
			t.Fatalf("Reap: %v", err)
		}
		if n == 0 {
			t.Fatalf("Reap returned nothing after %d of %d completions", got, total)
		}
		for _, c := range buf[:n] {
			if c.UserData >= total || c.Res != 0 {
				t.Fatalf("stray CQE %+v", c)
			}
			seen[c.UserData]++
		}
		got += n
	}
	for ud, k := range seen {
		if k != 1 {
			t.Errorf("user_data %d completed %d times, want once", ud, k)
		}
	}
	if n, _ := r.Reap(buf); n != 0 || r.cqNeedsFlush() {
		t.Errorf("after accounting for all: Reap = %d, overflow flag %v", n, r.cqNeedsFlush())
	}
	if lost := r.CQOverflow(); lost != 0 {
		t.Errorf("kernel dropped %d completions", lost)
	}
}
