package cref

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"time"
)

//go:embed c/pwait2.c
var pwait2Source string

// Pwait2 is the C program that times epoll_pwait2 (c/pwait2.c).
type Pwait2 struct{ *Program }

// BuildPwait2 builds the C epoll_pwait2 program; the error is a NoReference
// when it cannot be built here.
func BuildPwait2() (Pwait2, error) {
	p, err := build("pwait2", pwait2Source)
	return Pwait2{p}, err
}

// Run takes samples[r] waits of each request r of reqs, with the timer
// slack set to slack (0 leaves the default), and returns each request's
// overshoots.
func (p Pwait2) Run(samples map[time.Duration]int, slack time.Duration, reqs []time.Duration) (map[time.Duration][]time.Duration, error) {
	args := []string{strconv.FormatInt(int64(slack), 10)}
	for _, r := range reqs {
		args = append(args, strconv.FormatInt(int64(r), 10), strconv.Itoa(samples[r]))
	}
	out, err := p.run(args...)
	if err != nil {
		return nil, err
	}
	return parsePwait2(out)
}

// parsePwait2 reads a line per request: the request in ns, then each
// sample's overshoot in ns.
func parsePwait2(out []byte) (map[time.Duration][]time.Duration, error) {
	res := map[time.Duration][]time.Duration{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		req, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("epoll_pwait2 in C: output: %w", err)
		}
		var xs []time.Duration
		for _, s := range f[1:] {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("epoll_pwait2 in C: output: %w", err)
			}
			xs = append(xs, time.Duration(v))
		}
		res[time.Duration(req)] = xs
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("epoll_pwait2 in C: output: %w", err)
	}
	return res, nil
}
