package main

import (
	"flag"
	"fmt"
	"sort"
)

// experiment is one subcommand of epollbench and one section of the
// default report.
type experiment struct {
	Name    string // subcommand name: "wait", "ctl", "pipetest", "timeout", "http"
	Summary string // one line for the usage text
	Order   int    // position in the default report, ascending

	// Run runs the experiment as a subcommand with its own flags (args
	// excludes the subcommand name) and prints its results to stdout.
	Run func(args []string) error

	// Report runs the short form used by the default report and returns its
	// section. With opts.Quick it must finish in a few seconds (tests use it).
	Report func(opts reportOptions) (Section, error)
}

// reportOptions tunes the default-report form of an experiment.
type reportOptions struct {
	Quick    bool                             // a seconds-long smoke run (tests, -quick)
	Progress func(format string, args ...any) // progress lines for stderr; never nil
}

var experiments = map[string]*experiment{}

// register adds an experiment; each experiment's file calls it from init.
func register(e experiment) {
	if _, dup := experiments[e.Name]; dup {
		panic("epollbench: experiment registered twice: " + e.Name)
	}
	experiments[e.Name] = &e
}

// ordered returns the experiments in report order.
func ordered() []*experiment {
	var es []*experiment
	for _, e := range experiments {
		es = append(es, e)
	}
	sort.Slice(es, func(i, j int) bool {
		if es[i].Order != es[j].Order {
			return es[i].Order < es[j].Order
		}
		return es[i].Name < es[j].Name
	})
	return es
}

// newFlagSet is the flag set of one subcommand: errors are returned, not
// exited on, and -h prints a usage line and what the experiment measures
// above the flags.
func newFlagSet(name, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: epollbench %s [flags]\n\n%s\n\n", name, about)
		fs.PrintDefaults()
	}
	return fs
}
