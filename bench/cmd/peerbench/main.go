// Command peerbench measures the servers of package peers (gnet, nbio,
// cloudwego/netpoll, net, net/http, and eventpoll's own once registered)
// side by side with the C reference on raw epoll: echo and HTTP throughput
// and latency in closed loops, p99 latency at one offered rate for all
// (the open-loop latency cases, on which the p99 target is judged), memory
// per idle connection, connection rate, and what the server process spent
// in CPU time per operation in each of those but idle; each server in a
// child process, each with one loop and with all cores, best of N rounds
// in which the implementations take turns.
//
//	peerbench [-short] [-json FILE|-] [-rounds N] [-duration D] [-rate R] [-impls a,b] [-cases echo,http,latency,idle,connrate] [-engine epoll|goroutines]
//
// The default run takes about 3 minutes, -short well under 2. The table goes
// to stdout (stderr when the JSON does); the exit status is 1 when a server
// failed a check or a run. bench/README.md documents the JSON.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/eventpoll/eventpoll/bench/driver"
	"github.com/eventpoll/eventpoll/bench/peers"
)

func main() {
	var o driver.Options
	flag.BoolVar(&o.Short, "short", false, "the short plan: fewer cases, shorter runs (well under 2 minutes)")
	flag.IntVar(&o.Rounds, "rounds", 0, "best of this many interleaved rounds (0: 2)")
	flag.DurationVar(&o.Duration, "duration", 0, "measured time of each run (0: the plan's)")
	flag.DurationVar(&o.Warmup, "warmup", 0, "unmeasured warm-up of each run (0: the plan's)")
	flag.Float64Var(&o.Rate, "rate", 0, "requests per second offered in the latency cases (0: the plan's, 30000 echo, 20000 http)")
	flag.IntVar(&o.Idle, "idle", 0, "connections held in the idle-memory case (0: 10000, 2000 short)")
	impls := flag.String("impls", "", "comma-separated implementations (default all but c-uring; c is the C reference, c-uring the C server on io_uring)")
	cases := flag.String("cases", "", "comma-separated case families: echo, http, latency, idle, connrate (default all; -short runs the http latency case alone)")
	flag.BoolVar(&o.Wrk, "wrk", true, "cross-check HTTP cases with wrk where it is installed")
	flag.StringVar(&o.Engine, "engine", "epoll", "the closed loops' generator: epoll (a goroutine per generator CPU, each with an epoll\ninstance of its own) or goroutines (one per connection, on the runtime's poller)")
	jsonOut := flag.String("json", "", "write the JSON report to this file (- for stdout)")
	list := flag.Bool("list", false, "list the implementations and exit")
	quiet := flag.Bool("q", false, "no progress lines on stderr")
	flag.Parse()
	if *list {
		for _, im := range peers.All() {
			fmt.Printf("%-8s %s\n", im.Name, im.Doc)
		}
		fmt.Printf("%-8s %s\n", "c", "C on raw epoll (built with gcc at run time)")
		fmt.Printf("%-8s %s\n", "c-uring", "C on io_uring (built with gcc at run time where the kernel allows it; run only when named in -impls)")
		return
	}
	o.Impls, o.Families = split(*impls), split(*cases)
	if !*quiet {
		o.Log = os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := driver.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peerbench:", err)
		os.Exit(2)
	}
	var table io.Writer = os.Stdout
	if *jsonOut == "-" {
		table = os.Stderr
	}
	rep.WriteTable(table)
	fmt.Fprintf(table, "\n%.0f s\n", rep.ElapsedSeconds)
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, rep); err != nil {
			fmt.Fprintln(os.Stderr, "peerbench:", err)
			os.Exit(2)
		}
	}
	if rep.Failed() {
		os.Exit(1)
	}
}

func writeJSON(path string, rep *driver.Report) error {
	if path == "-" {
		return rep.WriteJSON(os.Stdout)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := rep.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
