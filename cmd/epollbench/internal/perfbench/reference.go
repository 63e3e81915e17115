package perfbench

import (
	"fmt"
	"io"
	"strings"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/cref"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
)

// Compare is a subcommand's -C: it runs perf bench epoll sub with args for
// runtimeSecs, writing the command and perf's output to out, reads perf's
// figure with parse, and writes the ratio of ours to it, with both figures
// in unit.
func Compare(out io.Writer, sub string, runtimeSecs int, args []string, ours float64, unit string, parse func(perf string) (float64, error)) error {
	perf, err := cref.PerfBenchEcho(out, sub, runtimeSecs, args)
	if err != nil {
		return err
	}
	c, err := parse(perf)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nGo/C: %.3fx (%.0f vs %.0f %s)\n", ours/c, ours, c, unit)
	return nil
}

// Plan is whether the standard report runs perf beside ours, decided
// once for all its settings: not in a quick run, nor where perf is not
// installed.
type Plan struct {
	Log  harness.Log // where each run of perf is announced
	Note string      // why perf does not run; "" when it does
}

// NewPlan looks for perf and returns the plan of a report run with opts.
func NewPlan(opts harness.Options) Plan {
	p := Plan{Log: opts.Log}
	switch {
	case cref.PerfVersion() == "":
		p.Note = cref.PerfMissing
	case opts.Quick:
		p.Note = "C not run in -quick"
	}
	return p
}

// Runs reports whether perf runs.
func (p Plan) Runs() bool { return p.Note == "" }

// Reference is the C side of one setting of the standard report: perf
// bench epoll's run of the same flags, alternating with ours (see
// harness.Alternate), or why there is none.
type Reference[R any] struct {
	Run  func(rep int) (R, float64, error) // perf's run and its figure; nil when perf does not run
	Args string                            // perf's flags, when it runs
	Note string                            // why it does not run
}

// NewReference returns the C side of setting, whose perf flags are args:
// none when p says so, else a run of perf bench epoll sub for runtimeSecs
// whose output parse reads.
func NewReference[R any](p Plan, sub, setting string, runtimeSecs int, args []string, parse func(perf string) (R, float64, error)) Reference[R] {
	if !p.Runs() {
		return Reference[R]{Note: p.Note}
	}
	ref := Reference[R]{Args: strings.Join(args, " ")}
	ref.Run = func(int) (R, float64, error) {
		p.Log.Printf("%s: %s: perf bench epoll %s %s...", sub, setting, sub, ref.Args)
		out, err := cref.PerfBench(sub, runtimeSecs, args)
		if err != nil {
			var zero R
			return zero, 0, err
		}
		return parse(out)
	}
	return ref
}
