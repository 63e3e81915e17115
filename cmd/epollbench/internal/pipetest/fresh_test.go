package pipetest

import (
	"strings"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/cref"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness/harnesstest"
)

// A fresh machine has Go and nothing else: the C column says why it is
// empty and the rest is measured.
func TestWithoutGccSaysSoAndMeasuresTheRest(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	cfg := config{Ns: []int{10, 100}, Mechs: []string{"direct", "epoll"}, Duration: 20 * time.Millisecond,
		Rounds: 1, C: true, Log: harnesstest.Log(t)}
	res, err := cfg.Run()
	if err != nil {
		t.Fatal(err)
	}
	if res.CNote != cref.GccMissing || res.C != nil {
		t.Errorf("C note %q, C points %v; want the note and no points", res.CNote, res.C)
	}
	if res.rate("epoll", 100) <= 0 {
		t.Errorf("epoll N=100 not measured")
	}
	sec := study.Section(res, cfg)
	found := false
	for _, r := range sec.Rows {
		if strings.HasSuffix(r.Case, "vs C") && r.RefName == "C, same ring" {
			found = true
			if r.Ref != 0 || r.RefNote != cref.GccMissing {
				t.Errorf("row %q: ref %v, note %q; want no figure and the reason", r.Case, r.Ref, r.RefNote)
			}
		}
	}
	if !found {
		t.Errorf("no row compares with C")
	}
}
