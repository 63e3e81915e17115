package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// CPUTime is what a process has spent on CPUs since it started, all its
// threads together, those that have exited included.
type CPUTime struct {
	// Run is the time its threads ran, exact to the nanosecond: the
	// kernel's sum_exec_runtime, read through the process's CPU-time
	// clock (clock_getcpuclockid(3)).
	Run time.Duration
	// UserTicks and SysTicks are utime and stime of /proc/PID/stat in
	// clock ticks (USER_HZ, 100 a second): the kernel scales them to add
	// up to Run, by the split its tick sampling saw. They are the user
	// and system split of Run, no more precise than a tick.
	UserTicks, SysTicks uint64
}

// ReadCPUTime reads a process's CPU time. Any process's CPU-time clock
// may be read; /proc/PID/stat is world-readable.
func ReadCPUTime(pid int) (CPUTime, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return CPUTime{}, err
	}
	var t CPUTime
	if t.UserTicks, t.SysTicks, err = ParseStat(b); err != nil {
		return CPUTime{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(processClock(pid), &ts); err != nil {
		return CPUTime{}, fmt.Errorf("clock_gettime of process %d's CPU clock: %w", pid, err)
	}
	t.Run = time.Duration(ts.Nano())
	return t, nil
}

// processClock is the clock ID of a process's CPU-time clock that counts
// its threads' run time (CPUCLOCK_SCHED): the kernel encodes the pid in
// the ID, as clock_getcpuclockid does (MAKE_PROCESS_CPUCLOCK in
// include/linux/posix-timers.h).
func processClock(pid int) int32 {
	const cpuclockSched = 2
	return int32(^uint32(pid)<<3 | cpuclockSched)
}

// ParseStat returns utime and stime, in clock ticks, from the text of
// /proc/PID/stat. The second field, the command name in parentheses, may
// itself hold spaces and parentheses (a process names itself with
// prctl(PR_SET_NAME)), so the fields are counted from the last ')'.
func ParseStat(b []byte) (utime, stime uint64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New("no ')' ending the command name")
	}
	// After the name: state (field 3) ... utime (14), stime (15).
	f := bytes.Fields(b[i+1:])
	const utimeAt, stimeAt = 14 - 3, 15 - 3
	if len(f) <= stimeAt {
		return 0, 0, fmt.Errorf("%d fields after the command name, want utime and stime at %d and %d", len(f), utimeAt, stimeAt)
	}
	if utime, err = strconv.ParseUint(string(f[utimeAt]), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("utime: %w", err)
	}
	if stime, err = strconv.ParseUint(string(f[stimeAt]), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("stime: %w", err)
	}
	return utime, stime, nil
}
