package http

import (
	"slices"
	"testing"
	"time"
)

// Whatever the flags, parseConfig either refuses with an error or returns a
// configuration the experiment can run, and never panics.
func FuzzParseConfig(f *testing.F) {
	f.Add("0,1000,10000", "poll,epoll,reactor", 8, int64(time.Second), 6, int64(0))
	f.Add("-1", "epoll", 0, int64(0), 0, int64(-1))
	f.Add("0", "reactor", 1, int64(time.Millisecond), 1, int64(0))
	f.Add("01", "select", 1001, int64(1), 1001, int64(1))
	f.Fuzz(func(t *testing.T, dead, engines string, conc int, d int64, windows int, warm int64) {
		cfg, err := parseConfig(dead, engines, conc, time.Duration(d), windows, time.Duration(warm))
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
			if !slices.Contains(allEngines, e) {
				t.Fatalf("accepted engine %q", e)
			}
		}
	})
}
