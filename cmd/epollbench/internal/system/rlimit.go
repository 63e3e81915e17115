package system

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// RaiseNofile raises RLIMIT_NOFILE so that the process may hold want
// descriptors, and returns how many it may hold afterwards.
//
// The soft limit can always go up to the hard limit. Past the hard limit only
// a process with CAP_SYS_RESOURCE (root) may go, and never past
// /proc/sys/fs/nr_open; the kernel answers EPERM or EINVAL otherwise, and the
// caller is told the limit it got so that it can shrink the experiment and say
// so in a note instead of failing half-way with EMFILE.
func RaiseNofile(want int) (int, error) {
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
		if nr := NrOpen(); nr > 0 && max > uint64(nr) {
			max = uint64(nr)
		}
		try := unix.Rlimit{Cur: max, Max: max}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &try); err == nil {
			return int(max), nil
		}
	}
	cur := min(lim.Max, uint64(want))
	try := unix.Rlimit{Cur: cur, Max: lim.Max}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &try); err != nil {
		return int(lim.Cur), fmt.Errorf("setrlimit(RLIMIT_NOFILE, %d): %w", cur, err)
	}
	return int(cur), nil
}

// NeedNofile raises RLIMIT_NOFILE to at least want descriptors (see
// RaiseNofile), or says why it cannot: a run that needs them would
// otherwise fail half-way with EMFILE.
func NeedNofile(want int) error {
	got, err := RaiseNofile(want)
	if err != nil {
		return err
	}
	if got < want {
		return fmt.Errorf("RLIMIT_NOFILE: the run needs %d descriptors, the limit can only be raised to %d", want, got)
	}
	return nil
}

// NrOpen reads /proc/sys/fs/nr_open, the ceiling of any process's
// descriptor limit, or returns 0 if it cannot.
func NrOpen() int {
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

// OpenFds counts the descriptors the process holds, from /proc/self/fd.
func OpenFds() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 64 // a guess, used only for sizing
	}
	return len(ents)
}
