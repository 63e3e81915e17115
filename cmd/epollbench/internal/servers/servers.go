// Package servers is the servers section of epollbench: eventpoll's
// server beside the servers a user would choose instead (gnet, nbio,
// cloudwego/netpoll, net, net/http) and a C server on raw epoll, in echo
// and HTTP throughput and latency (p99 at one offered rate for every
// server, the open-loop latency family), memory per idle connection and
// connection rate, judged against the section's targets.
//
// The measuring is the bench module's (bench/README.md): its driver,
// peerbench, runs as a child process with `go run` in bench/, so that the
// peers' dependencies stay out of the library's go.mod; this package
// chooses the plan, reads the driver's JSON and turns it into rows,
// targets and charts. Where the module or the go command is missing, the
// section says so in a row instead of failing the report.
package servers

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
)

// Experiment is `epollbench servers` and the servers section of the
// report.
var Experiment = harness.Experiment{
	Name:    name,
	Summary: "eventpoll's server against gnet, nbio, netpoll, net, net/http and C: echo, HTTP, idle memory, connection rate",
	About: "Runs the bench module's driver (go run ./cmd/peerbench in bench/): the same echo and HTTP servers on\n" +
		"every implementation, each in a process of its own, checked byte for byte before they are timed,\n" +
		"best of interleaved rounds, with one loop pinned and with all cores. Prints peerbench's table, then\n" +
		"our figure against each peer's and the C server's, with the section's targets (the p99 target on\n" +
		"the open-loop latency rows, every server offered the same rate). The flags are\n" +
		"peerbench's (bench/README.md); without -short its default plan takes about 3 minutes.",
	Flags:  flags,
	Report: report,
}

// name is the subcommand's and the section's.
const name = "servers"

// The plans of the standard report. The short plan takes about a
// minute, which keeps the whole report under five on two cores.
var (
	reportArgs = []string{"-short"}
	quickArgs  = []string{"-short", "-rounds", "1", "-warmup", "10ms", "-duration", "50ms", "-idle", "100", "-wrk=false"}
)

// quickImpls are the implementations a quick run measures, where they
// are registered: ours (eventpoll) and one Go peer. All
// of them would take several times as long, and a quick run runs no C
// reference.
var quickImpls = []string{"eventpoll", "net"}

// reportTimeout ends a standard report's run that hangs; peerbench's
// own stall checks end a stalled run far sooner.
const reportTimeout = 8 * time.Minute

func report(opts harness.Options) (harness.Section, error) {
	return reportWith(driver{Log: opts.Log, Timeout: reportTimeout}, opts.Quick)
}

// reportWith runs the standard report's plan, or the quick one, with d.
func reportWith(d driver, quick bool) (harness.Section, error) {
	args := reportArgs
	if quick {
		names, err := d.list()
		if err != nil {
			return sectionOf(nil, nil, err)
		}
		var keep []string
		for _, n := range quickImpls {
			if slices.Contains(names, n) {
				keep = append(keep, n)
			}
		}
		args = slices.Clone(quickArgs)
		if len(keep) > 0 {
			args = append(args, "-impls", strings.Join(keep, ","))
		}
	}
	raw, err := d.run(args)
	return sectionOf(args, raw, err)
}

// sectionOf makes the section of a run of the driver with args that gave
// raw or err: the rows of its JSON or, when the servers cannot run here,
// a row saying why.
func sectionOf(args []string, raw []byte, err error) (harness.Section, error) {
	var un *unavailableError
	if errors.As(err, &un) {
		return notRun(un.why), nil
	}
	empty := harness.Section{Experiment: name, Params: map[string]any{"command": commandLine(args)}}
	if err != nil {
		return empty, err
	}
	rep, err := parsePeerReport(raw)
	if err != nil {
		return empty, err
	}
	return buildSection(raw, rep, commandLine(args))
}

// notRun is the section of a machine that cannot run the servers: one
// row, no figure, and why.
func notRun(why string) harness.Section {
	sec := harness.Section{Experiment: name, Notes: []string{"servers not run: " + why}}
	sec.Add(harness.Row{Case: "servers not run", Unit: "-", RefNote: why})
	return sec
}

func flags(fs *flag.FlagSet) harness.Runner {
	short := fs.Bool("short", false, "peerbench's short plan (about a minute) instead of its default (about 3 minutes)")
	rounds := fs.Int("rounds", 0, "best of this many interleaved rounds (0: peerbench's 2)")
	duration := fs.Duration("duration", 0, "measured time of each run (0: the plan's)")
	warmup := fs.Duration("warmup", 0, "unmeasured warm-up of each run (0: the plan's)")
	idle := fs.Int("idle", 0, "connections held in the idle-memory case (0: the plan's)")
	cases := fs.String("cases", "", "case families, comma-separated: "+strings.Join(families, ",")+" (default all)")
	impls := fs.String("impls", "", "implementations, comma-separated (default all; c is the C server; peerbench -list names them)")
	wrk := fs.Bool("wrk", true, "cross-check the HTTP cases with wrk where it is installed")
	root := fs.String("root", "", "the repository that holds bench/ (default: this program's source, or the working directory and up)")
	jsonOut := fs.String("json", "", "also write peerbench's JSON to this file")
	return func(out io.Writer, log harness.Log) error {
		args, err := driverArgs(*short, *rounds, *duration, *warmup, *idle, *cases, *impls, *wrk)
		if err != nil {
			return err
		}
		d := driver{Root: *root, Stdout: out, Log: log}
		raw, err := d.run(args)
		if err != nil {
			return err
		}
		if *jsonOut != "" {
			if err := os.WriteFile(*jsonOut, raw, 0o644); err != nil {
				return err
			}
		}
		sec, err := sectionOf(args, raw, nil)
		fmt.Fprintln(out)
		harness.PrintTable(out, &harness.Report{Sections: []harness.Section{sec}})
		return err
	}
}

// driverArgs are peerbench's flags for the subcommand's, checked here so
// that a bad one is refused before anything is built.
func driverArgs(short bool, rounds int, duration, warmup time.Duration, idle int, cases, impls string, wrk bool) ([]string, error) {
	var args []string
	if short {
		args = append(args, "-short")
	}
	for _, n := range []struct {
		flag string
		v    int
	}{{"rounds", rounds}, {"idle", idle}} {
		if n.v < 0 {
			return nil, fmt.Errorf("-%s: %d is negative", n.flag, n.v)
		}
		if n.v > 0 {
			args = append(args, "-"+n.flag, strconv.Itoa(n.v))
		}
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"duration", duration}, {"warmup", warmup}} {
		if d.v < 0 {
			return nil, fmt.Errorf("-%s: %v is negative", d.flag, d.v)
		}
		if d.v > 0 {
			args = append(args, "-"+d.flag, d.v.String())
		}
	}
	if cases != "" {
		fams, err := harness.Names("cases", cases, families)
		if err != nil {
			return nil, err
		}
		args = append(args, "-cases", strings.Join(fams, ","))
	}
	if impls != "" {
		var names []string
		for _, f := range strings.Split(impls, ",") {
			if f = strings.TrimSpace(f); f != "" {
				names = append(names, f)
			}
		}
		if len(names) == 0 {
			return nil, errors.New("-impls: empty list")
		}
		args = append(args, "-impls", strings.Join(names, ","))
	}
	if !wrk {
		args = append(args, "-wrk=false")
	}
	return args, nil
}
