// Package timeout measures how precisely a timed wait ends: the overshoot
// (time elapsed minus time requested) of waits of 10 us, 100 us, 1 ms and
// 3.1 ms made with nothing ready, for epoll_wait's millisecond timeout,
// epoll.Wait (epoll_pwait2, nanoseconds), WaitDeadline on both clocks,
// ppoll, a timerfd, epoll_pwait2 called raw from Go, and epoll_pwait2
// called from C. It then replays the QEMU case of seed 000 (qemu.go).
//
// A timed wait ends when its hrtimer fires, and the kernel lets the timer
// fire up to the thread's timer slack late (50 us by default, prctl
// PR_SET_TIMERSLACK) so that wake-ups can be merged: that slack, not the
// system call, sets the floor of every row unless -slack lowers it.
package timeout

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
)

// Experiment is `epollbench timeout` and the timeout section of the report.
var Experiment = harness.Study[config, *result]{
	Name:    "timeout",
	Summary: "precision of timed waits (epoll_wait ms, epoll_pwait2, ppoll, timerfd, C) and the QEMU loop of 2015",
	About: "Precision of timed waits (overshoot past 10 us, 100 us, 1 ms, 3.1 ms) for epoll_wait,\n" +
		"Wait, WaitDeadline, ppoll and timerfd, beside C epoll_pwait2; then the QEMU loop of seed 000.",
	Flags:  flags,
	Config: reportConfig,
}.Experiment()

// The mechanisms, in report order.
const (
	mechEpollWait = "epoll_wait (ms)"
	mechWait      = "Wait (epoll_pwait2)"
	mechMono      = "WaitDeadline Monotonic"
	mechReal      = "WaitDeadline Realtime"
	mechPpoll     = "ppoll"
	mechTimerfd   = "timerfd"
	mechRaw       = "raw epoll_pwait2 (Go)"
	mechC         = "C epoll_pwait2"
)

// allMechs are the mechanisms -mech chooses from.
var allMechs = []string{
	mechEpollWait, mechWait, mechMono, mechReal,
	mechPpoll, mechTimerfd, mechRaw, mechC,
}

// targetMargin is the timeout target's: Wait(100us)'s median overshoot
// at most C's plus this.
const targetMargin = 10 * time.Microsecond

// config is what one run measures.
type config struct {
	Requests []time.Duration
	Samples  map[time.Duration]int // samples per request
	Mechs    []string
	Rounds   int           // the samples are taken in this many interleaved rounds
	Slack    time.Duration // 0 leaves the thread's timer slack alone
	QEMU     qemuConfig
	Log      harness.Log
}

// result is a whole run.
type result struct {
	Stats []stats       `json:"stats"`
	QEMU  []qemuPoint   `json:"qemu"`
	Slack time.Duration `json:"timer_slack_ns"`
	Notes []string      `json:"notes,omitempty"`
	cNote string        // why the C rows are absent
}

// sampleCounts gives each request n samples, fewer for long requests
// so that no request takes more than about budget.
// minSamples is the fewest samples a request gets, however long it
// is; sampleCost is what a sample costs beyond its request (the
// wake-up and the overshoot), for fitting samples into the budget.
const (
	minSamples = 20
	sampleCost = 60 * time.Microsecond
)

func sampleCounts(reqs []time.Duration, n int, budget time.Duration) map[time.Duration]int {
	m := map[time.Duration]int{}
	for _, r := range reqs {
		k := n
		if lim := int(budget / (r + sampleCost)); k > lim {
			k = max(lim, minSamples)
		}
		m[r] = k
	}
	return m
}

func flags(fs *flag.FlagSet) func(harness.Log) (config, error) {
	reqs := fs.String("req", "10us,100us,1ms,3.1ms", "requested timeouts, comma-separated")
	n := fs.Int("samples", 2000, "waits per mechanism and request (fewer for long requests, see -budget)")
	budget := fs.Duration("budget", 2*time.Second, "time budget per mechanism and request")
	mechs := fs.String("mech", strings.Join(allMechs, ","), "mechanisms, comma-separated")
	rounds := fs.Int("rounds", 5, "interleaved rounds the samples are split into (the C program runs once per round)")
	slack := fs.Duration("slack", 0, "timer slack to set on the measuring thread (0: leave the default, 50us)")
	qfds := fs.String("qemu-fds", "15,85,200", "QEMU loop: descriptors polled per iteration (empty: skip)")
	qd := fs.Duration("qemu-d", 3*time.Second, "QEMU loop: duration per mechanism and size")
	return func(log harness.Log) (config, error) {
		cfg, err := parseConfig(*reqs, *n, *budget, *rounds, *mechs, *slack, *qfds, *qd)
		cfg.Log = log
		return cfg, err
	}
}

func parseConfig(reqs string, n int, budget time.Duration, rounds int, mechs string, slack time.Duration, qfds string, qd time.Duration) (config, error) {
	var cfg config
	var err error
	if cfg.Requests, err = harness.Durations("req", reqs); err != nil {
		return cfg, err
	}
	if n <= 0 {
		return cfg, fmt.Errorf("-samples: %d is not positive", n)
	}
	if budget <= 0 {
		return cfg, fmt.Errorf("-budget: %v is not positive", budget)
	}
	if rounds <= 0 {
		return cfg, fmt.Errorf("-rounds: %d is not positive", rounds)
	}
	cfg.Rounds = rounds
	if slack < 0 {
		return cfg, fmt.Errorf("-slack: %v is negative", slack)
	}
	for _, r := range cfg.Requests {
		if r > budget/minSamples-sampleCost { // divided first: no overflow
			return cfg, fmt.Errorf("-req %v: the %d samples every request gets take longer than -budget %v; raise -budget",
				r, minSamples, budget)
		}
	}
	cfg.Samples = sampleCounts(cfg.Requests, n, budget)
	if cfg.Mechs, err = harness.Names("mech", mechs, allMechs); err != nil {
		return cfg, err
	}
	cfg.Slack = slack
	if strings.TrimSpace(qfds) != "" {
		if cfg.QEMU.Fds, err = harness.Ints("qemu-fds", qfds); err != nil {
			return cfg, err
		}
		if qd <= 0 {
			return cfg, fmt.Errorf("-qemu-d: %v is not positive", qd)
		}
		cfg.QEMU.Duration = qd
		cfg.QEMU.Mechs = qemuMechs
	}
	return cfg, nil
}

// Print writes the overshoots of every mechanism at every request,
// the target's verdict, the QEMU loop and the notes.
func (res *result) Print(out io.Writer, _ config) {
	fmt.Fprintf(out, "# timer slack of the measuring thread: %v\n", res.Slack)
	fmt.Fprintf(out, "%-24s %8s %7s %10s %10s %10s %10s %6s\n", "mechanism", "request", "samples", "min", "median", "p99", "max", "early")
	for _, s := range res.Stats {
		if s.Samples == 0 {
			fmt.Fprintf(out, "%-24s %8v %7s  %s\n", s.Mech, s.Request, "-", s.Note)
			continue
		}
		fmt.Fprintf(out, "%-24s %8v %7d %10v %10v %10v %10v %6d\n", s.Mech, s.Request, s.Samples,
			rounded(s.Min), rounded(s.Median), rounded(s.P99), rounded(s.Max), s.Early)
	}
	if w, ok := res.stat(mechWait, 100*time.Microsecond); ok {
		if c, ok := res.stat(mechC, 100*time.Microsecond); ok {
			r := harness.Row{Ours: us(w.Median), Ref: us(c.Median + targetMargin), LowerIsBetter: true, Target: harness.AtLeast(1)}
			r.Finish()
			fmt.Fprintf(out, "# target Wait(100us) median overshoot %v <= C epoll_pwait2 %v + 10us: %s\n",
				rounded(w.Median), rounded(c.Median), r.Target.Verdict)
		}
	}
	if len(res.QEMU) > 0 {
		fmt.Fprintln(out)
		printQEMU(out, res.QEMU)
	}
	for _, n := range res.Notes {
		fmt.Fprintln(out, "#", n)
	}
}

// rounded rounds d to a tenth of a microsecond for printing.
func rounded(d time.Duration) time.Duration { return d.Round(100 * time.Nanosecond) }
