package cref

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// PerfVersion returns the first line of `perf --version`, or "" when perf
// is absent or does not answer.
func PerfVersion() string {
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

// PerfBench runs `perf bench epoll <sub> args...` and returns its standard
// output; the error is a NoReference when perf is not installed. The C
// benchmark sleeps its whole runtime and then some (epoll wait sleeps one
// more second before stopping its writer), so the deadline is generous; a
// benchmark that hangs past it is killed.
func PerfBench(sub string, runtimeSecs int, args []string) (string, error) {
	path, err := exec.LookPath("perf")
	if err != nil {
		return "", &NoReference{PerfMissing}
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

// PerfBenchEcho is PerfBench for a subcommand's -C: it also writes to w
// the command it runs and, when it succeeds, what perf printed.
func PerfBenchEcho(w io.Writer, sub string, runtimeSecs int, args []string) (string, error) {
	fmt.Fprintf(w, "\n# perf bench epoll %s %s\n", sub, strings.Join(args, " "))
	out, err := PerfBench(sub, runtimeSecs, args)
	if err != nil {
		return "", err
	}
	fmt.Fprint(w, out)
	return out, nil
}

var (
	waitThreadRe = regexp.MustCompile(`^\[thread\s+(\d+)\].*\[\s*(\d+) ops/sec\s*\]`)
	waitAvgRe    = regexp.MustCompile(`^Averaged (\d+) operations/sec \(\+- ([0-9.]+)%\), total secs = (\d+)`)
	ctlThreadRe  = regexp.MustCompile(`^\[thread\s+(\d+)\].*\[ add: (\d+)(?: ops)?; mod: (\d+)(?: ops)?; del: (\d+)s?(?: ops)? \]`)
)

// WaitOutput is what `perf bench epoll wait` printed.
type WaitOutput struct {
	PerThread []float64 `json:"per_thread_ops_per_s"`
	Avg       float64   `json:"avg_ops_per_s"`
	RelStddev float64   `json:"rel_stddev_pct"`
	Secs      int       `json:"secs"`
}

// ParseWait reads the per-thread lines and the "Averaged" line of `perf
// bench epoll wait` (and of `epollbench wait`, which prints the same).
func ParseWait(out string) (WaitOutput, error) {
	var res WaitOutput
	found := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := waitThreadRe.FindStringSubmatch(line); m != nil {
			v, _ := strconv.ParseFloat(m[2], 64)
			res.PerThread = append(res.PerThread, v)
		}
		if m := waitAvgRe.FindStringSubmatch(line); m != nil {
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

// CtlOutput is what `perf bench epoll ctl` printed: per thread, the
// number of successful ADD, MOD and DEL operations over the whole run
// (counts, not rates: perf prints totals).
type CtlOutput struct {
	PerThread [][3]uint64 `json:"per_thread_add_mod_del"`
}

// ParseCtl reads the per-thread lines of `perf bench epoll ctl`, in both
// of the formats perf prints them.
func ParseCtl(out string) (CtlOutput, error) {
	var res CtlOutput
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if m := ctlThreadRe.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
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

// Rate turns perf's totals over a run of secs seconds into a rate:
// successful operations of all kinds per second per thread, averaged over
// threads.
func (p CtlOutput) Rate(secs int) float64 {
	if len(p.PerThread) == 0 || secs <= 0 {
		return 0
	}
	var sum float64
	for _, t := range p.PerThread {
		sum += float64(t[0]+t[1]+t[2]) / float64(secs)
	}
	return sum / float64(len(p.PerThread))
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
