package proc_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/bench/load"
	"github.com/eventpoll/eventpoll/bench/proc"
	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// statLine is a /proc/PID/stat line as Linux 6.x writes it, with the
// given command name, utime and stime.
func statLine(comm string, utime, stime uint64) string {
	return fmt.Sprintf("4242 (%s) S 1 4242 4242 0 -1 4194560 1380 0 0 0 %d %d 0 0 20 0 5 0 6343451 "+
		"1263489024 2861 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n", comm, utime, stime)
}

func TestParseStatCountsFieldsFromTheLastParenthesis(t *testing.T) {
	for _, comm := range []string{"peerserver", "a b", "x) S 1 2 3 4 5 6 7 8 9 10 11 12 (y", ")", "((", ""} {
		u, s, err := proc.ParseStat([]byte(statLine(comm, 1234, 56789)))
		if err != nil || u != 1234 || s != 56789 {
			t.Errorf("comm %q: utime %d, stime %d, %v; want 1234, 56789", comm, u, s, err)
		}
	}
	for _, bad := range []string{"", "4242 peerserver S 1", "4242 (x) S 1 2 3", "4242 (x) S 1 2 3 4 5 6 7 8 9 10 -1 12"} {
		if _, _, err := proc.ParseStat([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add("peerserver", uint64(3), uint64(7))
	f.Add("a) (b", uint64(0), uint64(1<<63))
	f.Add("x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 (y", uint64(99), uint64(100))
	f.Fuzz(func(t *testing.T, comm string, utime, stime uint64) {
		// Any bytes: an error or two numbers, never a panic.
		proc.ParseStat([]byte(comm))
		// The kernel cuts the name at 15 bytes and writes it as it is;
		// whatever it holds, the numbers after it come back.
		if len(comm) > 15 || strings.ContainsAny(comm, "\x00") {
			return
		}
		u, s, err := proc.ParseStat([]byte(statLine(comm, utime, stime)))
		if err != nil || u != utime || s != stime {
			t.Fatalf("comm %q: utime %d, stime %d, %v; want %d, %d", comm, u, s, err, utime, stime)
		}
	})
}

func TestReadCPUTimeIsTheProcessCPUClock(t *testing.T) {
	var before, after unix.Timespec
	for end := time.Now().Add(30 * time.Millisecond); time.Now().Before(end); {
	}
	unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &before)
	got, err := proc.ReadCPUTime(os.Getpid())
	unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &after)
	if err != nil {
		t.Fatal(err)
	}
	if got.Run < time.Duration(before.Nano()) || got.Run > time.Duration(after.Nano()) {
		t.Fatalf("run time %v, outside this process's own CPU clock's %v..%v", got.Run,
			time.Duration(before.Nano()), time.Duration(after.Nano()))
	}
}

func TestReadCPUTimeOfAChildGrowsWithItsWork(t *testing.T) {
	fdtest.Check(t)
	c, err := child(t, nil, "-impl", "net", "-app", "echo")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	a, err := proc.ReadCPUTime(c.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (load.Echo{Addr: c.Addr, Conns: 8, Size: 64, Depth: 1, Timing: quick}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := proc.ReadCPUTime(c.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if a.Run <= 0 || b.Run <= a.Run || b.UserTicks+b.SysTicks < a.UserTicks+a.SysTicks {
		t.Fatalf("child's CPU time %+v, then %+v after serving: want it to grow", a, b)
	}
}
