package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// timeoutCSource is the C reference: epoll_pwait2 called directly, with no Go
// runtime between the program and the kernel. Arguments: the timer slack to
// set in nanoseconds (0 leaves it), then pairs of a requested timeout in
// nanoseconds and a number of samples. It prints one line per request: the
// request, then each sample's overshoot (elapsed minus requested) in ns.
const timeoutCSource = `#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif

static long long now_ns(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv) {
	if (argc < 4 || argc % 2 != 0) {
		fprintf(stderr, "usage: %s slack_ns request_ns samples [request_ns samples]...\n", argv[0]);
		return 2;
	}
	long slack = atol(argv[1]);
	if (slack > 0 && prctl(PR_SET_TIMERSLACK, slack, 0, 0, 0) != 0) {
		perror("prctl(PR_SET_TIMERSLACK)");
		return 1;
	}
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		perror("epoll_create1");
		return 1;
	}
	struct epoll_event evs[8];
	for (int a = 2; a + 1 < argc; a += 2) {
		long long req = atoll(argv[a]);
		int samples = atoi(argv[a + 1]);
		printf("%lld", req);
		for (int i = 0; i < samples; i++) {
			struct timespec ts = { req / 1000000000LL, req % 1000000000LL };
			long long t0 = now_ns();
			long r = syscall(SYS_epoll_pwait2, ep, evs, 8, &ts, NULL, 0);
			long long t1 = now_ns();
			if (r < 0) {
				perror("epoll_pwait2");
				return 1;
			}
			printf(" %lld", t1 - t0 - req);
		}
		printf("\n");
	}
	return 0;
}
`

// timeoutRunC compiles the C reference with gcc into a temporary directory and
// runs it, taking samples[r] waits of each request r. It returns the
// overshoots per request, or a note saying why there are none ("gcc not
// installed", a compile error).
func timeoutRunC(samples map[time.Duration]int, slack time.Duration, reqs []time.Duration) (map[time.Duration][]time.Duration, string) {
	bin, cleanup, note := timeoutBuildC()
	if note != "" {
		return nil, note
	}
	defer cleanup()
	return timeoutExecC(bin, samples, slack, reqs)
}

// timeoutBuildC compiles the C reference; see buildC.
func timeoutBuildC() (bin string, cleanup func(), note string) {
	return buildC("pwait2", timeoutCSource)
}

// timeoutExecC runs the compiled C reference and parses its output.
func timeoutExecC(bin string, samples map[time.Duration]int, slack time.Duration, reqs []time.Duration) (map[time.Duration][]time.Duration, string) {
	args := []string{strconv.FormatInt(int64(slack), 10)}
	for _, r := range reqs {
		args = append(args, strconv.FormatInt(int64(r), 10), strconv.Itoa(samples[r]))
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Sprintf("C epoll_pwait2 program failed: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
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
			return nil, "C program output: " + err.Error()
		}
		var xs []time.Duration
		for _, s := range f[1:] {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, "C program output: " + err.Error()
			}
			xs = append(xs, time.Duration(v))
		}
		res[time.Duration(req)] = xs
	}
	return res, ""
}
