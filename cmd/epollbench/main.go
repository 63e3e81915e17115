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
// The standard report runs each experiment's short form (about four
// minutes in all), prints one table of our figure, the reference and their
// ratio per row, and writes into ./epollbench-results/ the raw results as
// JSON, the whole report as one page (index.html) and the charts as SVG.
// Progress goes to standard error.
//
// Each experiment is a package under internal/; the harness package is
// what they share, perfbench what the reproductions of perf bench epoll
// (wait, ctl) share. An experiment plugs in with one line in the list below.
package main

import (
	"os"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/ctl"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/http"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/pipetest"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/servers"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/soak"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/timeout"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/wait"
)

// experiments are the subcommands, and the sections of the standard report
// in this order.
var experiments = []harness.Experiment{
	wait.Experiment,     // perf bench epoll wait
	ctl.Experiment,      // perf bench epoll ctl, and Batch
	pipetest.Experiment, // the 2002 token ring (seed 001)
	timeout.Experiment,  // timed-wait precision and the QEMU loop (seed 000)
	http.Experiment,     // the dphttpd-like server (seed 001)
	servers.Experiment,  // eventpoll's server beside gnet, nbio, netpoll, net, net/http and C (bench/)
	soak.Experiment,     // the long reliability run; a subcommand only
}

func main() {
	if code, ok := soak.Child(); ok { // the soak's server process
		os.Exit(code)
	}
	os.Exit(harness.Main(os.Args[1:], experiments, os.Stdout, os.Stderr))
}
