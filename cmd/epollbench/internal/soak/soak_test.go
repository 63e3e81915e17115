package soak

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness/harnesstest"
	"github.com/eventpoll/eventpoll/internal/fdtest"
)

func TestMain(m *testing.M) {
	if code, ok := Child(); ok { // a phase's server, re-run from this binary
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// The subcommand as a user runs it, a few seconds long: one phase of each
// fault, and the table's zero-loss figures.
func TestSoakLosesNothingThroughEveryFault(t *testing.T) {
	fdtest.Check(t)
	file := filepath.Join(t.TempDir(), "soak.json")
	out := harnesstest.Prints(t, Experiment, []string{"-d", "2500ms", "-c", "24", "-period", "2s", "-json", file},
		"misdelivered 0 (must be 0); lost for behaving clients 0 (must be 0); torn 0 (must be 0)",
		"answered instead 0 (must be 0)",
		"descriptors or goroutines left behind after 0",
		"nothing lost, nothing misdelivered")
	t.Log("\n" + out)

	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var sum Summary
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatalf("%s does not decode: %v", file, err)
	}
	if f := sum.Failures(); len(f) > 0 {
		t.Fatalf("failures: %v", f)
	}
	seen := map[string]Phase{}
	for _, p := range sum.Phases {
		seen[p.Fault] = p
		if p.Clients.FramesBack == 0 {
			t.Errorf("phase %d (%s): no frame echoed", p.N, p.Fault)
		}
	}
	for _, f := range faults {
		if _, ok := seen[f]; !ok {
			t.Errorf("no %s phase ran", f)
		}
	}
	// Each fault happened, or its phase proved nothing.
	if p := seen[faultPanics]; p.PanicsInjected == 0 || int64(p.Server.Stats.Panics) != p.PanicsInjected {
		t.Errorf("panic phase: %d injected, %d contained", p.PanicsInjected, p.Server.Stats.Panics)
	}
	if p := seen[faultEMFILE]; p.Server.Stats.AcceptPauses == 0 {
		t.Errorf("descriptor-exhaustion phase: accepting never paused (open peak %d)", p.Server.OpenPeak)
	}
	if p := seen[faultRestart]; p.Server.Restarts != 1 || len(p.Server.FdsAfter) != 2 {
		t.Errorf("restart phase: %d restarts, %d shutdowns", p.Server.Restarts, len(p.Server.FdsAfter))
	}
	if p := seen[faultSlow]; p.Clients.ByBehaviour["never-read"] == 0 {
		t.Errorf("slow-reader phase: no never-reading client")
	}
}

func TestSoakRefusesBadFlags(t *testing.T) {
	harnesstest.Refuses(t, Experiment, []string{"-d", "0"}, []string{"-phase", "-1s"}, []string{"-period", "0"}, []string{"extra"})
}
