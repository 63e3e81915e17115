// Package perfbench is what the reproductions of perf bench epoll (the
// wait and ctl experiments) share, as perf's own epoll-wait.c and
// epoll-ctl.c share it: the workload's flags, worker threads that each own
// a map of eventfds and run until the runtime is over, the per-thread
// figures perf prints, the subcommand's comparison with perf's run of the
// same flags, and the report's C side of a setting.
package perfbench

import (
	"fmt"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/cref"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/system"
	"golang.org/x/sys/unix"
)

// Workload holds the flags both of perf's epoll workloads take: Threads
// worker threads, each with a map of Fds eventfds, for Runtime, under
// Nested levels of epoll instances.
type Workload struct {
	Threads int           `json:"threads"`
	Fds     int           `json:"nfds"`
	Runtime time.Duration `json:"runtime_ns"`
	Nested  int           `json:"nested"`
}

// Default is perf's default workload: a thread per online CPU but spare
// (epoll wait leaves one to its writer), at least one, each with 64
// eventfds, for 8 seconds.
func Default(spare int) Workload {
	return Workload{Threads: max(1, len(system.OnlineCPUs())-spare), Fds: 64, Runtime: 8 * time.Second}
}

// Check checks the workload as perf does (cref.CheckPerfFlags); the error
// names sub, the subcommand.
func (w Workload) Check(sub string) error {
	return cref.CheckPerfFlags(sub, w.Threads, w.Fds, w.Runtime, w.Nested)
}

// Flags registers the workload's flags on pf under perf's short and long
// names: -t/--threads (threads says what a thread does and how many there
// are by default), -f/--nfds (fds says what the map is for), -r/--runtime
// and -N/--nested.
func (w *Workload) Flags(pf cref.PerfFlags, threads, fds string) {
	pf.Int(&w.Threads, "t", "threads", threads)
	pf.Int(&w.Fds, "f", "nfds", fds)
	pf.Runtime(&w.Runtime, "r", "runtime", "runtime in seconds (fractions and durations such as 500ms allowed)")
	pf.Int(&w.Nested, "N", "nested", "nesting levels of epoll instances (at most 4)")
}

// Args returns perf's flags for the workload: -t, -f and -r (rounded up
// to whole seconds, the only unit perf takes), then flags, then -N when
// nested.
func (w Workload) Args(flags ...string) []string {
	args := append([]string{"-t", fmt.Sprint(w.Threads), "-f", fmt.Sprint(w.Fds), "-r", fmt.Sprint(cref.PerfSeconds(w.Runtime))}, flags...)
	if w.Nested > 0 {
		args = append(args, "-N", fmt.Sprint(w.Nested))
	}
	return args
}

// Open raises RLIMIT_NOFILE as far as the workload needs (its eventfds,
// twice over for what the instances and the kernel's files hold, and a
// margin) and returns its threads, each with its map of Fds fresh
// non-blocking eventfds. On an error no descriptor stays open.
func (w Workload) Open() ([]*Thread, error) {
	if err := system.NeedNofile(w.Fds*w.Threads*2 + 50 + system.OpenFds()); err != nil {
		return nil, err
	}
	threads := make([]*Thread, w.Threads)
	for i := range threads {
		t := &Thread{Tid: i, Fdmap: make([]int, 0, w.Fds)}
		threads[i] = t
		for range w.Fds {
			fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
			if err != nil {
				Close(threads[:i+1])
				return nil, fmt.Errorf("eventfd: %w", err)
			}
			t.Fdmap = append(t.Fdmap, fd)
		}
	}
	return threads, nil
}

// Close closes the eventfds of threads.
func Close(threads []*Thread) {
	for _, t := range threads {
		for _, fd := range t.Fdmap {
			unix.Close(fd)
		}
	}
}
