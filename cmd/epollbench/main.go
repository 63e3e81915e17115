// Command epollbench reproduces the experiments of the documents eventpoll
// implements and compares our figures with their references.
//
// Usage:
//
//	epollbench [-quick] [-o dir] [-only wait,ctl,...]   the standard report
//	epollbench <experiment> [flags]                     one experiment, full flags
//	epollbench compare old.json new.json                two reports row by row
//	epollbench help                                     this list
//
// The standard report runs each experiment's short form (about three
// minutes in all), prints one table of our figure, the reference and their
// ratio per row, and writes the raw results as JSON and the charts as SVG
// into ./epollbench-results/. Progress goes to standard error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit, for tests.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "help", "-h", "-help", "--help":
			usage(stdout)
			return 0
		case "compare":
			if err := compareRun(args[1:], stdout); err != nil {
				fmt.Fprintln(stderr, "epollbench:", err)
				return 1
			}
			return 0
		}
		if e, ok := experiments[args[0]]; ok {
			if err := e.Run(args[1:]); err != nil {
				if errors.Is(err, flag.ErrHelp) {
					return 0
				}
				fmt.Fprintf(stderr, "epollbench %s: %v\n", e.Name, err)
				return 1
			}
			return 0
		}
		if args[0] != "" && args[0][0] != '-' {
			fmt.Fprintf(stderr, "epollbench: unknown subcommand %q\n\n", args[0])
			usage(stderr)
			return 2
		}
	}
	cfg, err := parseReportFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "epollbench:", err)
		return 2
	}
	if _, _, err := runReport(cfg, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "epollbench:", err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `epollbench reproduces the experiments of the epoll documents and compares
our figures with their references (C perf bench, poll(2), the published ones).

usage:
  epollbench [-quick] [-o dir] [-only list]   run the standard report (~3 min; -quick: seconds)
  epollbench <subcommand> [flags]             run one experiment; <subcommand> -h lists its flags
  epollbench compare old.json new.json        compare two reports row by row
  epollbench help                             this text

report flags:
  -quick      smoke run: tiny runtimes, no C reference
  -o dir      where the JSON and SVG files go (default epollbench-results)
  -only list  comma-separated experiments to run (default all)

subcommands:
`)
	for _, e := range ordered() {
		fmt.Fprintf(w, "  %-10s %s\n", e.Name, e.Summary)
	}
	fmt.Fprintf(w, "  %-10s %s\n", "compare", "per-row ratios of two JSON reports")
	fmt.Fprintf(w, "  %-10s %s\n", "help", "this text")
}
