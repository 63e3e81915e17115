// Package harness is what every experiment of epollbench shares: the
// descriptor that makes an experiment a subcommand and a section of the
// standard report; the report itself (rows of our figure beside a
// reference, typed targets, notes, charts), written as a table, JSON and
// SVG; compare; best-of-N; and the statistics the experiments print.
//
// An experiment is a package with one Experiment value; cmd/epollbench's
// main.go lists them, and that list is the whole of what plugs one in. An
// experiment that measures one configuration per run and shows its result
// (pipetest, timeout, http) is a Study, which makes its Experiment. An
// experiment may run anywhere (another process, another Go module): the
// harness only calls its Flags and Report functions and reads the Section
// it returns.
package harness

import (
	"flag"
	"fmt"
	"io"
)

// Experiment is one subcommand of epollbench and one section of its
// standard report.
type Experiment struct {
	Name    string // subcommand and section name: "wait", "ctl", ...
	Summary string // one line for the usage text
	About   string // what the subcommand measures, printed above its flags by -h

	// Flags declares the subcommand's flags on fs and returns the run that
	// uses their values once fs has parsed the command line.
	Flags func(fs *flag.FlagSet) Runner

	// Report runs the short form the standard report shows and returns its
	// section. With Options.Quick it must finish in a few seconds and run
	// no C reference (tests and -quick use it). A nil Report makes a
	// subcommand that is not part of the standard report.
	Report func(opts Options) (Section, error)
}

// Runner runs a subcommand whose flags are parsed: its results go to out
// (a table, or perf's own format), progress lines to log.
type Runner func(out io.Writer, log Log) error

// Options tunes the short form of an experiment in the standard report.
type Options struct {
	Quick bool // a seconds-long smoke run: tiny runtimes, no C reference
	Log   Log  // progress lines
}

// Log writes progress lines to W, each after Prefix; the zero Log
// discards them.
type Log struct {
	W      io.Writer
	Prefix string
}

// Printf writes one line.
func (l Log) Printf(format string, args ...any) {
	if l.W == nil {
		return
	}
	fmt.Fprintf(l.W, "%s%s\n", l.Prefix, fmt.Sprintf(format, args...))
}
