package system

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// OnlineCPUs returns the CPUs this process may run on, in order: the set
// perf's default thread count and its affinity round-robin come from.
func OnlineCPUs() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		cpus := make([]int, runtime.NumCPU())
		for i := range cpus {
			cpus[i] = i
		}
		return cpus
	}
	var cpus []int
	for i := 0; i < 1024 && len(cpus) < set.Count(); i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus
}

// PinWorker places the calling goroutine as perf places its i-th worker
// thread: locked to an OS thread of its own, which is bound to cpus[i],
// round-robin (cpus is OnlineCPUs, read once per run); with noAffinity,
// only locked.
func PinWorker(cpus []int, i int, noAffinity bool) error {
	if noAffinity {
		runtime.LockOSThread()
		return nil
	}
	return Pin(cpus[i%len(cpus)])
}

// Pin locks the calling goroutine to its OS thread and binds that thread
// to cpu, as perf does with pthread_attr_setaffinity_np. The thread is
// never unlocked: when the goroutine returns the runtime ends the thread,
// so its affinity never leaks to other goroutines.
func Pin(cpu int) error {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("sched_setaffinity(cpu %d): %w", cpu, err)
	}
	return nil
}
