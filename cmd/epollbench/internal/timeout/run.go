package timeout

import (
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/cref"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
	"golang.org/x/sys/unix"
)

// stats summarises the overshoots of one mechanism at one request.
type stats struct {
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

func summarise(mech string, req time.Duration, xs []time.Duration) stats {
	st := stats{Mech: mech, Request: req, Samples: len(xs)}
	if len(xs) == 0 {
		return st
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	st.Min, st.Max = s[0], s[len(s)-1]
	st.Median = harness.Percentile(s, 0.50)
	st.P99 = harness.Percentile(s, 0.99)
	for _, x := range s {
		if x < 0 {
			st.Early++
		}
	}
	return st
}

func (r *result) stat(mech string, req time.Duration) (stats, bool) {
	for _, s := range r.Stats {
		if s.Mech == mech && s.Request == req && s.Samples > 0 {
			return s, true
		}
	}
	return stats{}, false
}

// threadSlack returns the calling thread's timer slack.
func threadSlack() time.Duration {
	v, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		return -1
	}
	return time.Duration(v)
}

// Run takes every mechanism's samples at every request, then replays
// the QEMU loop.
func (cfg config) Run() (*result, error) {
	res := &result{}
	if err := sample(cfg, res); err != nil {
		return res, err
	}
	if len(cfg.QEMU.Fds) > 0 {
		pts, err := runQEMU(cfg.QEMU, cfg.Slack, cfg.Log)
		res.QEMU = pts
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// sample takes the samples on one OS thread, so that they share the timer
// slack the C program inherits from the thread that forks it, in rounds:
// every mechanism, the C program included, takes a share of its samples in
// every round, so that a burst of other work on the machine falls on all
// of them alike instead of on whichever ran at the time.
func sample(cfg config, res *result) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if cfg.Slack > 0 {
		if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(cfg.Slack), 0, 0, 0); err != nil {
			return fmt.Errorf("prctl(PR_SET_TIMERSLACK): %w", err)
		}
		defer unix.Prctl(unix.PR_SET_TIMERSLACK, 0, 0, 0, 0) // 0 restores the default
	}
	res.Slack = threadSlack()
	w, err := newWaiters()
	if err != nil {
		return err
	}
	defer w.close()
	var prog cref.Pwait2
	withC := slices.Contains(cfg.Mechs, mechC)
	if withC {
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
			share[req] = n/cfg.Rounds + btoi(round < n%cfg.Rounds)
		}
		if err := w.round(cfg, share, xs); err != nil {
			return err
		}
		if withC && res.cNote == "" {
			cres, err := prog.Run(share, cfg.Slack, cfg.Requests)
			if err != nil {
				res.cNote = err.Error()
			}
			for req, v := range cres {
				xs[mechC][req] = append(xs[mechC][req], v...)
			}
		}
	}
	for _, mech := range cfg.Mechs {
		for _, req := range cfg.Requests {
			st := summarise(mech, req, xs[mech][req])
			if mech == mechC {
				st.Note = res.cNote
			}
			res.Stats = append(res.Stats, st)
			if st.Samples > 0 {
				cfg.Log.Printf("timeout: %-24s %7v: overshoot min %v median %v p99 %v", mech, req,
					rounded(st.Min), rounded(st.Median), rounded(st.P99))
			}
		}
	}
	if withC && res.cNote != "" {
		res.Notes = append(res.Notes, "C epoll_pwait2: "+res.cNote)
	}
	return nil
}

// round takes one round's share of samples of every Go-side mechanism and
// adds their overshoots to xs.
func (w *waiters) round(cfg config, share map[time.Duration]int, xs map[string]map[time.Duration][]time.Duration) error {
	for _, mech := range cfg.Mechs {
		if mech == mechC {
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
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
