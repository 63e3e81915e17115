package cref

import (
	"flag"
	"fmt"
	"math"
	"strconv"
	"time"
)

// CheckPerfFlags checks the flags perf bench epoll's workloads share: -t
// threads and -f fds per thread in the ranges perf takes, a positive -r and
// a -N not negative. The error names the subcommand sub and the flag.
func CheckPerfFlags(sub string, threads, fds int, runtime time.Duration, nested int) error {
	switch {
	case threads < 1 || threads > 4096:
		return fmt.Errorf("%s: -t %d: threads must be between 1 and 4096", sub, threads)
	case fds < 1 || fds > 1<<20:
		return fmt.Errorf("%s: -f %d: fds per thread must be between 1 and 1048576", sub, fds)
	case runtime <= 0:
		return fmt.Errorf("%s: -r %v: runtime must be positive", sub, runtime)
	case nested < 0:
		return fmt.Errorf("%s: -N %d: nesting must not be negative", sub, nested)
	}
	return nil
}

// PerfSeconds is the integer runtime perf takes with -r for a runtime of
// ours: perf counts whole seconds and at least one.
func PerfSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// ParseRuntime reads a -r value: whole seconds as perf takes them ("8"), a
// fraction ("0.5") or a Go duration ("300ms"). It must be positive.
func ParseRuntime(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f <= 0 || f > 1e6 || math.IsNaN(f) {
			return 0, fmt.Errorf("runtime %q: must be a positive number of seconds", s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("runtime %q: neither seconds nor a duration such as 500ms", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("runtime %q: must be positive", s)
	}
	return d, nil
}

// FormatRuntime writes d in seconds, as perf prints a runtime: "8",
// "0.15".
func FormatRuntime(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10)
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// runtimeValue is a -r flag (see ParseRuntime).
type runtimeValue struct{ d *time.Duration }

func (v runtimeValue) String() string {
	if v.d == nil {
		return ""
	}
	return FormatRuntime(*v.d)
}

func (v runtimeValue) Set(s string) error {
	d, err := ParseRuntime(s)
	if err != nil {
		return err
	}
	*v.d = d
	return nil
}

// PerfFlags registers each flag under its perf short and long name, so
// that `epollbench wait -t 4 -E` and `epollbench wait --threads 4 --edge`
// both read as `perf bench epoll wait` would. The default is the value p
// points to.
type PerfFlags struct{ *flag.FlagSet }

// Bool registers a boolean flag as -short and -long.
func (f PerfFlags) Bool(p *bool, short, long, usage string) {
	f.BoolVar(p, short, *p, usage)
	f.BoolVar(p, long, *p, usage+" (same as -"+short+")")
}

// Int registers an integer flag as -short and -long.
func (f PerfFlags) Int(p *int, short, long, usage string) {
	f.IntVar(p, short, *p, usage)
	f.IntVar(p, long, *p, usage+" (same as -"+short+")")
}

// Runtime registers a runtime flag (see ParseRuntime) as -short and -long.
func (f PerfFlags) Runtime(p *time.Duration, short, long, usage string) {
	f.Var(runtimeValue{p}, short, usage)
	f.Var(runtimeValue{p}, long, usage+" (same as -"+short+")")
}
