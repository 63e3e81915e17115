//go:build race

package ring

// raceEnabled: the race detector allocates in syscall wrappers, so
// allocation counts are only meaningful without it.
const raceEnabled = true
