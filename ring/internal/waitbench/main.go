// Command waitbench runs the `perf bench epoll wait` workload in Go with a
// ring.Ring or an epoll.Instance as the consumer and prints the throughput,
// in the C benchmark's terms: an operation is an event followed by a read
// of the eventfd that returned data.
//
//	go run ./ring/internal/waitbench -consumer ring -t 1 -f 64 -r 5s
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/eventpoll/eventpoll/ring/internal/waitload"
)

func main() {
	var c waitload.Config
	flag.StringVar(&c.Consumer, "consumer", "ring", "ring, ring-epoll or epoll")
	flag.IntVar(&c.Threads, "t", 1, "consumer goroutines, each with its own instance")
	flag.IntVar(&c.Fds, "f", 64, "eventfds per consumer")
	flag.DurationVar(&c.Duration, "r", 5*time.Second, "run time")
	flag.DurationVar(&c.Sleep, "sleep", 500*time.Nanosecond, "writer's nanosleep between rounds (perf: 500ns)")
	flag.IntVar(&c.Batch, "batch", 64, "events per Wait for the ring consumers")
	flag.DurationVar(&c.Spin, "spin", 0, "ring.WithSpin for the ring consumers")
	flag.BoolVar(&c.Lock, "lock", false, "consumers call runtime.LockOSThread")
	flag.IntVar(&c.CQ, "cq", 0, "ring.WithCQEntries for the ring consumers (0: the default)")
	prof := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	flag.Parse()
	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			fmt.Fprintln(os.Stderr, "waitbench:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	res, err := waitload.Run(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "waitbench:", err)
		os.Exit(1)
	}
	fmt.Printf("consumer=%s threads=%d fds=%d secs=%.2f ops=%d ops/sec=%.0f events=%d empty=%d writes=%d ring=%+v\n",
		c.Consumer, c.Threads, c.Fds, res.Elapsed.Seconds(), res.Ops, res.OpsPerSec(), res.Events, res.Empty, res.Writes, res.RingStats)
}
