package uring

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// New must answer every combination of arguments with a ring of the
// promised shape or an EINVAL naming the argument: never a panic, never a
// kernel error for input it could have checked.
func FuzzNewOptions(f *testing.F) {
	f.Add(8, 0, 0, false, false, false)
	f.Add(1, 1, 1, false, false, true)
	f.Add(3, 5, 0, false, false, false)
	f.Add(0, 0, 0, false, false, false)
	f.Add(-5, -1, -1, true, true, true)
	f.Add(MaxEntries+1, 0, 0, false, false, false)
	f.Add(16, 8, 0, false, false, false)
	f.Add(4, 0, 0, false, true, false)
	f.Fuzz(func(t *testing.T, entries, cq, evs int, single, deferTR, coop bool) {
		opts := Options{CQEntries: cq, EpollEvents: evs, SingleIssuer: single, DeferTaskrun: deferTR, CoopTaskrun: coop}
		verr := checkOptions(entries, &opts)
		if verr != nil {
			if !errors.Is(verr, unix.EINVAL) || !strings.HasPrefix(verr.Error(), "uring: New: ") {
				t.Fatalf("checkOptions(%d, %+v) = %v; want EINVAL from New", entries, opts, verr)
			}
			if _, err := New(entries, opts); err == nil {
				t.Fatalf("New accepted what checkOptions rejected: %d, %+v", entries, opts)
			}
			return
		}
		if entries > 64 || cq > 256 || evs > 1024 {
			return // valid; creating big rings would only slow the fuzzer
		}
		r, err := New(entries, opts)
		if errors.Is(err, ErrUnsupported) {
			t.Skip(err)
		}
		if err != nil {
			t.Fatalf("New(%d, %+v) with valid arguments: %v", entries, opts, err)
		}
		defer r.Close()
		if r.SQEntries() != roundPow2(entries) {
			t.Fatalf("SQEntries = %d for %d", r.SQEntries(), entries)
		}
		if cq != 0 && r.CQEntries() != roundPow2(cq) {
			t.Fatalf("CQEntries = %d for %d", r.CQEntries(), cq)
		}
		if want := max(evs, 0); evs == 0 && len(r.EpollEvents()) != r.SQEntries() ||
			evs != 0 && len(r.EpollEvents()) != want {
			t.Fatalf("len(EpollEvents) = %d for %d", len(r.EpollEvents()), evs)
		}
	})
}
