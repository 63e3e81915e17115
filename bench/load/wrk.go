package load

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/eventpoll/eventpoll/bench/plaintext"
)

// Wrk runs the wrk HTTP benchmark tool against plaintext.Path as a
// cross-check of the HTTP generator: a second, independent client's figure
// beside ours. wrk checks nothing but the status code, so a server is run
// under HTTP's verifying generator (and CheckHTTP) before wrk's figure is
// trusted; a response that is not 2xx, or any socket error, fails the run.
type Wrk struct {
	Addr     string
	Conns    int
	Depth    int // pipelined requests per batch, by a Lua script as TechEmpower's; 0 means 1
	Threads  int
	Duration time.Duration // whole seconds (wrk's resolution), at least 1 s
	// Start starts the command (e.g. pinned to the generator's CPUs); nil
	// means cmd.Start.
	Start func(cmd *exec.Cmd) error
}

// WrkPath returns the path of the wrk binary, or "" when it is not
// installed.
func WrkPath() string {
	p, err := exec.LookPath("wrk")
	if err != nil {
		return ""
	}
	return p
}

// pipelineScript makes every request wrk sends a batch of depth requests;
// wrk counts each response.
const pipelineScript = `init = function(args)
  local depth = tonumber(args[1]) or 1
  local r = {}
  for i = 1, depth do r[i] = wrk.format(nil, "` + plaintext.Path + `") end
  req = table.concat(r)
end
request = function() return req end
`

// Run runs wrk once and parses its report. Its latency percentiles are
// zero (unknown) for a pipelined run.
func (w Wrk) Run(ctx context.Context) (*Result, error) {
	bin := WrkPath()
	if bin == "" {
		return nil, fmt.Errorf("wrk: not installed")
	}
	secs := int(w.Duration.Round(time.Second) / time.Second)
	threads := min(max(w.Threads, 1), w.Conns)
	depth := max(w.Depth, 1)
	dir, err := os.MkdirTemp("", "wrk-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "pipeline.lua")
	if err := os.WriteFile(script, []byte(pipelineScript), 0o600); err != nil {
		return nil, err
	}
	args := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(w.Conns),
		"-d", strconv.Itoa(max(secs, 1)) + "s", "--latency", "--timeout", "10s"}
	if depth > 1 {
		// Only then: without pipelining wrk runs as anyone would run
		// it, with its static request and no Lua call per request.
		args = append(args, "-s", script, "http://"+w.Addr+plaintext.Path, "--", strconv.Itoa(depth))
	} else {
		args = append(args, "http://"+w.Addr+plaintext.Path)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := cmd.Start
	if w.Start != nil {
		start = func() error { return w.Start(cmd) }
	}
	if err := start(); err != nil {
		return nil, fmt.Errorf("wrk: %w", err)
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("wrk: %w: %s", err, strings.TrimSpace(out.String()))
	}
	res, err := parseWrk(out.String())
	if err != nil {
		return nil, err
	}
	if depth > 1 {
		// wrk records one latency per batch, when its last response
		// arrives (wrk.c: response_complete), and its percentiles of a
		// pipelined run are not per request: they are left out.
		res.P50, res.P99 = 0, 0
	}
	res.Conns = w.Conns
	return res, nil
}

var (
	wrkTotal   = regexp.MustCompile(`(\d+) requests in ([0-9.]+)(us|ms|s|m),`)
	wrkLatency = regexp.MustCompile(`^\s*(50|99)%\s+([0-9.]+)(us|ms|s|m)\s*$`)
)

// parseWrk reads wrk's --latency report: the requests and the time they
// took, the 50th and 99th percentiles, and any errors, which fail the run.
func parseWrk(out string) (*Result, error) {
	res := &Result{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.Contains(line, "Non-2xx or 3xx responses"), strings.Contains(line, "Socket errors"):
			return nil, fmt.Errorf("wrk reports errors: %s", strings.TrimSpace(line))
		}
		if m := wrkTotal.FindStringSubmatch(line); m != nil {
			res.Ops, _ = strconv.ParseInt(m[1], 10, 64)
			res.Window = wrkDuration(m[2], m[3])
		}
		if m := wrkLatency.FindStringSubmatch(line); m != nil {
			d := wrkDuration(m[2], m[3])
			if m[1] == "50" {
				res.P50 = d
			} else {
				res.P99 = d
			}
		}
	}
	if res.Ops == 0 || res.Window == 0 {
		return nil, fmt.Errorf("wrk: no figures in its report: %q", out)
	}
	if res.P50 == 0 || res.P99 < res.P50 {
		res.P50, res.P99 = 0, 0 // not figures (see Run)
	}
	return res, nil
}

func wrkDuration(v, unit string) time.Duration {
	f, _ := strconv.ParseFloat(v, 64)
	scale := map[string]float64{"us": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9}[unit]
	return time.Duration(f * scale)
}
