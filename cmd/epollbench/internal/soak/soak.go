// Package soak is epollbench's long reliability run: an echo server on
// package server, in every mode and on every engine in turn, held under
// the chaos package's hostile client mix for as long as asked, with faults
// injected phase by phase (descriptor exhaustion, slow readers at the
// write limits, handler panics, a shutdown and restart in the middle of
// traffic). It counts what must never happen, a byte lost or delivered to
// the wrong connection, and what the server held while it happened.
//
// The server runs in a child process (this binary re-run, see Child), so
// that its descriptor limit can be lowered without starving the clients,
// and its heap, descriptors and goroutines are its own.
package soak

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
	"github.com/eventpoll/eventpoll/internal/chaos"
	"github.com/eventpoll/eventpoll/loop"
	"github.com/eventpoll/eventpoll/server"
)

// Experiment is the soak subcommand; it has no part in the standard
// report.
var Experiment = harness.Experiment{
	Name:    "soak",
	Summary: "hours of hostile clients and injected faults; counts what was lost",
	About: `soak serves a framed echo on package server, rotating through its modes
(multi-queue, shared-queue, acceptor) and engines (epoll, ring, ring with
io_uring forced off), and drives it with a seeded mix of well-behaved and
hostile clients (internal/chaos) for -d, in phases of -phase, each with one
fault: none, handler panics, slow readers at the write limits, a Shutdown
and restart in the middle of traffic, or descriptor exhaustion (the server's
RLIMIT_NOFILE lowered while clients keep connecting). It prints a line
every -period and a table at the end, and exits 1 when a behaved client's
frame was lost, torn or misdelivered, a malformed one answered, or a
Shutdown left descriptors or goroutines behind.`,
	Flags: flags,
}

// Config is a soak run.
type Config struct {
	Duration    time.Duration
	Phase       time.Duration // one phase's length; shortened so that every fault runs once
	Period      time.Duration // between progress lines
	Seed        uint64
	Concurrency int    // clients at once
	JSON        string // file for the results, "" for none
}

func flags(fs *flag.FlagSet) harness.Runner {
	var cfg Config
	fs.DurationVar(&cfg.Duration, "d", 10*time.Minute, "how long to run")
	fs.DurationVar(&cfg.Phase, "phase", 20*time.Second, "length of one phase (one server, one fault)")
	fs.DurationVar(&cfg.Period, "period", 10*time.Second, "time between progress lines")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the client mix and the faults; a failure replays with it")
	fs.IntVar(&cfg.Concurrency, "c", 48, "clients at once")
	fs.StringVar(&cfg.JSON, "json", "", "write the results as JSON to this file")
	return func(out io.Writer, log harness.Log) error {
		sum, err := Run(context.Background(), cfg, out, log)
		if err != nil {
			return err
		}
		sum.Table(out)
		if cfg.JSON != "" {
			b, _ := json.MarshalIndent(sum, "", "  ")
			if err := os.WriteFile(cfg.JSON, append(b, '\n'), 0o644); err != nil {
				return err
			}
		}
		if bad := sum.Failures(); len(bad) > 0 {
			return fmt.Errorf("%d failures: %v", len(bad), bad)
		}
		return nil
	}
}

// The faults, one per phase in turn.
const (
	faultNone    = "none"
	faultPanics  = "panics"
	faultSlow    = "slow-readers"
	faultRestart = "restart"
	faultEMFILE  = "emfile"
)

var faults = []string{faultNone, faultPanics, faultSlow, faultRestart, faultEMFILE}

var modes = []server.Mode{server.MultiQueue, server.SharedQueue, server.Acceptor}

// engines: the ring with io_uring forced off runs the epoll fallback
// through the ring engine's own choice.
var engines = []struct {
	name    string
	engine  loop.Engine
	noUring bool
}{
	{"epoll", loop.EngineEpoll, false},
	{"ring", loop.EngineRing, false},
	{"ring, io_uring off", loop.EngineRing, true},
}

// The server's limits in every phase: small, so that the clients reach
// them.
const (
	loops      = 2
	readBuffer = 16 << 10
	readLimit  = 64 << 10
	writeHigh  = 64 << 10
	writeLow   = 16 << 10
	maxFrame   = 32 << 10
	maxPayload = 1 << 10
	emfileRoom = 16 // descriptors the server has in a descriptor-exhaustion phase
)

// phasePlan is one phase: which server, which fault.
type phasePlan struct {
	N       int
	Mode    string
	Engine  string
	Fault   string
	mode    server.Mode
	engine  loop.Engine
	noUring bool
}

func plan(i int) phasePlan {
	e := engines[(i/len(modes))%len(engines)]
	m := modes[i%len(modes)]
	return phasePlan{N: i + 1, Mode: m.String(), Engine: e.name, Fault: faults[i%len(faults)],
		mode: m, engine: e.engine, noUring: e.noUring}
}

// weights is the client mix of a phase: every behaviour, with slow
// readers (never-read, one-byte reads, deep pipelines) dominant in the
// slow-reader phase.
func weights(fault string) map[chaos.Behaviour]int {
	w := map[chaos.Behaviour]int{
		chaos.Normal: 6, chaos.OneByteReads: 1, chaos.HalfClose: 2, chaos.DeepPipeline: 1, chaos.Burst: 1,
		chaos.Slowloris: 1, chaos.NeverRead: 1, chaos.ResetMidRequest: 1, chaos.ResetMidResponse: 1,
		chaos.ConnectClose: 1, chaos.Oversized: 1, chaos.Malformed: 1,
	}
	if fault == faultSlow {
		w[chaos.NeverRead], w[chaos.OneByteReads], w[chaos.DeepPipeline] = 4, 4, 3
	}
	return w
}
