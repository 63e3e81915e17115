package wait

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/cref"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
)

// roundsConfig is `epollbench wait -rounds`: the workload with one
// consumer thread, C against each of our engines, interleaved round by
// round so that a noisy machine hurts all alike, then the system calls each
// makes per event, counted from outside with perf stat. Every consumer also
// makes one read(2) per event: that is part of the workload.
type roundsConfig struct {
	Rounds   int
	Fds      int
	Runtime  time.Duration
	Syscalls bool // count system calls per event with perf stat
}

// consumer is one column of the rounds: perf's program or one of ours.
type consumer struct {
	name   string
	perf   []string // perf bench epoll wait's flags beyond -r, -f, -t; nil for ours
	engine string
	batch  int
}

var consumers = []consumer{
	{name: "C", perf: []string{}},
	{name: "C-noaff", perf: []string{"-n"}}, // perf pins its writer and worker to one CPU unless -n
	{name: "go-epoll", engine: "epoll", batch: 1},
	{name: "ring", engine: "ring", batch: 64},
	{name: "ring-epoll", engine: "ring-epoll", batch: 64},
}

// syscallEvents are the tracepoints counted per event.
var syscallEvents = []string{
	"syscalls:sys_enter_io_uring_enter", "syscalls:sys_enter_epoll_wait", "syscalls:sys_enter_epoll_pwait",
	"syscalls:sys_enter_epoll_pwait2", "syscalls:sys_enter_read",
}

func (rc roundsConfig) perfArgs(k consumer) []string {
	secs := strconv.Itoa(cref.PerfSeconds(rc.Runtime))
	return append([]string{"-r", secs, "-f", strconv.Itoa(rc.Fds), "-t", "1"}, k.perf...)
}

func (rc roundsConfig) ours(k consumer) config {
	c := defaultConfig()
	c.Threads, c.Fds, c.Runtime, c.Engine, c.Batch = 1, rc.Fds, rc.Runtime, k.engine, k.batch
	return c
}

// once measures k for one round: its ops/s.
func (rc roundsConfig) once(k consumer) (float64, error) {
	if k.perf != nil {
		out, err := cref.PerfBench("wait", cref.PerfSeconds(rc.Runtime), rc.perfArgs(k))
		if err != nil {
			return 0, err
		}
		p, err := cref.ParseWait(out)
		return p.Avg, err
	}
	res, err := run(rc.ours(k))
	if err != nil {
		return 0, err
	}
	return res.Avg, nil
}

// rounds runs the rounds, prints each consumer's median with its ratio to
// C's and every run, then the system calls per event.
func rounds(rc roundsConfig, out io.Writer, log harness.Log) error {
	runs := map[string][]float64{}
	skip := map[string]string{} // consumer -> why it is not measured
	for r := 1; r <= rc.Rounds; r++ {
		for _, k := range consumers {
			if skip[k.name] != "" {
				continue
			}
			v, err := rc.once(k)
			switch {
			case errors.Is(err, cref.ErrNoReference), errors.Is(err, errors.ErrUnsupported):
				skip[k.name] = err.Error()
				continue
			case err != nil:
				return fmt.Errorf("%s: %w", k.name, err)
			}
			runs[k.name] = append(runs[k.name], v)
		}
		log.Printf("wait: round %d of %d done", r, rc.Rounds)
	}
	median := func(name string) float64 {
		xs := slices.Sorted(slices.Values(runs[name]))
		return harness.Percentile(xs, 0.5)
	}
	fmt.Fprintf(out, "# %d interleaved rounds of %s s, one consumer, %d fds; ring engines wait for up to 64 events\n",
		rc.Rounds, cref.FormatRuntime(rc.Runtime), rc.Fds)
	fmt.Fprintf(out, "%-11s %12s %8s   %s\n", "consumer", "median", "x C", "runs (ops/s)")
	c := median("C")
	for _, k := range consumers {
		if why := skip[k.name]; why != "" {
			fmt.Fprintf(out, "%-11s %12s %8s   not measured: %s\n", k.name, "-", "-", why)
			continue
		}
		ratio := "-"
		if c > 0 {
			ratio = fmt.Sprintf("%.2f", median(k.name)/c)
		}
		var rs []string
		for _, v := range runs[k.name] {
			rs = append(rs, strconv.FormatFloat(v, 'f', 0, 64))
		}
		fmt.Fprintf(out, "%-11s %12.0f %8s   %s\n", k.name, median(k.name), ratio, strings.Join(rs, " "))
	}
	if !rc.Syscalls {
		return nil
	}
	return rc.syscalls(out, skip)
}

var eventsRe = regexp.MustCompile(`(?m)^Events delivered: (\d+)`)

// syscalls counts, from outside with perf's syscall tracepoints, the
// io_uring_enter, epoll_wait* and read calls per delivered event of perf's
// program and of each of our engines, run by this program's wait
// subcommand in a child process.
func (rc roundsConfig) syscalls(out io.Writer, skip map[string]string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("syscall counts: this program's path: %w", err)
	}
	fmt.Fprintf(out, "\nsystem calls per delivered event (perf stat, %s s runs):\n", cref.FormatRuntime(rc.Runtime))
	timeout := rc.Runtime + 60*time.Second
	for _, k := range consumers {
		if skip[k.name] != "" || k.name == "C-noaff" {
			continue
		}
		var argv []string
		if k.perf != nil {
			argv = append([]string{"perf", "bench", "epoll", "wait"}, rc.perfArgs(k)...)
		} else {
			c := rc.ours(k)
			argv = []string{self, "wait", "-v", "-t", "1", "-f", strconv.Itoa(c.Fds), "-r", cref.FormatRuntime(c.Runtime),
				"-engine", c.Engine, "-batch", strconv.Itoa(c.Batch)}
		}
		counts, stdout, err := cref.PerfStat(syscallEvents, timeout, argv...)
		if err != nil {
			fmt.Fprintf(out, "  %-10s not counted: %v\n", k.name, err)
			continue
		}
		events, err := delivered(k, stdout, rc.Runtime)
		if err != nil {
			fmt.Fprintf(out, "  %-10s not counted: %v\n", k.name, err)
			continue
		}
		for _, ev := range syscallEvents {
			if n, ok := counts[ev]; ok {
				fmt.Fprintf(out, "  %-10s %-28s %6.3f per event\n", k.name, strings.TrimPrefix(ev, "syscalls:"), n/events)
			}
		}
	}
	return nil
}

// delivered is the number of events a run delivered: perf's average rate
// times its whole-second runtime (one thread, level-triggered: every event
// is an operation), or the count our -v line gives.
func delivered(k consumer, stdout string, d time.Duration) (float64, error) {
	if k.perf != nil {
		p, err := cref.ParseWait(stdout)
		if err != nil {
			return 0, err
		}
		return p.Avg * float64(cref.PerfSeconds(d)), nil
	}
	m := eventsRe.FindStringSubmatch(stdout)
	if m == nil {
		return 0, fmt.Errorf("no events line in the output: %q", stdout)
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	if n <= 0 {
		return 0, errors.New("no events delivered")
	}
	return n, nil
}
