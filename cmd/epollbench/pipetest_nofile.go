package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// nofileRaise raises RLIMIT_NOFILE so that the process may hold want
// descriptors, and returns how many it may hold afterwards.
//
// The soft limit can always go up to the hard limit. Past the hard limit only
// a process with CAP_SYS_RESOURCE (root) may go, and never past
// /proc/sys/fs/nr_open; the kernel answers EPERM or EINVAL otherwise, and the
// caller is told the limit it got so that it can shrink the experiment and say
// so in a note instead of failing half-way with EMFILE.
func nofileRaise(want int) (int, error) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit(RLIMIT_NOFILE): %w", err)
	}
	if lim.Cur >= uint64(want) {
		return int(lim.Cur), nil
	}
	if lim.Max < uint64(want) {
		// Try the hard limit too: allowed for root, up to fs.nr_open.
		max := uint64(want)
		if nr := nrOpen(); nr > 0 && max > uint64(nr) {
			max = uint64(nr)
		}
		try := unix.Rlimit{Cur: max, Max: max}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &try); err == nil {
			return int(max), nil
		}
	}
	cur := lim.Max
	if cur > uint64(want) {
		cur = uint64(want)
	}
	try := unix.Rlimit{Cur: cur, Max: lim.Max}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &try); err != nil {
		return int(lim.Cur), fmt.Errorf("setrlimit(RLIMIT_NOFILE, %d): %w", cur, err)
	}
	return int(cur), nil
}

// nrOpen reads /proc/sys/fs/nr_open, the ceiling of any process's
// descriptor limit, or returns 0 if it cannot.
func nrOpen() int {
	b, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return n
}

// openFdCount counts the descriptors the process holds, from /proc/self/fd.
func openFdCount() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 64 // a guess, used only for sizing
	}
	return len(ents)
}

// pipetestParseInts parses a comma-separated list of positive integers.
func pipetestParseInts(flagName, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(strings.ReplaceAll(f, "_", ""))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-%s: %q is not a positive integer", flagName, f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-%s: empty list", flagName)
	}
	return out, nil
}

// pipetestParseNames parses a comma-separated list of names, each of which
// must be in known.
func pipetestParseNames(flagName, s string, known []string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		ok := false
		for _, k := range known {
			if f == k {
				ok = true
			}
		}
		if !ok {
			return nil, fmt.Errorf("-%s: unknown name %q (known: %s)", flagName, f, strings.Join(known, ", "))
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-%s: empty list", flagName)
	}
	return out, nil
}
