// Package pipetest reproduces the 2002 LSE benchmark of the same name
// (seed 001): N pipes joined in a ring and one token passed around it by a
// single thread. Each pass is one wait for readiness, one read and one
// write, so the rate measures what a wait costs when one descriptor out of
// N is ready. poll(2) and select(2) hand the kernel all N descriptors on
// every call and scan them all again on return; epoll keeps the interest
// set in the kernel and returns only the ready one. The 2002 figures: epoll
// 289k passes/s at 10 pipes and 270k at 16,000; poll 98k at 10 and 38 at
// 16,000.
package pipetest

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
)

// Experiment is `epollbench pipetest` and the pipetest section of the
// report.
var Experiment = study.Experiment()

// study is the experiment's parts: its tests build sections with it.
var study = harness.Study[config, *result]{
	Name:    "pipetest",
	Summary: "N pipes in a ring, one token: passes/s for poll, select, epoll (LSE 2002)",
	About: "The 2002 LSE pipetest (seed 001): one token passed around N pipes; passes/s for\n" +
		"poll, select, epoll and the ring as N grows, beside a C program running the same ring.",
	Flags:  flags,
	Config: reportConfig,
}

// The 2002 LSE figures quoted in the brief of seed 001 (passes per second).
const (
	seedN        = 16000
	seedEpoll10  = 289000
	seedEpollBig = 270000
	seedPoll10   = 98000
	seedPollBig  = 38
	targetFlat   = 0.8 // epoll(Nmax) >= 0.8 x epoll(10): the row's ratio to it must reach 1
	fdMargin     = 64  // descriptors kept free for the runtime, epoll instances, stdio
)

func flags(fs *flag.FlagSet) func(harness.Log) (config, error) {
	ns := fs.String("n", "10,100,500,1000,5000,10000,16000,50000,100000", "numbers of pipes in the ring, comma-separated")
	segment := fs.Int("segment", 0, "cut rings larger than this into descriptor tables of this many pipes (0: only rings too large for one table)")
	mechs := fs.String("mech", strings.Join(mechNames(), ","), "mechanisms to measure, comma-separated")
	d := fs.Duration("d", 2*time.Second, "measuring time per mechanism and N, split into rounds")
	rounds := fs.Int("rounds", 5, "rounds per N; each mechanism runs once per round and its best round is kept")
	warm := fs.Duration("warmup", 20*time.Millisecond, "untimed warm-up before each round")
	withC := fs.Bool("C", true, "also run the C reference of the same ring, direct and epoll (needs gcc)")
	return func(log harness.Log) (config, error) {
		cfg, err := parseConfig(*ns, *mechs, *d, *rounds, *warm, *segment)
		cfg.C, cfg.Log = *withC, log
		return cfg, err
	}
}

// reportConfig is the standard report's configuration.
func reportConfig(opts harness.Options) config {
	cfg := config{
		Ns:       []int{10, 100, 1000, 9000, 16000, 100000},
		Mechs:    mechNames(),
		Duration: 600 * time.Millisecond,
		Rounds:   4,
		Warmup:   10 * time.Millisecond,
		Log:      opts.Log,
		C:        true,
	}
	if opts.Quick {
		cfg.C = false
		cfg.Ns = []int{10, 100, 1000}
		cfg.Duration = 60 * time.Millisecond
		cfg.Rounds = 2
		cfg.Warmup = 2 * time.Millisecond
	}
	return cfg
}

func parseConfig(ns, mechs string, d time.Duration, rounds int, warm time.Duration, segment int) (config, error) {
	var cfg config
	var err error
	if cfg.Ns, err = harness.Ints("n", ns); err != nil {
		return cfg, err
	}
	if cfg.Mechs, err = harness.Names("mech", mechs, mechNames()); err != nil {
		return cfg, err
	}
	if d <= 0 {
		return cfg, fmt.Errorf("-d: %v is not a positive duration", d)
	}
	if rounds <= 0 {
		return cfg, fmt.Errorf("-rounds: %d is not positive", rounds)
	}
	if warm < 0 {
		return cfg, fmt.Errorf("-warmup: %v is negative", warm)
	}
	if segment < 0 || segment == 1 {
		return cfg, fmt.Errorf("-segment: %d is not 0 (automatic) or at least 2 pipes", segment)
	}
	cfg.Duration, cfg.Rounds, cfg.Warmup, cfg.Segment = d, rounds, warm, segment
	return cfg, nil
}
