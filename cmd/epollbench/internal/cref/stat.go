package cref

import (
	"context"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// PerfStat runs argv under `perf stat -x, -e events` and returns each
// event's count over the command and all its threads, and what the command
// wrote to its standard output. The error is a NoReference when perf is not
// installed. An event perf could not count ("<not supported>", a
// tracepoint the kernel lacks) is absent from counts.
func PerfStat(events []string, timeout time.Duration, argv ...string) (counts map[string]float64, stdout string, err error) {
	path, err := exec.LookPath("perf")
	if err != nil {
		return nil, "", &NoReference{PerfMissing}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := append([]string{"stat", "-x,", "-e", strings.Join(events, ","), "--"}, argv...)
	cmd := exec.CommandContext(ctx, path, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, string(out), fmt.Errorf("perf stat %s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
	}
	return parseStat(stderr.String()), string(out), nil
}

// parseStat reads perf stat's CSV (-x,): value,unit,event,... per line.
// Lines that are not counts (comments, what the command itself wrote to
// standard error) are passed over.
func parseStat(csv string) map[string]float64 {
	counts := map[string]float64{}
	for _, line := range strings.Split(csv, "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 || f[2] == "" {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil || !(v >= 0) || math.IsInf(v, 0) {
			continue
		}
		counts[f[2]] += v
	}
	return counts
}
