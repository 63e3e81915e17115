package cref

import (
	_ "embed"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

//go:embed c/pipetest.c
var pipetestSource string

// PipetestMechs are the mechanisms the standard report runs the C pipetest
// with: the ring without a wait, and edge-triggered epoll.
var PipetestMechs = []string{"direct", "epoll"}

// Pipetest is the C program of pipetest's ring (c/pipetest.c).
type Pipetest struct{ *Program }

// BuildPipetest builds the C pipetest; the error is a NoReference when it
// cannot be built here.
func BuildPipetest() (Pipetest, error) {
	p, err := build("pipetest", pipetestSource, "-pthread")
	return Pipetest{p}, err
}

// Run runs the ring of n pipes, cut into segments of segment pipes, for
// rounds rounds of round each (after warm untimed) per mechanism, and
// returns each mechanism's passes/s per round.
func (p Pipetest) Run(n, segment int, round, warm time.Duration, rounds int, mechs []string) (map[string][]float64, error) {
	args := []string{strconv.Itoa(n), strconv.Itoa(segment),
		strconv.FormatInt(int64(round), 10), strconv.FormatInt(int64(warm), 10), strconv.Itoa(rounds)}
	out, err := p.run(append(args, mechs...)...)
	if err != nil {
		return nil, err
	}
	return parsePipetest(string(out), mechs, rounds)
}

// parsePipetest parses the C pipetest's output: a line per mechanism, its
// name and then one positive rate per round.
func parsePipetest(out string, mechs []string, rounds int) (map[string][]float64, error) {
	res := map[string][]float64{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != rounds+1 {
			return nil, fmt.Errorf("pipetest in C: output %q: want a name and %d rates", line, rounds)
		}
		known := false
		for _, m := range mechs {
			known = known || m == f[0]
		}
		if !known || res[f[0]] != nil {
			return nil, fmt.Errorf("pipetest in C: output %q: unexpected or repeated mechanism", line)
		}
		for _, s := range f[1:] {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || !(v > 0) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("pipetest in C: output %q: %q is not a positive rate", line, s)
			}
			res[f[0]] = append(res[f[0]], v)
		}
	}
	for _, m := range mechs {
		if res[m] == nil {
			return nil, fmt.Errorf("pipetest in C: output: no line for %s", m)
		}
	}
	return res, nil
}
