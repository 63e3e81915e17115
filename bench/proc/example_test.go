package proc_test

import (
	"fmt"
	"time"

	"github.com/eventpoll/eventpoll/bench/proc"
)

// How much of a CPU the machine itself takes: a thread spins alone on it
// for 50 ms and counts the gaps over 50 µs between its clock reads.
func ExampleMeasureStalls() {
	cpus, err := proc.CPUs()
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := proc.MeasureStalls(cpus[0], 50*time.Millisecond, 50*time.Microsecond)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("window %v, gaps over %v, lost no more than the window: %v\n", s.Window, s.Over, s.Lost <= s.Window)
	// Output: window 50ms, gaps over 50µs, lost no more than the window: true
}
