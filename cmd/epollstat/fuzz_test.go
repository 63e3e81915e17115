package main

import (
	"io"
	"strings"
	"testing"
)

// FuzzParseArgs: any command line either fails with an error or gives
// options that hold: positive PIDs, and a -watch period of 0 or at least
// minWatch.
func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{"", "-stale 1", "-json -watch 1s 2 3", "-watch 1ns", "x", "-1", "-watch=-5m 4", "-- 12"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		o, err := parseArgs(strings.Fields(line), io.Discard)
		if err != nil {
			return
		}
		for _, pid := range o.cfg.pids {
			if pid <= 0 {
				t.Fatalf("%q: accepted pid %d", line, pid)
			}
		}
		if o.watch != 0 && o.watch < minWatch {
			t.Fatalf("%q: accepted -watch %v", line, o.watch)
		}
	})
}
