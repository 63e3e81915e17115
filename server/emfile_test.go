package server

import (
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// exhaustDescriptors lowers RLIMIT_NOFILE to a few above the highest open
// descriptor and opens /dev/null until the process is out of descriptors.
// It returns a function that frees them; the limit is restored at cleanup
// (before fdtest.Check's, which needs a descriptor).
func exhaustDescriptors(t *testing.T) (free func()) {
	t.Helper()
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	fds := openFds(t)
	lim := old
	lim.Cur = uint64(fds[len(fds)-1] + 8)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	var fillers []int
	freed := false
	free = func() {
		if !freed {
			freed = true
			for _, fd := range fillers {
				unix.Close(fd)
			}
		}
	}
	t.Cleanup(func() {
		free()
		unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	})
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.EMFILE {
			return free
		}
		if err != nil {
			t.Fatal(err)
		}
		fillers = append(fillers, fd)
	}
}

func openFds(t *testing.T) []int {
	ents, err := unixReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	sort.Ints(ents)
	return ents
}

// cpuTime is the process's user and system time.
func cpuTime(t *testing.T) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// asleep waits until every loop of the server has slept in its wait once:
// an epoll instance opens the eventfd that wakes its blocked waiters on the
// first wait that blocks, which must not come after descriptors run out.
func asleep(t *testing.T, ts *testServer) {
	t.Helper()
	for _, w := range ts.loops() {
		eventually(t, "loop asleep once", func() bool {
			w.l.Post(func() {})
			return w.l.Stats().Wakeups > 0
		})
	}
}

// outOfDescriptors serves an echo server with one open connection (the
// helper's connection 0), runs the process out of descriptors and dials
// queued more connections, which the server cannot accept.
func outOfDescriptors(t *testing.T, cl *clientProc, queued int, opts ...Option) (ts *testServer, ev *events, free func()) {
	ev = newEvents()
	ts = serve(t, "tcp", echoEvents{events: ev}, opts...)
	asleep(t, ts)
	cl = cl.with(t)
	cl.do("dial tcp %s 1", ts.Addr())
	ev.waitOpen(t)
	cl.do("echo 0 before")
	free = exhaustDescriptors(t)
	cl.do("dial tcp %s %d", ts.Addr(), queued)
	eventually(t, "accepting paused", func() bool { return ts.Stats().Total.AcceptPauses > 0 })
	return ts, ev, free
}

func TestAcceptPausesOnEMFILEAndResumesWhenDescriptorsFree(t *testing.T) {
	cl := startClients(t)
	forModes(t, func(t *testing.T, opts ...Option) {
		ts, ev, free := outOfDescriptors(t, cl, 3, opts...) // connections 1..3
		eventually(t, "a queued connection refused", func() bool { return ts.Stats().Total.Refused > 0 })
		// A loop may take the room another made to refuse a connection,
		// and accept one; after that, nothing opens until descriptors free.
		time.Sleep(20 * time.Millisecond)
		for len(ev.opened) > 0 {
			<-ev.opened
		}

		// Paused: the open connection is served, and the loops sleep. The
		// collection and the return to the OS of what the test itself
		// allocated (it read /proc/self/fd, thousands of entries) are not
		// the server's: finish both before the measure.
		assertPausedIdle(t, ts, 300*time.Millisecond, nil)
		cl.do("echo 0 during")
		select {
		case oe := <-ev.opened:
			t.Fatalf("a connection opened while descriptors were exhausted: %v", oe.c)
		default:
		}

		freed := time.Now()
		free()
		oe := ev.waitOpenAt(t)
		if d := oe.at.Sub(freed); d > 100*time.Millisecond {
			t.Fatalf("accepting resumed %v after descriptors were freed; want within 100ms", d)
		}
		refused := int(ts.Stats().Total.Refused)
		eventually(t, "every queued connection accepted or refused", func() bool { return int(ts.Stats().Total.Accepted) == 4-refused })
		eofs := 0
		for i, st := range strings.Fields(cl.do("states 1 2 3")) {
			switch st {
			case "eof":
				eofs++
			case "waiting":
			default:
				t.Fatalf("queued connection %d: %s", i+1, st)
			}
		}
		if eofs != refused {
			t.Fatalf("%d clients saw their connection closed; the server refused %d", eofs, refused)
		}
		cl.do("echo 0 after")
	})
}

// assertPausedIdle measures the process's CPU and the server's loops'
// over d with accepting paused, logs it with what note adds, and fails the
// test if the loops spun: more than one loop iteration per millisecond
// (the retry backoff allows a few dozen in 300 ms; a spin makes
// thousands), or the loops' threads used a quarter of a core or more, or
// the whole process did without the race detector (whose runtime works in
// the background on its own account). Idle here measures 1-8% of a core;
// the ceiling is for a loaded 2-core machine, where the same few dozen
// iterations cost several times the CPU, and it is still a quarter of what
// a spin uses. The collection and the return to the OS of what the test
// itself allocated are not the server's: both come before the measure.
func assertPausedIdle(t *testing.T, ts *testServer, d time.Duration, note func() string) {
	t.Helper()
	debug.FreeOSMemory()
	st0 := ts.Stats().Total
	loops0 := loopsCPU(t, ts)
	cpu0, wall0 := cpuTime(t), time.Now()
	time.Sleep(d)
	cpu, wall := cpuTime(t)-cpu0, time.Since(wall0)
	loops := loopsCPU(t, ts) - loops0
	st := ts.Stats().Total
	iters := st.Loop.Iterations - st0.Loop.Iterations
	extra := ""
	if note != nil {
		extra = "; " + note()
	}
	t.Logf("accepting paused %v: process CPU %v (%.2f%% of one core), the loops' threads %v (%.2f%%), %d loop iterations, %d pauses, %d refused%s",
		wall.Round(time.Millisecond), cpu, 100*float64(cpu)/float64(wall), loops, 100*float64(loops)/float64(wall),
		iters, st.AcceptPauses, st.Refused, extra)
	if iters > uint64(wall/time.Millisecond) {
		t.Fatalf("the server's loops ran %d iterations in %v with accepting paused: want at most one per millisecond", iters, wall)
	}
	if loops > wall/4 {
		t.Fatalf("the server's loops used %v of CPU in %v with accepting paused: want under 25%% of one core", loops, wall)
	}
	if cpu > wall/4 && !raceEnabled {
		t.Fatalf("process used %v of CPU in %v with accepting paused: want under 25%% of one core", cpu, wall)
	}
}

func TestAcceptResumesAtOnceWhenAConnectionCloses(t *testing.T) {
	oldMin, oldMax := minBackoff, maxBackoff
	minBackoff, maxBackoff = time.Hour, time.Hour // only a close can resume accepting here
	defer func() { minBackoff, maxBackoff = oldMin, oldMax }()
	cl := startClients(t)
	forModes(t, func(t *testing.T, opts ...Option) {
		_, ev, _ := outOfDescriptors(t, cl, 4, opts...)
		// A loop may take the room another made to refuse a connection
		// and accept one: those are not what this test waits for.
		time.Sleep(20 * time.Millisecond)
		for len(ev.opened) > 0 {
			<-ev.opened
		}
		cl.do("close 0")
		ce := ev.waitClose(t)
		oe := ev.waitOpenAt(t)
		if d := oe.at.Sub(ce.at); d > 100*time.Millisecond {
			t.Fatalf("accepting resumed %v after a connection closed; want at once", d)
		}
	})
}

func unixReadDir(dir string) ([]int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var out []int
	buf := make([]byte, 8192)
	for {
		n, err := unix.ReadDirent(fd, buf)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return out, nil
		}
		var names []string
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
		for _, name := range names {
			if v, err := strconv.Atoi(name); err == nil && v != fd {
				out = append(out, v)
			}
		}
	}
}
