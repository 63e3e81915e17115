//go:build !race

package loop

const reuseTarget = 1_000_000
