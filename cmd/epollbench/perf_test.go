package main

import (
	"io"
	"math"
	"os"
	"testing"
)

// captureStdout runs f with os.Stdout sent to a file and returns what it
// printed.
func captureStdout(t *testing.T, f func() error) (string, error) {
	t.Helper()
	tmp, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Close()
	old := os.Stdout
	os.Stdout = tmp
	ferr := f()
	os.Stdout = old
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(tmp)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), ferr
}

// perf's "+-" is the standard deviation of the mean relative to the mean;
// the sample above is perf's own: 294750 and 232083 print as 263416, 11.90%.
func TestPerfStatsMatchPerfsArithmetic(t *testing.T) {
	avg, rel := perfStats([]float64{294750, 232083})
	if math.Abs(avg-263416.5) > 0.01 || math.Abs(rel-11.90) > 0.005 {
		t.Errorf("perfStats = %v, %v; want 263416.5, 11.90", avg, rel)
	}
	if avg, rel := perfStats([]float64{5}); avg != 5 || rel != 0 {
		t.Errorf("one sample: %v, %v", avg, rel)
	}
}
