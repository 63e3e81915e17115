// Package http reproduces the dphttpd measurement of seed 001 (2002): a
// one-thread static HTTP server holding N idle "dead" connections open
// while a load generator measures its reply rate. A poll(2) server hands
// the kernel every connection on every iteration, dead ones included, so
// its rate falls as N grows; an epoll server's wait costs only the ready
// connections. The 2002 figures: epoll ~13.4k replies/s both with no dead
// connections and with 60,000; poll down to 414 replies/s.
package http

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
)

// Experiment is `epollbench http` and the http section of the report.
var Experiment = harness.Study[config, *result]{
	Name:    "http",
	Summary: "dphttpd-like one-thread HTTP server with idle connections: replies/s for poll, epoll and package server (2002)",
	About: "A dphttpd-like one-thread HTTP/1.1 server on loopback holding idle \"dead\" connections\n" +
		"open, driven by a closed-loop load generator: replies/s per engine and number of dead\n" +
		"connections (seed 001). Engines: poll(2) and epoll on raw system calls, and reactor,\n" +
		"the same server written on package server with one loop.",
	Flags:  flags,
	Config: reportConfig,
}.Experiment()

const (
	seedEpoll     = 13400 // replies/s, at 0 and at 60,000 dead connections
	seedPollBig   = 414   // replies/s at 60,000 dead connections
	seedDead      = 60000
	fdMargin      = 64
	request       = "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: epollbench\r\n\r\n"
	bodySize      = 1024
	engineEpoll   = "epoll"
	enginePoll    = "poll"
	engineReactor = "reactor" // package server on one loop
	requestBuf    = 1024      // a request header must end within this many bytes
	dialBatch     = 512       // dead connections dialled before waiting for the server to accept them
	acceptWait    = 10 * time.Second
)

var allEngines = []string{enginePoll, engineEpoll, engineReactor}

// response is the one static page every request gets.
var response = func() []byte {
	body := bytes.Repeat([]byte("x"), bodySize)
	hdr := fmt.Sprintf("HTTP/1.1 200 OK\r\nServer: epollbench\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n", len(body))
	return append([]byte(hdr), body...)
}()

// config is what one run measures.
type config struct {
	Dead     []int
	Engines  []string
	Conc     int           // load-generator connections, each with one request in flight
	Duration time.Duration // measuring time per point
	Windows  int           // Duration is cut into this many windows; the best is kept
	Warmup   time.Duration
	Log      harness.Log
}

// point is one engine at one number of dead connections.
type point struct {
	Engine  string    `json:"engine"`
	Dead    int       `json:"dead"`
	Replies int64     `json:"replies"`
	Seconds float64   `json:"seconds"`
	Rate    float64   `json:"replies_per_s"` // the best window's
	Mean    float64   `json:"mean_replies_per_s"`
	Windows []float64 `json:"windows"` // each window's rate
	Errors  int64     `json:"server_errors"`
}

type result struct {
	Points []point  `json:"points"`
	Dead   []int    `json:"dead"` // as measured, after any cap
	Notes  []string `json:"notes,omitempty"`
}

func (r *result) rate(engine string, dead int) float64 {
	for _, p := range r.Points {
		if p.Engine == engine && p.Dead == dead {
			return p.Rate
		}
	}
	return 0
}

func flags(fs *flag.FlagSet) func(harness.Log) (config, error) {
	dead := fs.String("dead", "0,1000,5000,10000,19000", "numbers of idle connections held open, comma-separated")
	engines := fs.String("engine", strings.Join(allEngines, ","), "server engines, comma-separated")
	conc := fs.Int("c", 8, "load-generator connections, one request in flight on each")
	d := fs.Duration("d", 3*time.Second, "measuring time per engine and number of dead connections")
	windows := fs.Int("windows", 6, "windows the measuring time is cut into; the best window's rate is reported")
	warm := fs.Duration("warmup", 300*time.Millisecond, "untimed warm-up per point")
	return func(log harness.Log) (config, error) {
		cfg, err := parseConfig(*dead, *engines, *conc, *d, *windows, *warm)
		cfg.Log = log
		return cfg, err
	}
}

// reportConfig is the standard report's configuration.
func reportConfig(opts harness.Options) config {
	cfg := config{
		Dead:     []int{0, 1000, 10000},
		Engines:  allEngines,
		Conc:     8,
		Duration: 2 * time.Second,
		Windows:  4,
		Warmup:   200 * time.Millisecond,
		Log:      opts.Log,
	}
	if opts.Quick {
		cfg.Dead = []int{0, 200}
		cfg.Conc = 4
		cfg.Duration = 150 * time.Millisecond
		cfg.Windows = 2
		cfg.Warmup = 30 * time.Millisecond
	}
	return cfg
}

func parseConfig(dead, engines string, conc int, d time.Duration, windows int, warm time.Duration) (config, error) {
	var cfg config
	var err error
	for _, f := range strings.Split(dead, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		var n int
		if _, err := fmt.Sscanf(f, "%d", &n); err != nil || n < 0 || fmt.Sprint(n) != f {
			return cfg, fmt.Errorf("-dead: %q is not a non-negative integer", f)
		}
		cfg.Dead = append(cfg.Dead, n)
	}
	if len(cfg.Dead) == 0 {
		return cfg, errors.New("-dead: empty list")
	}
	if cfg.Engines, err = harness.Names("engine", engines, allEngines); err != nil {
		return cfg, err
	}
	if conc <= 0 || conc > 1000 {
		return cfg, fmt.Errorf("-c: %d is not in 1..1000", conc)
	}
	if d <= 0 {
		return cfg, fmt.Errorf("-d: %v is not positive", d)
	}
	if windows <= 0 || windows > 1000 {
		return cfg, fmt.Errorf("-windows: %d is not in 1..1000", windows)
	}
	if warm < 0 {
		return cfg, fmt.Errorf("-warmup: %v is negative", warm)
	}
	cfg.Conc, cfg.Duration, cfg.Windows, cfg.Warmup = conc, d, windows, warm
	return cfg, nil
}

// Print writes replies/s per engine, one row per number of dead
// connections, and what the run noted.
func (res *result) Print(out io.Writer, cfg config) {
	fmt.Fprintf(out, "# one server thread, %d load connections (closed loop), %d-byte page, loopback\n", cfg.Conc, len(response))
	fmt.Fprintf(out, "%8s", "dead")
	for _, e := range cfg.Engines {
		fmt.Fprintf(out, " %18s", e+" replies/s")
	}
	// A ratio's column is there when both its engines are.
	type ratio struct{ name, num, den string }
	var ratios []ratio
	for _, r := range []ratio{{"epoll/poll", engineEpoll, enginePoll}, {"reactor/epoll", engineReactor, engineEpoll}} {
		if slices.Contains(cfg.Engines, r.num) && slices.Contains(cfg.Engines, r.den) {
			ratios = append(ratios, r)
			fmt.Fprintf(out, " %13s", r.name)
		}
	}
	fmt.Fprintln(out)
	for _, d := range res.Dead {
		fmt.Fprintf(out, "%8d", d)
		for _, e := range cfg.Engines {
			fmt.Fprintf(out, " %18.0f", res.rate(e, d))
		}
		for _, r := range ratios {
			if a, b := res.rate(r.num, d), res.rate(r.den, d); a > 0 && b > 0 {
				fmt.Fprintf(out, " %13.2f", a/b)
			} else {
				fmt.Fprintf(out, " %13s", "-")
			}
		}
		fmt.Fprintln(out)
	}
	if len(res.Dead) > 1 {
		lo, hi := res.Dead[0], res.Dead[len(res.Dead)-1]
		for _, e := range cfg.Engines {
			if a, b := res.rate(e, lo), res.rate(e, hi); a > 0 && b > 0 {
				fmt.Fprintf(out, "# %s: dead=%d / dead=%d = %.3f\n", e, hi, lo, b/a)
			}
		}
	}
	for _, n := range res.Notes {
		fmt.Fprintln(out, "#", n)
	}
	fmt.Fprintf(out, "# 2002 (seed 001): epoll ~%d replies/s at 0 and %d dead connections; poll %d at %d\n",
		seedEpoll, seedDead, seedPollBig, seedDead)
}
