package loop

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"golang.org/x/sys/unix"
)

// TestBusyLoopKeepsItsP: a loop serving a ping-pong peer (another process,
// as a network client is) waits briefly and often, as a server's loop does.
// Its goroutine is locked to its thread and never enters the scheduler on
// its own, so without yieldIfDue the runtime's monitor, seeing the P's
// scheduling tick stand still, took the P from nearly every wait, and each
// time woke another thread: in a one-second run with one P the other
// threads switched about 6,000 times against about 700 with the yield (one
// pass per yieldEvery, 500 a second). The test asks for fewer than 2,000 a
// second, and needs the peer to have made at least 10,000 round trips in
// that second to tell; a machine too slow for that skips it.
func TestBusyLoopKeepsItsP(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
		l := newLoop(t, e)
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("socketpair: %v", err)
		}
		if err := unix.SetNonblock(fds[0], true); err != nil {
			unix.Close(fds[0])
			unix.Close(fds[1])
			t.Fatalf("SetNonblock: %v", err)
		}
		peer := os.NewFile(uintptr(fds[1]), "peer")
		cmd := exec.Command(os.Args[0], "-test.run=^TestPingPongPeer$")
		cmd.Env = append(os.Environ(), "EVENTPOLL_PINGPONG_PEER=1", "GOMAXPROCS=1")
		cmd.ExtraFiles = []*os.File{peer}
		if err := cmd.Start(); err != nil {
			peer.Close()
			t.Fatalf("starting the peer: %v", err)
		}
		peer.Close()
		// The peer ends when its end of the pair does.
		defer func() { unix.Close(fds[0]); cmd.Wait() }()

		var echoes atomic.Int64
		buf := make([]byte, 64)
		tok, err := l.Register(fds[0], epoll.In, HandlerFunc(func(*Loop, Token, epoll.Events) {
			if n, _ := unix.Read(fds[0], buf); n > 0 {
				unix.Write(fds[0], buf[:n])
				echoes.Add(1)
			}
		}))
		if err != nil {
			t.Fatalf("Register: %v", err)
		}
		stop := start(t, l)
		eventually(t, "the peer's first round trip", func() bool { return echoes.Load() > 0 })
		time.Sleep(100 * time.Millisecond)

		tid := int(l.tid.Load())
		sw0, e0, t0 := otherThreadsSwitches(t, tid), echoes.Load(), time.Now()
		time.Sleep(time.Second)
		sw1, e1, took := otherThreadsSwitches(t, tid), echoes.Load(), time.Since(t0)
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if err := l.Unregister(tok); err != nil && !errors.Is(err, epoll.ErrClosed) {
			t.Fatalf("Unregister: %v", err)
		}
		perSec := float64(sw1-sw0) / took.Seconds()
		trips := float64(e1-e0) / took.Seconds()
		t.Logf("%.0f round trips/s; the loop's process switched threads other than the loop's %.0f times/s", trips, perSec)
		if trips < 10000 {
			t.Skipf("only %.0f round trips/s: too few to tell a P taken per wait from one pass per %v", trips, yieldEvery)
		}
		if perSec >= 2000 {
			t.Errorf("threads other than the loop's switched %.0f times/s beside a busy loop (%.0f round trips/s); want < 2000: the loop loses its P on its waits", perSec, trips)
		}
	})
}

// TestPingPongPeer is TestBusyLoopKeepsItsP's peer, run in a process of its
// own: it writes a byte on descriptor 3 and reads one back until the other
// end closes.
func TestPingPongPeer(t *testing.T) {
	if os.Getenv("EVENTPOLL_PINGPONG_PEER") == "" {
		t.Skip("the peer of TestBusyLoopKeepsItsP, run by it")
	}
	b := []byte{1}
	for {
		if _, err := unix.Write(3, b); err != nil {
			return
		}
		if n, err := unix.Read(3, b); n <= 0 || err != nil {
			return
		}
	}
}

// otherThreadsSwitches sums the voluntary context switches of the
// process's threads but tid, from /proc/self/task.
func otherThreadsSwitches(t *testing.T, tid int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatalf("reading /proc/self/task: %v", err)
	}
	sum := 0
	for _, e := range ents {
		if e.Name() == strconv.Itoa(tid) {
			continue
		}
		b, err := os.ReadFile("/proc/self/task/" + e.Name() + "/status")
		if err != nil {
			continue // the thread has exited
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("voluntary_ctxt_switches:")); ok {
				n, _ := strconv.Atoi(string(bytes.TrimSpace(v)))
				sum += n
			}
		}
	}
	return sum
}
