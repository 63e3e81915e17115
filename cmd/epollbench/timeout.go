package main

// timeout measures how precisely a timed wait ends: the overshoot (time
// elapsed minus time requested) of waits of 10 us, 100 us, 1 ms and 3.1 ms
// made with nothing ready, for epoll_wait's millisecond timeout, epoll.Wait
// (epoll_pwait2, nanoseconds), WaitDeadline on both clocks, ppoll, a timerfd,
// epoll_pwait2 called raw from Go, and epoll_pwait2 called from C. It then
// replays the QEMU case of seed 000 (timeout_qemu.go).
//
// A timed wait ends when its hrtimer fires, and the kernel lets the timer fire
// up to the thread's timer slack late (50 us by default, prctl
// PR_SET_TIMERSLACK) so that wake-ups can be merged: that slack, not the
// system call, sets the floor of every row unless -slack lowers it.

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/cref"
	"github.com/eventpoll/eventpoll/epoll"
	"golang.org/x/sys/unix"
)

func init() {
	register(experiment{
		Name:    "timeout",
		Summary: "precision of timed waits (epoll_wait ms, epoll_pwait2, ppoll, timerfd, C) and the QEMU loop of 2015",
		Order:   40,
		Run:     timeoutRun,
		Report:  timeoutReport,
	})
}

// The mechanisms, in report order.
const (
	timeoutMechEpollWait = "epoll_wait (ms)"
	timeoutMechWait      = "Wait (epoll_pwait2)"
	timeoutMechMono      = "WaitDeadline Monotonic"
	timeoutMechReal      = "WaitDeadline Realtime"
	timeoutMechPpoll     = "ppoll"
	timeoutMechTimerfd   = "timerfd"
	timeoutMechRaw       = "raw epoll_pwait2 (Go)"
	timeoutMechC         = "C epoll_pwait2"
	timeoutTargetMargin  = 10 * time.Microsecond // target: Wait(100us) median <= C median + 10 us
)

var timeoutMechs = []string{
	timeoutMechEpollWait, timeoutMechWait, timeoutMechMono, timeoutMechReal,
	timeoutMechPpoll, timeoutMechTimerfd, timeoutMechRaw, timeoutMechC,
}

// timeoutStats summarises the overshoots of one mechanism at one request.
type timeoutStats struct {
	Mech    string        `json:"mech"`
	Request time.Duration `json:"request_ns"`
	Samples int           `json:"samples"`
	Min     time.Duration `json:"min_ns"`
	Median  time.Duration `json:"median_ns"`
	P99     time.Duration `json:"p99_ns"`
	Max     time.Duration `json:"max_ns"`
	Early   int           `json:"early"` // waits that returned before the request: must be 0
	Note    string        `json:"note,omitempty"`
}

func timeoutSummarise(mech string, req time.Duration, xs []time.Duration) timeoutStats {
	st := timeoutStats{Mech: mech, Request: req, Samples: len(xs)}
	if len(xs) == 0 {
		return st
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	st.Min, st.Max = s[0], s[len(s)-1]
	st.Median = timeoutPercentile(s, 0.50)
	st.P99 = timeoutPercentile(s, 0.99)
	for _, x := range s {
		if x < 0 {
			st.Early++
		}
	}
	return st
}

// timeoutPercentile returns the q-quantile of sorted s (nearest rank).
func timeoutPercentile(s []time.Duration, q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := int(q*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// timeoutWaiters holds what the Go-side mechanisms wait on: an epoll instance
// with nothing registered (so every wait times out), and a timerfd.
type timeoutWaiters struct {
	ep      *epoll.Instance
	evs     []epoll.Event
	rawEvs  []unix.EpollEvent
	timerfd int
}

func newTimeoutWaiters() (*timeoutWaiters, error) {
	ep, err := epoll.New()
	if err != nil {
		return nil, err
	}
	tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC)
	if err != nil {
		ep.Close()
		return nil, fmt.Errorf("timerfd_create: %w", err)
	}
	return &timeoutWaiters{ep: ep, evs: make([]epoll.Event, 8), rawEvs: make([]unix.EpollEvent, 8), timerfd: tfd}, nil
}

func (w *timeoutWaiters) close() {
	w.ep.Close()
	unix.Close(w.timerfd)
}

// wait makes one timed wait of d with mech and returns how long it took.
func (w *timeoutWaiters) wait(mech string, d time.Duration) (time.Duration, error) {
	switch mech {
	case timeoutMechEpollWait:
		// The millisecond API: a sub-millisecond wait must round up, or it
		// would return early (or poll, for a timeout of 0).
		ms := int((d + time.Millisecond - 1) / time.Millisecond)
		t0 := time.Now()
		for {
			_, err := unix.EpollWait(w.ep.Fd(), w.rawEvs, ms)
			if err == unix.EINTR {
				continue // restarted with the full timeout: only lengthens
			}
			if err != nil {
				return 0, fmt.Errorf("epoll_wait: %w", err)
			}
			return time.Since(t0), nil
		}
	case timeoutMechWait:
		t0 := time.Now()
		_, err := w.ep.Wait(w.evs, d)
		return time.Since(t0), err
	case timeoutMechMono:
		t0 := time.Now()
		_, err := w.ep.WaitDeadline(w.evs, t0.Add(d), epoll.Monotonic)
		return time.Since(t0), err
	case timeoutMechReal:
		// A Realtime deadline is a wall-clock instant, and the wall clock
		// may be stepped or slewed under the wait (a VM's clock is): the
		// wait is then right to end earlier or later on the monotonic
		// clock. So it is timed on the wall clock, Round(0) dropping the
		// monotonic reading: "early" means before the wall clock reached
		// the deadline, which would be a bug.
		t0 := time.Now().Round(0)
		_, err := w.ep.WaitDeadline(w.evs, t0.Add(d), epoll.Realtime)
		return time.Now().Round(0).Sub(t0), err
	case timeoutMechPpoll:
		t0 := time.Now()
		for {
			left := d - time.Since(t0)
			if left <= 0 {
				return time.Since(t0), nil
			}
			ts := unix.NsecToTimespec(int64(left))
			_, err := unix.Ppoll(nil, &ts, nil)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return 0, fmt.Errorf("ppoll: %w", err)
			}
			return time.Since(t0), nil
		}
	case timeoutMechTimerfd:
		its := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
		var buf [8]byte
		t0 := time.Now()
		if err := unix.TimerfdSettime(w.timerfd, 0, &its, nil); err != nil {
			return 0, fmt.Errorf("timerfd_settime: %w", err)
		}
		for {
			_, err := unix.Read(w.timerfd, buf[:])
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return 0, fmt.Errorf("read timerfd: %w", err)
			}
			return time.Since(t0), nil
		}
	case timeoutMechRaw:
		t0 := time.Now()
		for {
			left := d - time.Since(t0)
			if left <= 0 {
				return time.Since(t0), nil
			}
			ts := unix.NsecToTimespec(int64(left))
			_, _, e := unix.Syscall6(unix.SYS_EPOLL_PWAIT2, uintptr(w.ep.Fd()),
				uintptr(unsafe.Pointer(&w.rawEvs[0])), uintptr(len(w.rawEvs)),
				uintptr(unsafe.Pointer(&ts)), 0, 0)
			if e == unix.EINTR {
				continue
			}
			if e != 0 {
				return 0, fmt.Errorf("epoll_pwait2: %w", e)
			}
			return time.Since(t0), nil
		}
	}
	return 0, fmt.Errorf("unknown mechanism %q", mech)
}

// timeoutConfig is what one run measures.
type timeoutConfig struct {
	Requests []time.Duration
	Samples  map[time.Duration]int // samples per request
	Mechs    []string
	Rounds   int           // the samples are taken in this many interleaved rounds
	Slack    time.Duration // 0 leaves the thread's timer slack alone
	QEMU     timeoutQEMUConfig
	Progress func(format string, args ...any)
}

// timeoutResult is a whole run.
type timeoutResult struct {
	Stats []timeoutStats  `json:"stats"`
	QEMU  []timeoutQEMUPt `json:"qemu"`
	Slack time.Duration   `json:"timer_slack_ns"`
	Notes []string        `json:"notes,omitempty"`
	cNote string          // why the C rows are absent
}

func (r *timeoutResult) stat(mech string, req time.Duration) (timeoutStats, bool) {
	for _, s := range r.Stats {
		if s.Mech == mech && s.Request == req && s.Samples > 0 {
			return s, true
		}
	}
	return timeoutStats{}, false
}

// timeoutThreadSlack returns the calling thread's timer slack.
func timeoutThreadSlack() time.Duration {
	v, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		return -1
	}
	return time.Duration(v)
}

func timeoutRunAll(cfg timeoutConfig) (*timeoutResult, error) {
	res := &timeoutResult{}
	err := func() error {
		// One OS thread for all Go-side samples, so they share the timer
		// slack the C program inherits from the thread that forks it.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if cfg.Slack > 0 {
			if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(cfg.Slack), 0, 0, 0); err != nil {
				return fmt.Errorf("prctl(PR_SET_TIMERSLACK): %w", err)
			}
			defer unix.Prctl(unix.PR_SET_TIMERSLACK, 0, 0, 0, 0) // 0 restores the default
		}
		res.Slack = timeoutThreadSlack()
		w, err := newTimeoutWaiters()
		if err != nil {
			return err
		}
		defer w.close()
		// Rounds: every mechanism, the C program included, takes a share
		// of its samples in every round, so that a burst of other work on
		// the machine falls on all of them alike instead of on whichever
		// ran at the time.
		var prog cref.Pwait2
		withC := slices.Contains(cfg.Mechs, timeoutMechC)
		if withC {
			var err error
			if prog, err = cref.BuildPwait2(); err != nil {
				res.cNote = err.Error()
			} else {
				defer prog.Close()
			}
		} else {
			res.cNote = "C reference not run (quick mode, or left out of -mech)"
		}
		xs := map[string]map[time.Duration][]time.Duration{}
		for _, mech := range cfg.Mechs {
			xs[mech] = map[time.Duration][]time.Duration{}
		}
		for round := 0; round < cfg.Rounds; round++ {
			share := map[time.Duration]int{}
			for _, req := range cfg.Requests {
				n := cfg.Samples[req]
				share[req] = n/cfg.Rounds + timeoutBtoi(round < n%cfg.Rounds)
			}
			for _, mech := range cfg.Mechs {
				if mech == timeoutMechC {
					continue
				}
				for _, req := range cfg.Requests {
					for range share[req] {
						el, err := w.wait(mech, req)
						if err != nil {
							return fmt.Errorf("timeout %s %v: %w", mech, req, err)
						}
						xs[mech][req] = append(xs[mech][req], el-req)
					}
				}
			}
			if withC && res.cNote == "" {
				cres, err := prog.Run(share, cfg.Slack, cfg.Requests)
				if err != nil {
					res.cNote = err.Error()
				}
				for req, v := range cres {
					xs[timeoutMechC][req] = append(xs[timeoutMechC][req], v...)
				}
			}
		}
		for _, mech := range cfg.Mechs {
			for _, req := range cfg.Requests {
				st := timeoutSummarise(mech, req, xs[mech][req])
				if mech == timeoutMechC {
					st.Note = res.cNote
				}
				res.Stats = append(res.Stats, st)
				if st.Samples > 0 {
					cfg.Progress("timeout: %-24s %7v: overshoot min %v median %v p99 %v", mech, req,
						timeoutUs(st.Min), timeoutUs(st.Median), timeoutUs(st.P99))
				}
			}
		}
		if withC && res.cNote != "" {
			res.Notes = append(res.Notes, "C epoll_pwait2: "+res.cNote)
		}
		return nil
	}()
	if err != nil {
		return res, err
	}
	if len(cfg.QEMU.Fds) > 0 {
		pts, err := timeoutQEMURun(cfg.QEMU, cfg.Slack, cfg.Progress)
		res.QEMU = pts
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

func timeoutParseDurations(flagName, s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("-%s: %q is not a positive duration", flagName, f)
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-%s: empty list", flagName)
	}
	return out, nil
}

// timeoutSampleCounts gives each request n samples, fewer for long requests
// so that no request takes more than about budget.
// timeoutMinSamples is the fewest samples a request gets, however long it
// is; timeoutSampleCost is what a sample costs beyond its request (the
// wake-up and the overshoot), for fitting samples into the budget.
const (
	timeoutMinSamples = 20
	timeoutSampleCost = 60 * time.Microsecond
)

func timeoutSampleCounts(reqs []time.Duration, n int, budget time.Duration) map[time.Duration]int {
	m := map[time.Duration]int{}
	for _, r := range reqs {
		k := n
		if lim := int(budget / (r + timeoutSampleCost)); k > lim {
			k = max(lim, timeoutMinSamples)
		}
		m[r] = k
	}
	return m
}

func timeoutRun(args []string) error {
	fs := newFlagSet("timeout", "Precision of timed waits (overshoot past 10 us, 100 us, 1 ms, 3.1 ms) for epoll_wait,\nWait, WaitDeadline, ppoll and timerfd, beside C epoll_pwait2; then the QEMU loop of seed 000.")
	reqs := fs.String("req", "10us,100us,1ms,3.1ms", "requested timeouts, comma-separated")
	n := fs.Int("samples", 2000, "waits per mechanism and request (fewer for long requests, see -budget)")
	budget := fs.Duration("budget", 2*time.Second, "time budget per mechanism and request")
	mechs := fs.String("mech", strings.Join(timeoutMechs, ","), "mechanisms, comma-separated")
	rounds := fs.Int("rounds", 5, "interleaved rounds the samples are split into (the C program runs once per round)")
	slack := fs.Duration("slack", 0, "timer slack to set on the measuring thread (0: leave the default, 50us)")
	qfds := fs.String("qemu-fds", "15,85,200", "QEMU loop: descriptors polled per iteration (empty: skip)")
	qd := fs.Duration("qemu-d", 3*time.Second, "QEMU loop: duration per mechanism and size")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := timeoutParseConfig(*reqs, *n, *budget, *rounds, *mechs, *slack, *qfds, *qd)
	if err != nil {
		return err
	}
	cfg.Progress = func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
	res, err := timeoutRunAll(cfg)
	if err != nil {
		return err
	}
	timeoutPrint(res, cfg)
	return nil
}

func timeoutParseConfig(reqs string, n int, budget time.Duration, rounds int, mechs string, slack time.Duration, qfds string, qd time.Duration) (timeoutConfig, error) {
	var cfg timeoutConfig
	var err error
	if cfg.Requests, err = timeoutParseDurations("req", reqs); err != nil {
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
		if r > budget/timeoutMinSamples-timeoutSampleCost { // divided first: no overflow
			return cfg, fmt.Errorf("-req %v: the %d samples every request gets take longer than -budget %v; raise -budget",
				r, timeoutMinSamples, budget)
		}
	}
	cfg.Samples = timeoutSampleCounts(cfg.Requests, n, budget)
	if cfg.Mechs, err = parseNames("mech", mechs, timeoutMechs); err != nil {
		return cfg, err
	}
	cfg.Slack = slack
	if strings.TrimSpace(qfds) != "" {
		if cfg.QEMU.Fds, err = parseInts("qemu-fds", qfds); err != nil {
			return cfg, err
		}
		if qd <= 0 {
			return cfg, fmt.Errorf("-qemu-d: %v is not positive", qd)
		}
		cfg.QEMU.Duration = qd
		cfg.QEMU.Mechs = timeoutQEMUMechs
	}
	return cfg, nil
}

func timeoutPrint(res *timeoutResult, cfg timeoutConfig) {
	fmt.Printf("# timer slack of the measuring thread: %v\n", res.Slack)
	fmt.Printf("%-24s %8s %7s %10s %10s %10s %10s %6s\n", "mechanism", "request", "samples", "min", "median", "p99", "max", "early")
	for _, s := range res.Stats {
		if s.Samples == 0 {
			fmt.Printf("%-24s %8v %7s  %s\n", s.Mech, s.Request, "-", s.Note)
			continue
		}
		fmt.Printf("%-24s %8v %7d %10v %10v %10v %10v %6d\n", s.Mech, s.Request, s.Samples,
			timeoutUs(s.Min), timeoutUs(s.Median), timeoutUs(s.P99), timeoutUs(s.Max), s.Early)
	}
	if w, ok := res.stat(timeoutMechWait, 100*time.Microsecond); ok {
		if c, ok := res.stat(timeoutMechC, 100*time.Microsecond); ok {
			verdict := "met"
			if w.Median > c.Median+timeoutTargetMargin {
				verdict = "NOT met"
			}
			fmt.Printf("# target Wait(100us) median overshoot %v <= C epoll_pwait2 %v + 10us: %s\n",
				timeoutUs(w.Median), timeoutUs(c.Median), verdict)
		}
	}
	if len(res.QEMU) > 0 {
		fmt.Println()
		timeoutQEMUPrint(res.QEMU)
	}
	for _, n := range res.Notes {
		fmt.Println("#", n)
	}
}

// timeoutUs rounds d to a tenth of a microsecond for printing.
func timeoutUs(d time.Duration) time.Duration { return d.Round(100 * time.Nanosecond) }

func timeoutReport(opts reportOptions) (Section, error) {
	reqs := []time.Duration{10 * time.Microsecond, 100 * time.Microsecond, time.Millisecond, 3100 * time.Microsecond}
	cfg := timeoutConfig{
		Requests: reqs,
		Samples:  timeoutSampleCounts(reqs, 500, 400*time.Millisecond),
		Mechs:    timeoutMechs,
		Rounds:   4,
		QEMU:     timeoutQEMUConfig{Fds: []int{15, 85, 200}, Duration: time.Second, Mechs: timeoutQEMUMechs},
		Progress: opts.Progress,
	}
	if opts.Quick {
		// A smoke run builds no C reference (the report's -quick contract);
		// TestTimeoutCProgramReportsOneLinePerRequest covers it.
		cfg.Mechs = slices.DeleteFunc(slices.Clone(timeoutMechs), func(m string) bool { return m == timeoutMechC })
		cfg.Samples = timeoutSampleCounts(reqs, 30, 40*time.Millisecond)
		cfg.Rounds = 2
		cfg.QEMU.Duration = 100 * time.Millisecond
	}
	res, err := timeoutRunAll(cfg)
	if err != nil {
		return Section{}, err
	}
	return timeoutSection(res, cfg), nil
}

func timeoutSection(res *timeoutResult, cfg timeoutConfig) Section {
	var reqs []string
	samples := map[string]int{}
	for _, r := range cfg.Requests {
		reqs = append(reqs, r.String())
		samples[r.String()] = cfg.Samples[r]
	}
	sec := Section{
		Experiment: "timeout",
		Params: map[string]any{
			"requests":      reqs,
			"samples":       samples,
			"mech":          cfg.Mechs,
			"rounds":        cfg.Rounds,
			"timer_slack":   res.Slack.String(),
			"qemu_fds":      cfg.QEMU.Fds,
			"qemu_duration": cfg.QEMU.Duration.String(),
		},
		Raw:   res,
		Notes: append([]string(nil), res.Notes...),
	}
	sec.Notes = append(sec.Notes, fmt.Sprintf(
		"overshoot = elapsed - requested; the thread's timer slack (%v) lets the kernel fire a timer that much late", res.Slack))
	add := func(r Row) {
		r.Experiment = "timeout"
		r.LowerIsBetter = true
		r.ratio()
		sec.Rows = append(sec.Rows, r)
	}
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }

	// The target first.
	hundred := 100 * time.Microsecond
	if w, ok := res.stat(timeoutMechWait, hundred); ok {
		r := Row{Case: "target: Wait(100us) median overshoot", Ours: us(w.Median), Unit: "us",
			RefName: "C epoll_pwait2 median + 10 us"}
		if c, ok := res.stat(timeoutMechC, hundred); ok {
			r.Ref = us(c.Median + timeoutTargetMargin)
		} else {
			r.RefNote = res.cNote
		}
		add(r)
	}
	// Each mechanism's median overshoot beside C epoll_pwait2 at the same request.
	for _, req := range cfg.Requests {
		c, haveC := res.stat(timeoutMechC, req)
		for _, mech := range cfg.Mechs {
			s, ok := res.stat(mech, req)
			if !ok {
				continue
			}
			r := Row{Case: fmt.Sprintf("%s %v median overshoot", mech, req), Ours: us(s.Median), Unit: "us"}
			if mech != timeoutMechC {
				r.RefName = "C epoll_pwait2"
				if haveC {
					r.Ref = us(c.Median)
				} else {
					r.RefNote = res.cNote
				}
			}
			if s.Early > 0 {
				r.RefNote = strings.TrimPrefix(r.RefNote+fmt.Sprintf("; %d of %d returned early", s.Early, s.Samples), "; ")
			}
			add(r)
		}
	}
	timeoutQEMURows(res.QEMU, add)

	ch := Chart{
		File:   "timeout.svg",
		Title:  "timed wait precision: median overshoot by requested timeout",
		XLabel: "requested timeout (us)",
		YLabel: "median overshoot (us)",
		LogX:   true,
		LogY:   true,
	}
	for _, mech := range cfg.Mechs {
		s := Series{Name: mech}
		for _, req := range cfg.Requests {
			if st, ok := res.stat(mech, req); ok && st.Median > 0 {
				s.X = append(s.X, us(req))
				s.Y = append(s.Y, us(st.Median))
			}
		}
		if len(s.X) > 0 {
			ch.Series = append(ch.Series, s)
		}
	}
	sec.Charts = []Chart{ch}
	if qc, ok := timeoutQEMUChart(res.QEMU); ok {
		sec.Charts = append(sec.Charts, qc)
	}
	return sec
}

func timeoutBtoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
