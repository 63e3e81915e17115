// Package ctl reproduces `perf bench epoll ctl` (tools/perf/bench/
// epoll-ctl.c, the method of seed 003): threads stress one shared epoll
// instance with epoll_ctl. Each thread owns a map of eventfds and, round
// after round, ADDs, MODs (to EPOLLOUT) and DELs each of them, then
// nanosleeps 250 ns; with -R it does one random operation on one random fd
// per round, half of its fds being registered beforehand. Only successful
// operations count.
//
// Beyond perf, -mode batch and -mode batchall send the same command stream
// through epoll.Instance.Batch (stops at the first failure, as the 2015
// epoll_ctl_batch proposal) or BatchAll (carries on), -b commands at a
// time, on the backend -backend picks (io_uring EPOLL_CTL requests, or one
// epoll_ctl per command).
package ctl

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/cref"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/perfbench"
	"github.com/eventpoll/eventpoll/epoll"
)

// Experiment is `epollbench ctl` and the ctl section of the report.
var Experiment = harness.Experiment{
	Name:    "ctl",
	Summary: "perf bench epoll ctl: threads adding, modifying, deleting fds in one instance; per-op vs Batch",
	About:   "The workload and flags of perf bench epoll ctl; short and long names alike.",
	Flags:   flags,
	Report:  report,
}

// modes are the ways commands reach the kernel.
var modes = []string{"op", "batch", "batchall"}

// config holds the flags of perf bench epoll ctl, plus the batch modes'.
type config struct {
	perfbench.Workload
	Randomize  bool   `json:"randomize"`
	PauseNs    int64  `json:"pause_ns"`        // nanosleep between rounds; perf: 250, -1 none
	Phase      bool   `json:"phase,omitempty"` // ADD every fd, then MOD every fd, then DEL every fd
	NoAffinity bool   `json:"noaffinity"`
	Verbose    bool   `json:"-"`
	Mode       string `json:"mode"`    // op, batch, batchall
	BatchSize  int    `json:"batch"`   // commands per Batch call
	Backend    string `json:"backend"` // auto, uring, syscall
}

func defaultConfig() config {
	return config{
		Workload:  perfbench.Default(0), // a thread per CPU
		Mode:      "op",
		BatchSize: 64,
		PauseNs:   250,
		Backend:   "auto",
	}
}

func (c config) validate() error {
	if err := c.Check("ctl"); err != nil {
		return err
	}
	if c.BatchSize < 1 || c.BatchSize > epoll.MaxBatch {
		return fmt.Errorf("ctl: -b %d: batch size must be between 1 and %d", c.BatchSize, epoll.MaxBatch)
	}
	if _, err := backend(c.Backend); err != nil {
		return err
	}
	if !slices.Contains(modes, c.Mode) {
		return fmt.Errorf("ctl: -mode %q: unknown (known: %s)", c.Mode, strings.Join(modes, ", "))
	}
	return nil
}

func backend(name string) (epoll.BatchBackend, error) {
	switch name {
	case "auto":
		return epoll.BatchAuto, nil
	case "uring":
		return epoll.BatchUring, nil
	case "syscall":
		return epoll.BatchSyscall, nil
	}
	return 0, fmt.Errorf("ctl: -backend %q: unknown (known: auto, uring, syscall)", name)
}

func (c config) perfArgs() []string {
	var flags []string
	if c.Randomize {
		flags = append(flags, "-R")
	}
	if c.NoAffinity {
		flags = append(flags, "-n")
	}
	return c.Args(flags...)
}

func (c config) flagString() string {
	s := fmt.Sprintf("-t %d -f %d", c.Threads, c.Fds)
	if c.Randomize {
		s = "-R " + s
	}
	if c.Nested > 0 {
		s = fmt.Sprintf("-N %d ", c.Nested) + s
	}
	if c.Phase {
		s += " -phase"
	}
	if c.PauseNs != 250 {
		s += fmt.Sprintf(" -pause %d", c.PauseNs)
	}
	if c.Mode != "op" {
		s += fmt.Sprintf(" -mode %s -b %d -backend %s", c.Mode, c.BatchSize, c.Backend)
	}
	return s
}

func flags(fs *flag.FlagSet) harness.Runner {
	c := defaultConfig()
	pf := cref.PerfFlags{FlagSet: fs}
	c.Workload.Flags(pf, "number of threads (default: one per CPU)", "file descriptors per thread")
	pf.Bool(&c.Randomize, "R", "randomize", "random operations on random fds")
	fs.Int64Var(&c.PauseNs, "pause", c.PauseNs, "nanosleep between rounds in ns, as perf's 250; -1 for none (the time then is the epoll_ctl cost alone: with a 50 us timer slack perf's pause takes about as long as a round of 192 commands)")
	fs.BoolVar(&c.Phase, "phase", false, "a round is ADD of every fd, then MOD of every fd, then DEL of every fd (an event loop's batch: no fd twice in one batch), instead of ADD, MOD, DEL of each fd in turn")
	pf.Bool(&c.NoAffinity, "n", "noaffinity", "do not pin threads to CPUs")
	pf.Bool(&c.Verbose, "v", "verbose", "print the setup")
	fs.StringVar(&c.Mode, "mode", c.Mode, "op (one epoll_ctl per operation), batch (Instance.Batch, stops at a failure), batchall (Instance.BatchAll)")
	fs.IntVar(&c.BatchSize, "b", c.BatchSize, "commands per Batch call")
	fs.StringVar(&c.Backend, "backend", c.Backend, "batch backend: auto, uring (io_uring EPOLL_CTL), syscall (epoll_ctl per command)")
	compareC := fs.Bool("C", false, "also run perf bench epoll ctl with the same flags and print the ratio")
	return func(out io.Writer, _ harness.Log) error { return command(c, *compareC, out) }
}

// command is `epollbench ctl`: one run, printed as perf prints it, then
// perf's own run with -C.
func command(c config, compareC bool, out io.Writer) error {
	if err := c.validate(); err != nil {
		return err
	}
	if c.Verbose {
		fmt.Fprintf(out, "Nesting level(s): %d\nMode %s, batch %d, backend %s\n", c.Nested, c.Mode, c.BatchSize, c.Backend)
	}
	fmt.Fprintf(out, "# Running 'epoll/ctl' benchmark (Go, %s):\n", c.Mode)
	res, err := run(c)
	if err != nil {
		return err
	}
	res.printPerf(out, os.Getpid())
	if !compareC {
		return nil
	}
	secs := cref.PerfSeconds(c.Runtime)
	return perfbench.Compare(out, "ctl", secs, c.perfArgs(), res.Avg, "operations/sec per thread, all kinds", func(perf string) (float64, error) {
		p, err := cref.ParseCtl(perf)
		return p.Rate(secs), err
	})
}
