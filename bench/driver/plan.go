// Package driver runs the comparison peerbench reports: a chosen set of
// cases, each against every implementation, best of N rounds in which the
// implementations take turns, so that a noisy machine slows them all alike.
// It prints a table and writes JSON (schema in bench/README.md).
package driver

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/eventpoll/eventpoll/bench/peers"
)

// Options choose what Run measures and for how long.
type Options struct {
	Short    bool          // the short plan: a subset of cases, well under 2 minutes
	Rounds   int           // best of Rounds interleaved runs per case; 0: 2
	Warmup   time.Duration // unmeasured start of each run; 0: the plan's
	Duration time.Duration // measured time of each run; 0: the plan's
	Idle     int           // connections of the idle-memory case; 0: the plan's
	Rate     float64       // requests per second offered in the latency cases; 0: the plan's
	Impls    []string      // implementations to run (names; "c" and "c-uring" for C); empty: all
	Families []string      // case families to run (echo, http, latency, idle, connrate); empty: all
	Wrk      bool          // cross-check the HTTP cases with wrk where installed
	// Engine is the closed-loop generators' engine: "epoll" or "" (a
	// goroutine per CPU the generator may use, each with a block of the
	// connections in an epoll instance of its own, polling where the
	// placement gives the generator CPUs of its own), or "goroutines" (a
	// goroutine per connection on the runtime's poller, which costs the
	// generator more CPU where it shares the CPUs with the server). The
	// open loop (latency cases) is always on epoll.
	Engine string
	// Server is the command that runs a peers server (cmd/peerserver),
	// its flags appended; nil builds cmd/peerserver with the go command.
	Server []string
	// ServerEnv is added to the server's environment.
	ServerEnv []string
	Log       io.Writer // progress lines; nil discards them
}

// Family is a kind of case.
type Family string

const (
	FamilyEcho     Family = "echo"
	FamilyHTTP     Family = "http"
	FamilyIdle     Family = "idle"
	FamilyConnRate Family = "connrate"
	// FamilyLatency is the open loop: echo or HTTP at a fixed offered
	// rate, the same for every server (load.Paced), where the others
	// are closed loops that run each server at its own rate.
	FamilyLatency Family = "latency"
)

// Case is one measurement made against every implementation.
type Case struct {
	Family Family
	Conns  int // connections (connrate: concurrent connecting workers)
	Size   int // echo message bytes
	Depth  int // messages or requests in flight per connection
	// Latency cases: the server they load (echo or HTTP) and the
	// requests per second offered over all connections.
	Proto peers.App
	Rate  float64
}

// App is the protocol the case is served with: idle memory and the
// connection rate use the HTTP server, which every implementation has.
func (c Case) App() peers.App {
	switch c.Family {
	case FamilyEcho:
		return peers.Echo
	case FamilyLatency:
		return c.Proto
	}
	return peers.HTTP
}

// Name is the case as the table shows it, e.g. "echo 4KiB c100 p16", or
// "echo 64B c100 @20k/s" for a latency case (the family is the server's,
// the offered rate follows).
func (c Case) Name() string {
	if c.Family == FamilyLatency {
		closed := c
		closed.Family, closed.Rate = Family(c.Proto), 0
		return closed.Name() + " @" + rateText(c.Rate)
	}
	var b strings.Builder
	b.WriteString(string(c.Family))
	if c.Family == FamilyEcho {
		if c.Size%1024 == 0 {
			fmt.Fprintf(&b, " %dKiB", c.Size/1024)
		} else {
			fmt.Fprintf(&b, " %dB", c.Size)
		}
	}
	switch c.Family {
	case FamilyConnRate:
		fmt.Fprintf(&b, " w%d", c.Conns)
	default:
		fmt.Fprintf(&b, " c%d", c.Conns)
	}
	if c.Depth > 1 {
		fmt.Fprintf(&b, " p%d", c.Depth)
	}
	return b.String()
}

// plan is the cases and timings of a run.
type plan struct {
	cases    []Case
	rounds   int
	warmup   time.Duration
	duration time.Duration
	wrkTime  time.Duration
	// wrkCases are the HTTP cases wrk cross-checks in a placement.
	wrkCases func(Case, placement) bool
}

// connRateWorkers is how many goroutines connect at once in the connection
// rate case: enough to keep an acceptor busy on loopback.
const connRateWorkers = 32

func makePlan(o Options) plan {
	// The default fits in about 3 minutes on 2 CPUs, the short plan in
	// about 1: wrk's runs are whole seconds, and 10,000 idle connections
	// take 2-3 s per server to open and measure.
	p := plan{rounds: 2, warmup: 100 * time.Millisecond, duration: 300 * time.Millisecond, wrkTime: time.Second}
	idle := 10000
	echoConns, sizes, httpConns := []int{10, 100, 1000}, []int{64, 4096}, []int{100, 1000}
	p.wrkCases = func(c Case, _ placement) bool { return c.Conns == 100 }
	if o.Short {
		p.warmup, p.duration = 50*time.Millisecond, 250*time.Millisecond
		idle = 2000
		echoConns, httpConns = []int{100}, []int{100}
		p.wrkCases = func(c Case, pl placement) bool { return c.Conns == 100 && c.Depth == 1 && pl.label == "1" }
	}
	for _, size := range sizes {
		for _, n := range echoConns {
			p.cases = append(p.cases, Case{Family: FamilyEcho, Conns: n, Size: size, Depth: 1})
		}
	}
	for _, n := range httpConns {
		for _, depth := range []int{1, 16} {
			p.cases = append(p.cases, Case{Family: FamilyHTTP, Conns: n, Depth: depth})
		}
	}
	p.cases = append(p.cases, latencyCases(o)...)
	if o.Idle > 0 {
		idle = o.Idle
	}
	p.cases = append(p.cases,
		Case{Family: FamilyIdle, Conns: idle, Depth: 1},
		Case{Family: FamilyConnRate, Conns: connRateWorkers, Depth: 1})
	if len(o.Families) > 0 {
		p.cases = slices.DeleteFunc(p.cases, func(c Case) bool { return !slices.Contains(o.Families, string(c.Family)) })
	}
	if o.Rounds > 0 {
		p.rounds = o.Rounds
	}
	if o.Warmup > 0 {
		p.warmup = o.Warmup
	}
	if o.Duration > 0 {
		p.duration = o.Duration
	}
	return p
}
