package timeout

import (
	"slices"
	"testing"
	"time"
)

// Whatever the flags, parseConfig either refuses with an error or returns a
// configuration the experiment can run, and never panics.
func FuzzParseConfig(f *testing.F) {
	f.Add("10us,100us,1ms,3.1ms", 2000, int64(2*time.Second), 5, "Wait,ppoll", int64(0), "15,85,200", int64(time.Second))
	f.Add("0", 0, int64(0), 0, "", int64(-1), "x", int64(0))
	f.Add("1h", 1, int64(1), 1, "timerfd", int64(50*time.Microsecond), "", int64(-1))
	f.Add("2562047h", 1, int64(time.Hour), 1, "timerfd", int64(0), "", int64(0))
	f.Fuzz(func(t *testing.T, reqs string, n int, budget int64, rounds int, mechs string, slack int64, qfds string, qd int64) {
		cfg, err := parseConfig(reqs, n, time.Duration(budget), rounds, mechs, time.Duration(slack), qfds, time.Duration(qd))
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
			if !slices.Contains(allMechs, m) {
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
