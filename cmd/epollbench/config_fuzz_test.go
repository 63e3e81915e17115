package main

import (
	"slices"
	"testing"
	"time"
)

// The subcommands' argument checks: whatever the flags, a check either
// refuses with an error or returns a configuration every experiment can run
// (no zero or negative count or duration, no unknown name), and never
// panics.

func FuzzPipetestParseConfig(f *testing.F) {
	f.Add("10,100", "epoll,poll", int64(time.Second), 5, int64(time.Millisecond), 0)
	f.Add("1_000, 100000", "direct", int64(1), 1, int64(0), 2)
	f.Add(",,", "kqueue", int64(-1), 0, int64(-1), 1)
	f.Fuzz(func(t *testing.T, ns, mechs string, d int64, rounds int, warm int64, segment int) {
		cfg, err := pipetestParseConfig(ns, mechs, time.Duration(d), rounds, time.Duration(warm), segment)
		if err != nil {
			return
		}
		if len(cfg.Ns) == 0 || len(cfg.Mechs) == 0 || cfg.Duration <= 0 || cfg.Rounds <= 0 || cfg.Warmup < 0 ||
			cfg.Segment < 0 || cfg.Segment == 1 {
			t.Fatalf("accepted %+v", cfg)
		}
		for _, n := range cfg.Ns {
			if n <= 0 {
				t.Fatalf("accepted N=%d", n)
			}
		}
		for _, m := range cfg.Mechs {
			if !slices.Contains(pipetestMechNames(), m) {
				t.Fatalf("accepted mechanism %q", m)
			}
		}
	})
}

func FuzzHTTPParseConfig(f *testing.F) {
	f.Add("0,1000,10000", "poll,epoll", 8, int64(time.Second), 6, int64(0))
	f.Add("-1", "epoll", 0, int64(0), 0, int64(-1))
	f.Add("01", "select", 1001, int64(1), 1001, int64(1))
	f.Fuzz(func(t *testing.T, dead, engines string, conc int, d int64, windows int, warm int64) {
		cfg, err := httpParseConfig(dead, engines, conc, time.Duration(d), windows, time.Duration(warm))
		if err != nil {
			return
		}
		if len(cfg.Dead) == 0 || len(cfg.Engines) == 0 || cfg.Conc < 1 || cfg.Conc > 1000 ||
			cfg.Duration <= 0 || cfg.Windows < 1 || cfg.Windows > 1000 || cfg.Warmup < 0 {
			t.Fatalf("accepted %+v", cfg)
		}
		for _, n := range cfg.Dead {
			if n < 0 {
				t.Fatalf("accepted %d dead connections", n)
			}
		}
		for _, e := range cfg.Engines {
			if !slices.Contains(httpEngines, e) {
				t.Fatalf("accepted engine %q", e)
			}
		}
	})
}

func FuzzTimeoutParseConfig(f *testing.F) {
	f.Add("10us,100us,1ms,3.1ms", 2000, int64(2*time.Second), 5, "Wait,ppoll", int64(0), "15,85,200", int64(time.Second))
	f.Add("0", 0, int64(0), 0, "", int64(-1), "x", int64(0))
	f.Add("1h", 1, int64(1), 1, "timerfd", int64(50*time.Microsecond), "", int64(-1))
	f.Add("2562047h", 1, int64(time.Hour), 1, "timerfd", int64(0), "", int64(0))
	f.Fuzz(func(t *testing.T, reqs string, n int, budget int64, rounds int, mechs string, slack int64, qfds string, qd int64) {
		cfg, err := timeoutParseConfig(reqs, n, time.Duration(budget), rounds, mechs, time.Duration(slack), qfds, time.Duration(qd))
		if err != nil {
			return
		}
		if len(cfg.Requests) == 0 || len(cfg.Mechs) == 0 || cfg.Rounds <= 0 || cfg.Slack < 0 {
			t.Fatalf("accepted %+v", cfg)
		}
		for _, r := range cfg.Requests {
			if r <= 0 {
				t.Fatalf("accepted request %v", r)
			}
			if k := cfg.Samples[r]; k <= 0 || time.Duration(k)*r > time.Duration(budget) {
				t.Fatalf("request %v gets %d samples against a budget of %v", r, k, time.Duration(budget))
			}
		}
		for _, m := range cfg.Mechs {
			if !slices.Contains(timeoutMechs, m) {
				t.Fatalf("accepted mechanism %q", m)
			}
		}
		for _, q := range cfg.QEMU.Fds {
			if q <= 0 {
				t.Fatalf("accepted %d QEMU fds", q)
			}
		}
		if len(cfg.QEMU.Fds) > 0 && cfg.QEMU.Duration <= 0 {
			t.Fatalf("accepted QEMU duration %v", cfg.QEMU.Duration)
		}
	})
}
