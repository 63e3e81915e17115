// Package wait reproduces `perf bench epoll wait` (tools/perf/bench/
// epoll-wait.c, the method of seed 003). Worker threads each own a map of
// non-blocking eventfds, registered in one shared epoll instance (or, with
// -m, one per worker). One writer thread writes to every eventfd of every
// worker in turn, then nanosleeps 500 ns, forever. Each worker waits for one
// event per call, reads the eventfd, re-adds it (-E, an ADD that fails with
// EEXIST: perf measures the cost of the call) or re-arms it (-S, MOD), and
// counts one operation. The figure is operations per second per worker.
package wait

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/cref"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/perfbench"
)

// Experiment is `epollbench wait` and the wait section of the report.
var Experiment = harness.Experiment{
	Name:    "wait",
	Summary: "perf bench epoll wait: threads waiting one event per call on eventfds fed by a writer",
	About:   "The workload and flags of perf bench epoll wait; short and long names alike.",
	Flags:   flags,
	Report:  report,
}

// engines are the wait calls -engine chooses between.
var engines = []string{"epoll", "ctx", "ring", "ring-epoll"}

// config holds the flags of perf bench epoll wait, plus the engine.
type config struct {
	perfbench.Workload
	Multiq      bool   `json:"multiq"`
	Edge        bool   `json:"edge"`
	Oneshot     bool   `json:"oneshot"`
	Randomize   bool   `json:"randomize"`
	NoAffinity  bool   `json:"noaffinity"`
	Nonblocking bool   `json:"nonblocking"`
	Verbose     bool   `json:"-"`
	Engine      string `json:"engine"`
	Batch       int    `json:"batch,omitempty"` // events per wait call; 0 or 1: one, as perf
	PauseNs     int64  `json:"pause_ns"`        // the writer's nanosleep between rounds; perf: 500, -1 none

	// Ops, when positive, ends each worker after that many operations
	// (a go test benchmark's b.N) instead of at Runtime.
	Ops uint64 `json:"-"`
}

func defaultConfig() config {
	return config{
		Workload: perfbench.Default(1), // a CPU left for the writer
		Engine:   "epoll",
		PauseNs:  500,
	}
}

func (c config) validate() error {
	if err := c.Check("wait"); err != nil {
		return err
	}
	switch {
	case c.Batch < 0 || c.Batch > 1<<16:
		return fmt.Errorf("wait: -batch %d: events per wait must be between 1 and 65536", c.Batch)
	case c.PauseNs < -1 || c.PauseNs >= int64(time.Second):
		return fmt.Errorf("wait: -pause %d: the writer's pause must be -1 (none) or between 0 and 999999999 ns", c.PauseNs)
	}
	switch c.Engine {
	case "epoll", "ring", "ring-epoll":
	case "ctx":
		if c.Nonblocking {
			return errors.New("wait: -B (nonblocking) has no meaning with -engine ctx: WaitContext parks the goroutine until an event; use -engine epoll")
		}
	default:
		return fmt.Errorf("wait: -engine %q: unknown (known: %s)", c.Engine, strings.Join(engines, ", "))
	}
	return nil
}

// perfFlags are c's perf flags, in perf's order, with or without their
// values.
func (c config) perfFlags() []string {
	var fs []string
	for _, b := range []struct {
		on   bool
		flag string
	}{{c.Multiq, "-m"}, {c.Edge, "-E"}, {c.Oneshot, "-S"}, {c.Randomize, "-R"}, {c.NoAffinity, "-n"}, {c.Nonblocking, "-B"}} {
		if b.on {
			fs = append(fs, b.flag)
		}
	}
	return fs
}

// perfArgs returns the perf bench epoll wait flags for c.
func (c config) perfArgs() []string { return c.Args(c.perfFlags()...) }

// flagString is the setting in perf's own words, for tables, with ours
// where they are not perf's defaults.
func (c config) flagString() string {
	parts := c.perfFlags()
	if c.Nested > 0 {
		parts = append(parts, fmt.Sprintf("-N %d", c.Nested))
	}
	parts = append(parts, fmt.Sprintf("-t %d -f %d", c.Threads, c.Fds))
	if c.Batch > 1 {
		parts = append(parts, fmt.Sprintf("-batch %d", c.Batch))
	}
	if c.PauseNs != 500 {
		parts = append(parts, fmt.Sprintf("-pause %d", c.PauseNs))
	}
	return strings.Join(parts, " ")
}

func flags(fs *flag.FlagSet) harness.Runner {
	c := defaultConfig()
	pf := cref.PerfFlags{FlagSet: fs}
	c.Workload.Flags(pf, "number of worker threads (default: CPUs - 1)", "file descriptors monitored per thread")
	pf.Bool(&c.Multiq, "m", "multiq", "one epoll instance per thread instead of one shared")
	pf.Bool(&c.Edge, "E", "edge", "edge-triggered registrations (default level-triggered)")
	pf.Bool(&c.Oneshot, "S", "oneshot", "EPOLLONESHOT registrations, re-armed with MOD after each event")
	pf.Bool(&c.Randomize, "R", "randomize", "the writer visits workers and fds in random order")
	pf.Bool(&c.NoAffinity, "n", "noaffinity", "do not pin worker threads to CPUs")
	pf.Bool(&c.Nonblocking, "B", "nonblocking", "wait with a zero timeout (spin) instead of blocking")
	pf.Bool(&c.Verbose, "v", "verbose", "print the setup, and the events delivered after the run")
	fs.IntVar(&c.Batch, "batch", 1, "events per wait call (perf: 1)")
	fs.Int64Var(&c.PauseNs, "pause", c.PauseNs, "the writer's nanosleep between rounds in ns, as perf's 500; -1 for none (the consumer then sets the pace)")
	rc := roundsConfig{Syscalls: true}
	fs.IntVar(&rc.Rounds, "rounds", 0, "instead of one run: this many interleaved rounds of C perf bench (pinned and -n) and each engine (epoll; ring and ring-epoll with -batch 64), one thread each, with -f and -r; the median of each, then the system calls per event (perf stat)")
	fs.BoolVar(&rc.Syscalls, "syscalls", rc.Syscalls, "with -rounds: count system calls per event with perf stat")
	fs.StringVar(&c.Engine, "engine", c.Engine, "wait call: epoll (Instance.Wait), ctx (WaitContext), ring (ring.Ring.Wait), ring-epoll (the ring on IORING_OP_EPOLL_WAIT)")
	compareC := fs.Bool("C", false, "also run perf bench epoll wait with the same flags and print the ratio")
	return func(out io.Writer, log harness.Log) error {
		if rc.Rounds > 0 {
			rc.Fds, rc.Runtime = c.Fds, c.Runtime
			return rounds(rc, out, log)
		}
		return command(c, *compareC, out)
	}
}

// command is `epollbench wait`: one run, printed as perf prints it, then
// perf's own run with -C.
func command(c config, compareC bool, out io.Writer) error {
	if err := c.validate(); err != nil {
		return err
	}
	if c.Verbose {
		model := "single"
		if c.Multiq {
			model = "multi"
		}
		fmt.Fprintf(out, "Using %s queue model, engine %s\nNesting level(s): %d\n", model, c.Engine, c.Nested)
	}
	fmt.Fprintf(out, "# Running 'epoll/wait' benchmark (Go, engine %s):\n", c.Engine)
	res, err := run(c)
	if err != nil {
		return err
	}
	res.printPerf(out, os.Getpid())
	if c.Verbose {
		fmt.Fprintf(out, "Events delivered: %d (%d of them stale edges, dropped)\n", res.events, res.stale)
	}
	if !compareC {
		return nil
	}
	return perfbench.Compare(out, "wait", cref.PerfSeconds(c.Runtime), c.perfArgs(), res.Avg, "ops/sec averaged per thread", func(perf string) (float64, error) {
		p, err := cref.ParseWait(perf)
		return p.Avg, err
	})
}
