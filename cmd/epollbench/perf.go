package main

// What the wait and ctl experiments share with perf bench: running the C
// benchmark, reading its output, its statistics, and flags spelled as perf
// spells them (-t and --threads alike).

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// perfNotInstalled is the reference note of every row whose C figure could
// not be measured because perf is absent.
const perfNotInstalled = "perf not installed"

// perfVersion returns the first line of `perf --version`, or "" when perf
// is absent or does not answer.
func perfVersion() string {
	path, err := exec.LookPath("perf")
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

// errPerfMissing is returned by runPerfBench when perf is not on PATH.
var errPerfMissing = errors.New(perfNotInstalled)

// runPerfBench runs `perf bench epoll <sub> args...` and returns its
// standard output. The C benchmark sleeps its whole runtime and then some
// (epoll wait sleeps one more second before stopping its writer), so the
// deadline is generous; a benchmark that hangs past it is killed.
func runPerfBench(sub string, runtimeSecs int, args []string) (string, error) {
	path, err := exec.LookPath("perf")
	if err != nil {
		return "", errPerfMissing
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(runtimeSecs+30)*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append([]string{"bench", "epoll", sub}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("perf bench epoll %s %s: %v: %s", sub, strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

var (
	perfWaitThreadRe = regexp.MustCompile(`^\[thread\s+(\d+)\].*\[\s*(\d+) ops/sec\s*\]`)
	perfWaitAvgRe    = regexp.MustCompile(`^Averaged (\d+) operations/sec \(\+- ([0-9.]+)%\), total secs = (\d+)`)
	perfCtlThreadRe  = regexp.MustCompile(`^\[thread\s+(\d+)\].*\[ add: (\d+)(?: ops)?; mod: (\d+)(?: ops)?; del: (\d+)s?(?: ops)? \]`)
)

// perfWaitOutput is what `perf bench epoll wait` printed.
type perfWaitOutput struct {
	PerThread []float64 `json:"per_thread_ops_per_s"`
	Avg       float64   `json:"avg_ops_per_s"`
	RelStddev float64   `json:"rel_stddev_pct"`
	Secs      int       `json:"secs"`
}

// parsePerfWait reads the per-thread lines and the "Averaged" line of
// `perf bench epoll wait`.
func parsePerfWait(out string) (perfWaitOutput, error) {
	var res perfWaitOutput
	found := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := perfWaitThreadRe.FindStringSubmatch(line); m != nil {
			v, _ := strconv.ParseFloat(m[2], 64)
			res.PerThread = append(res.PerThread, v)
		}
		if m := perfWaitAvgRe.FindStringSubmatch(line); m != nil {
			res.Avg, _ = strconv.ParseFloat(m[1], 64)
			res.RelStddev, _ = strconv.ParseFloat(m[2], 64)
			res.Secs, _ = strconv.Atoi(m[3])
			found = true
		}
	}
	if !found || len(res.PerThread) == 0 {
		return res, fmt.Errorf("perf bench epoll wait: no per-thread and Averaged lines in its output: %q", firstLines(out, 6))
	}
	return res, nil
}

// perfCtlOutput is what `perf bench epoll ctl` printed: per thread, the
// number of successful ADD, MOD and DEL operations over the whole run
// (counts, not rates: perf prints totals).
type perfCtlOutput struct {
	PerThread [][3]uint64 `json:"per_thread_add_mod_del"`
}

func parsePerfCtl(out string) (perfCtlOutput, error) {
	var res perfCtlOutput
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if m := perfCtlThreadRe.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
			var t [3]uint64
			for i := range t {
				t[i], _ = strconv.ParseUint(m[2+i], 10, 64)
			}
			res.PerThread = append(res.PerThread, t)
		}
	}
	if len(res.PerThread) == 0 {
		return res, fmt.Errorf("perf bench epoll ctl: no per-thread lines in its output: %q", firstLines(out, 6))
	}
	return res, nil
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// perfStats computes what perf's util/stat.c prints: the mean, and the
// standard deviation of the mean (not of the sample) as a percentage of
// the mean, which is what "(+- x%)" means in perf's output.
func perfStats(xs []float64) (avg, relStddevPct float64) {
	n := float64(len(xs))
	if n == 0 {
		return 0, 0
	}
	var mean, m2 float64
	for i, x := range xs {
		d := x - mean
		mean += d / float64(i+1)
		m2 += d * (x - mean)
	}
	if n < 2 || mean == 0 {
		return mean, 0
	}
	stddevMean := math.Sqrt(m2 / (n - 1) / n)
	return mean, 100 * stddevMean / mean
}

// perfSecs is the integer runtime perf takes with -r for a runtime of
// ours: perf counts whole seconds and at least one.
func perfSecs(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}

// runtimeValue is a -r flag: whole seconds as perf takes them ("8"), a
// fraction ("0.5") or a Go duration ("300ms").
type runtimeValue struct{ d *time.Duration }

func (v runtimeValue) String() string {
	if v.d == nil {
		return ""
	}
	return formatRuntime(*v.d)
}

func (v runtimeValue) Set(s string) error {
	d, err := parseRuntime(s)
	if err != nil {
		return err
	}
	*v.d = d
	return nil
}

func parseRuntime(s string) (time.Duration, error) {
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

func formatRuntime(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10)
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// perfFlags registers each flag under its perf short and long name, so
// that `epollbench wait -t 4 -E` and `epollbench wait --threads 4 --edge`
// both read as `perf bench epoll wait` would.
type perfFlags struct{ *flag.FlagSet }

func (f perfFlags) boolVar(p *bool, short, long, usage string) {
	f.BoolVar(p, short, *p, usage)
	f.BoolVar(p, long, *p, usage+" (same as -"+short+")")
}

func (f perfFlags) intVar(p *int, short, long, usage string) {
	f.IntVar(p, short, *p, usage)
	f.IntVar(p, long, *p, usage+" (same as -"+short+")")
}

func (f perfFlags) runtimeVar(p *time.Duration, short, long, usage string) {
	f.Var(runtimeValue{p}, short, usage)
	f.Var(runtimeValue{p}, long, usage+" (same as -"+short+")")
}

// onlineCPUs returns the CPUs this process may run on, in order: the set
// perf's default thread count and its affinity round-robin come from.
func onlineCPUs() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		cpus := make([]int, runtime.NumCPU())
		for i := range cpus {
			cpus[i] = i
		}
		return cpus
	}
	var cpus []int
	for i := 0; i < 1024 && len(cpus) < set.Count(); i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus
}

// pinThread locks the calling goroutine to its OS thread and binds that
// thread to cpu, as perf does with pthread_attr_setaffinity_np. The thread
// is never unlocked: when the goroutine returns the runtime ends the thread,
// so its affinity never leaks to other goroutines.
func pinThread(cpu int) error {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("sched_setaffinity(cpu %d): %w", cpu, err)
	}
	return nil
}

// benchNanosleep sleeps as perf's loops do between rounds: a nanosleep(2)
// of a few hundred nanoseconds, which the kernel stretches by the thread's
// timer slack (50 us by default). It is the same system call as C's, and a
// raw one: through unix.Nanosleep the runtime would hand the P off and
// take it back around every pause (sysmon retakes a P blocked over 20 us),
// and the harness's pacing, not the code under test, would pay for it. In
// the wait benchmark that made the writer thread half as fast as perf's and
// halved every worker's rate with it.
func benchNanosleep(ns int64) {
	ts := unix.Timespec{Nsec: ns}
	unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// runClock ends a run. perf's main thread sleeps the runtime and raises a
// flag; in Go the sleeping goroutine needs a P to wake on time, and the
// workers may hold every P: pinned threads looping on raw system calls
// (epoll_ctl, nanosleep, a zero-timeout wait) give none back, so a
// time.Sleep of 5 s once ended 250 ms late and the run with it. Instead
// each worker reads the clock itself, every few operations, and the first to
// see the deadline stops them all; each worker's rate is its count over its
// own time from the common start to its stop.
type runClock struct {
	start, deadline time.Time
	done            atomic.Bool
}

func newRunClock(d time.Duration) *runClock {
	now := time.Now()
	return &runClock{start: now, deadline: now.Add(d)}
}

// expired reports whether the run is over, reading the clock only when
// check is true (a vDSO call, ~25 ns: the hottest loops ask every 16th
// operation).
func (c *runClock) expired(check bool) bool {
	if c.done.Load() {
		return true
	}
	if check && !time.Now().Before(c.deadline) {
		c.done.Store(true)
		return true
	}
	return false
}

// nestEpoll builds perf's nesting: n more epoll instances chained one
// inside the next, the outermost added to the instance whose descriptor
// add registers. They hold no events; they make ADD and wake-up paths walk
// a deeper hierarchy. perf caps n at 4 (the kernel allows 5 levels).
func nestEpoll(n int, add func(fd int) error) (closeAll func(), err error) {
	if n > 4 {
		n = 4
	}
	var fds []int
	closeAll = func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	for i := 0; i < n; i++ {
		fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("nesting: epoll_create1: %w", err)
		}
		fds = append(fds, fd)
	}
	for i := n - 1; i > 0; i-- {
		ev := unix.EpollEvent{Events: unix.EPOLLHUP}
		if err := unix.EpollCtl(fds[i-1], unix.EPOLL_CTL_ADD, fds[i], &ev); err != nil {
			closeAll()
			return nil, fmt.Errorf("nesting: epoll_ctl(ADD) level %d: %w", i, err)
		}
	}
	if n > 0 {
		if err := add(fds[0]); err != nil {
			closeAll()
			return nil, fmt.Errorf("nesting: add the outermost nested instance: %w", err)
		}
	}
	return closeAll, nil
}

// raiseNofile raises RLIMIT_NOFILE to at least want descriptors (see
// nofileRaise), or says why it cannot: a run that needs them would
// otherwise fail half-way with EMFILE.
func raiseNofile(want int) error {
	got, err := nofileRaise(want)
	if err != nil {
		return err
	}
	if got < want {
		return fmt.Errorf("RLIMIT_NOFILE: the run needs %d descriptors, the limit can only be raised to %d", want, got)
	}
	return nil
}
