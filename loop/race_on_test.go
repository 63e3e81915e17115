//go:build race

package loop

// reuseTarget: under the race detector every system call is instrumented
// and a million descriptor reuses take minutes; CI runs the full million in
// its pass without -race.
const reuseTarget = 100_000
