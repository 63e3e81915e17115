package harness

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Main is epollbench's command line without the exit: the standard report
// of exps (in their order), one experiment as a subcommand, compare, or
// help. It returns the exit status: 0, 1 when something failed, 2 on a bad
// command line.
func Main(args []string, exps []Experiment, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		usage(stdout, exps)
		return 0
	}
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		return subcommand(args, exps, stdout, stderr)
	}
	cfg, err := parseReportFlags(args, exps, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "epollbench:", err)
		return 2
	}
	if _, _, err := Run(exps, cfg, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "epollbench:", err)
		return 1
	}
	return 0
}

// subcommand runs compare or the experiment args[0] names.
func subcommand(args []string, exps []Experiment, stdout, stderr io.Writer) int {
	if args[0] == "compare" {
		if err := Compare(args[1:], stdout); err != nil {
			fmt.Fprintln(stderr, "epollbench:", err)
			return 1
		}
		return 0
	}
	e, ok := find(exps, args[0])
	if !ok {
		fmt.Fprintf(stderr, "epollbench: unknown subcommand %q\n\n", args[0])
		usage(stderr, exps)
		return 2
	}
	switch err := Command(e, args[1:], stdout, stderr); {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "epollbench %s: %v\n", e.Name, err)
		return 1
	}
	return 0
}

// errUsage is a flag the subcommand's flag set refused; the flag package
// has said why on stderr already.
var errUsage = errors.New("bad command line")

// Command runs e as a subcommand with args (its flags): results to stdout,
// progress and flag errors to stderr. -h returns flag.ErrHelp after
// printing what e measures and its flags.
func Command(e Experiment, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(e.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: epollbench %s [flags]\n\n%s\n\n", e.Name, e.About)
		fs.PrintDefaults()
	}
	run := e.Flags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return run(stdout, Log{W: stderr})
}

func find(exps []Experiment, name string) (Experiment, bool) {
	for _, e := range exps {
		if e.Name == name {
			return e, true
		}
	}
	return Experiment{}, false
}

func usage(w io.Writer, exps []Experiment) {
	fmt.Fprintf(w, `epollbench reproduces the experiments of the epoll documents and compares
our figures with their references (C perf bench, poll(2), the published ones).

usage:
  epollbench [-quick] [-o dir] [-only list]   run the standard report (~4 min; -quick: seconds)
  epollbench <subcommand> [flags]             run one experiment; <subcommand> -h lists its flags
  epollbench compare old.json new.json        compare two reports row by row
  epollbench help                             this text

report flags:
  -quick      smoke run: tiny runtimes, no C reference
  -o dir      where the JSON and SVG files go (default epollbench-results)
  -only list  comma-separated experiments to run (default all)

subcommands:
`)
	for _, e := range exps {
		fmt.Fprintf(w, "  %-10s %s\n", e.Name, e.Summary)
	}
	fmt.Fprintf(w, "  %-10s %s\n", "compare", "per-row ratios of two JSON reports")
	fmt.Fprintf(w, "  %-10s %s\n", "help", "this text")
}

// Config is the standard report's command line.
type Config struct {
	Quick   bool
	Dir     string   // where the outputs go
	Only    []string // experiment names; empty means all that have a report form
	Outputs []Output // what is written into Dir; nil means Outputs()
}

// parseReportFlags reads the flags of the standard report.
func parseReportFlags(args []string, exps []Experiment, stderr io.Writer) (Config, error) {
	var cfg Config
	var names []string
	for _, e := range exps {
		if e.Report != nil {
			names = append(names, e.Name)
		}
	}
	fs := flag.NewFlagSet("epollbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&cfg.Quick, "quick", false, "a seconds-long smoke run: tiny runtimes, no C reference")
	fs.StringVar(&cfg.Dir, "o", "epollbench-results", "directory for the JSON results and SVG charts")
	only := fs.String("only", "", "comma-separated experiments to run (default all): "+strings.Join(names, ","))
	fs.Usage = func() { usage(stderr, exps) }
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q (flags go before nothing else; see epollbench help)", fs.Arg(0))
	}
	if *only != "" {
		var err error
		if cfg.Only, err = Names("only", *only, names); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}
