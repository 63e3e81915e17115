package pipetest

import (
	"slices"
	"testing"
	"time"
)

// Whatever the flags, parseConfig either refuses with an error or returns a
// configuration the experiment can run (no zero or negative count or
// duration, no unknown name), and never panics.
func FuzzParseConfig(f *testing.F) {
	f.Add("10,100", "epoll,poll", int64(time.Second), 5, int64(time.Millisecond), 0)
	f.Add("1_000, 100000", "direct", int64(1), 1, int64(0), 2)
	f.Add(",,", "kqueue", int64(-1), 0, int64(-1), 1)
	f.Fuzz(func(t *testing.T, ns, mechs string, d int64, rounds int, warm int64, segment int) {
		cfg, err := parseConfig(ns, mechs, time.Duration(d), rounds, time.Duration(warm), segment)
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
			if !slices.Contains(mechNames(), m) {
				t.Fatalf("accepted mechanism %q", m)
			}
		}
	})
}
