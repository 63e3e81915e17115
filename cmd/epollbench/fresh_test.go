package main

import (
	"strings"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/cref"
)

// A fresh machine has Go and nothing else: no perf, no gcc. The report must
// still run every experiment, and say in the C column why it is empty.

func TestWaitReportWithoutPerfSaysSoInTheCColumn(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	sec, err := waitReport(reportOptions{Quick: true, Progress: pipetestQuietProgress(t)})
	if err != nil {
		t.Fatal(err)
	}
	said := 0
	for _, r := range sec.Rows {
		if r.RefName == "C perf bench" && r.Ref != 0 {
			t.Errorf("row %q has a C figure %v with perf absent", r.Case, r.Ref)
		}
		if strings.Contains(r.RefNote, cref.PerfMissing) {
			said++
		}
	}
	if said == 0 {
		t.Errorf("no row says %q", cref.PerfMissing)
	}
}

func TestPipetestWithoutGccSaysSoAndMeasuresTheRest(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	cfg := pipetestConfig{Ns: []int{10, 100}, Mechs: []string{"direct", "epoll"}, Duration: 20 * time.Millisecond,
		Rounds: 1, C: true, Progress: pipetestQuietProgress(t)}
	res, err := pipetestRunAll(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.CNote != "gcc not installed" || res.C != nil {
		t.Errorf("C note %q, C points %v; want the note and no points", res.CNote, res.C)
	}
	if res.rate("epoll", 100) <= 0 {
		t.Errorf("epoll N=100 not measured")
	}
	sec := pipetestSection(res, cfg)
	found := false
	for _, r := range sec.Rows {
		if strings.HasSuffix(r.Case, "vs C") && r.RefName == "C, same ring" {
			found = true
			if r.Ref != 0 || r.RefNote != "gcc not installed" {
				t.Errorf("row %q: ref %v, note %q; want no figure and the reason", r.Case, r.Ref, r.RefNote)
			}
		}
	}
	if !found {
		t.Errorf("no row compares with C")
	}
}
