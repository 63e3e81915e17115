//go:build race

package server

// raceEnabled: the race runtime allocates in system-call wrappers and
// makes each byte touched cost more; the tests that move the most bytes
// scale down under it, and the allocation tests skip.
const raceEnabled = true
