// Command loadgen runs one of package load's generators against a server
// that is already running (peerserver, for instance), and prints one line:
// operations per second, p50, p99 and p99.9. It is peerbench's measurement
// without peerbench's plan, for A/B runs by hand:
//
//	peerserver -impl eventpoll -app echo -addr 127.0.0.1:9000 -loops 1 &
//	loadgen -addr 127.0.0.1:9000 -app echo -c 10 -size 64 -d 1s
//	loadgen -addr 127.0.0.1:9000 -app echo -c 100 -size 64 -rate 20000   # open loop
//
// With -rate the generator is the open-loop one (load.Paced): that many
// requests a second over all connections at fixed times, latency from each
// request's due time; the line adds the offered rate, the generator's own
// lateness and, when the server did not keep up, why. Every echoed byte and every HTTP response is verified, as in peerbench;
// the exit status is 1 when the server failed a check, 2 on bad flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/eventpoll/eventpoll/bench/load"
)

func main() {
	addr := flag.String("addr", "", "the server's address, host:port (required)")
	app := flag.String("app", "echo", "echo or http")
	conns := flag.Int("c", 10, "connections")
	size := flag.Int("size", 64, "echo: bytes per message")
	depth := flag.Int("depth", 1, "messages or requests in flight per connection")
	rate := flag.Float64("rate", 0, "open loop: requests per second over all connections (0: closed loop)")
	d := flag.Duration("d", time.Second, "measured time")
	spin := flag.Bool("spin", false, "poll instead of sleeping (for a generator with CPUs of its own)")
	threads := flag.Int("threads", 0, "goroutines driving the connections from epoll instances of their own\n(0: one in the open loop, a goroutine per connection in a closed loop unless -spin)")
	warm := flag.Duration("warmup", 200*time.Millisecond, "unmeasured warm-up")
	flag.Parse()
	if *addr == "" || flag.NArg() > 0 || (*app != "echo" && *app != "http") {
		fmt.Fprintln(os.Stderr, "loadgen: -addr is required, -app is echo or http, and no arguments are taken")
		os.Exit(2)
	}
	tm := load.Timing{Warmup: *warm, Duration: *d}
	var r *load.Result
	var err error
	switch {
	case *rate > 0:
		r, err = load.Paced{Addr: *addr, App: *app, Conns: *conns, Size: *size, Rate: *rate, Spin: *spin, Threads: *threads, Timing: tm}.Run(context.Background())
	case *app == "echo":
		r, err = load.Echo{Addr: *addr, Conns: *conns, Size: *size, Depth: *depth, Spin: *spin, Threads: *threads, Timing: tm}.Run(context.Background())
	default:
		r, err = load.HTTP{Addr: *addr, Conns: *conns, Depth: *depth, Spin: *spin, Threads: *threads, Timing: tm}.Run(context.Background())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	fmt.Printf("%.0f ops/s p50 %v p99 %v p99.9 %v", r.Rate(), r.P50, r.P99, r.P999)
	if pc := r.Paced; pc != nil {
		fmt.Printf(" offered %.0f/s lateness p50 %v p99 %v max %v", pc.Offered,
			pc.Lateness.Quantile(0.5), pc.Lateness.Quantile(0.99), pc.Lateness.Max())
		if pc.Overloaded != "" {
			fmt.Printf(" OVERLOADED: %s", pc.Overloaded)
		}
	}
	fmt.Println()
}
