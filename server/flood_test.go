package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// floodEnv marks a process re-run from this test binary as a flood
// helper: a client that holds one resident connection and, on command,
// keeps dialing new connections, each asking for one echo, so that a test
// can run its own process out of descriptors while clients keep coming.
const floodEnv = "EVENTPOLL_SERVER_TEST_FLOOD"

func init() {
	// Before TestMain: the helper is a client, not a test run.
	if os.Getenv(floodEnv) != "" {
		os.Exit(floodHelper())
	}
}

// startFlood starts the flood helper; it is ended at cleanup.
func startFlood(t testing.TB) *clientProc {
	t.Helper()
	return startHelper(t, floodEnv)
}

// monotonic is CLOCK_MONOTONIC in nanoseconds: one clock for the test and
// its helper processes.
func monotonic() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// floodClients is the helper's state.
type floodClients struct {
	mu       sync.Mutex
	resident net.Conn
	conns    []net.Conn
	answers  []int64 // CLOCK_MONOTONIC of each verified echo
	dialed   int
	ok       int
	refused  int // the server closed the connection unanswered (its refusal)
	bad      int // an echo that differs from what was sent
	failed   int // dial or read failures other than an orderly close or a reset
	// reset counts connections that ended with a reset before an answer:
	// a refusal whose close crossed the client's request on the wire (the
	// server read what had come and closed; what came after is answered
	// by the kernel with a reset).
	reset    int
	pending  int
	stop     chan struct{}
	dialerWg sync.WaitGroup
	readerWg sync.WaitGroup
}

func floodHelper() int {
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	lim.Cur = lim.Max
	unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	f := &floodClients{}
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	for in.Scan() {
		args := strings.Fields(in.Text())
		if len(args) == 0 {
			continue
		}
		var ans string
		switch args[0] {
		case "dial": // dial ADDR: the resident connection
			c, err := net.DialTimeout("tcp", args[1], 10*time.Second)
			ans = "ok"
			if err != nil {
				ans = "err " + err.Error()
			}
			f.resident = c
		case "echo": // echo TEXT: a round trip on the resident connection
			ans = helperEcho(f.resident, args[1])
		case "flood": // flood ADDR MAX: keep dialing, at most MAX unanswered
			f.stop = make(chan struct{})
			f.dialerWg.Add(1)
			go f.flood(args[1], atoi(args[2]))
			ans = "ok"
		case "pending": // pending: connections dialed and not answered
			f.mu.Lock()
			ans = fmt.Sprintf("%d %d", f.dialed, f.pending)
			f.mu.Unlock()
		case "first": // first NS: the earliest echo at or after NS, or -1
			since, _ := strconv.ParseInt(args[1], 10, 64)
			first := int64(-1)
			f.mu.Lock()
			for _, at := range f.answers {
				if at >= since && (first < 0 || at < first) {
					first = at
				}
			}
			f.mu.Unlock()
			ans = strconv.FormatInt(first, 10)
		case "stop": // stop SECONDS: stop dialing, wait for every answer, report
			ans = f.finish(time.Duration(atoi(args[1])) * time.Second)
		default:
			ans = "err unknown command " + args[0]
		}
		fmt.Fprintln(out, ans)
		out.Flush()
	}
	if f.stop != nil {
		f.finish(0)
	}
	if f.resident != nil {
		f.resident.Close()
	}
	return 0
}

// flood dials a connection every 2 ms while fewer than max wait for their
// echo; each sends 8 bytes naming it and waits for them back.
func (f *floodClients) flood(addr string, max int) {
	defer f.dialerWg.Done()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for k := 0; ; k++ {
		select {
		case <-f.stop:
			return
		case <-tick.C:
		}
		f.mu.Lock()
		full := f.pending >= max
		f.mu.Unlock()
		if full {
			continue
		}
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		f.mu.Lock()
		f.dialed++
		if err != nil {
			f.failed++
			f.mu.Unlock()
			continue
		}
		f.pending++
		f.conns = append(f.conns, c)
		f.mu.Unlock()
		f.readerWg.Add(1)
		go f.ask(c, fmt.Sprintf("f%07d", k%10_000_000))
	}
}

// ask sends msg and waits, without a deadline, for its echo, or for the
// connection to end.
func (f *floodClients) ask(c net.Conn, msg string) {
	defer f.readerWg.Done()
	_, werr := c.Write([]byte(msg))
	b := make([]byte, len(msg))
	_, err := io.ReadFull(c, b)
	at := monotonic()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending--
	switch {
	case err == nil && string(b) == msg:
		f.ok++
		f.answers = append(f.answers, at)
	case err == nil:
		f.bad++
	case err == io.EOF && werr == nil:
		f.refused++
	case errors.Is(err, unix.ECONNRESET) || errors.Is(werr, unix.ECONNRESET) || errors.Is(werr, unix.EPIPE):
		f.reset++
	default:
		f.failed++
	}
}

// finish stops dialing, waits up to d for the connections' outcomes, closes
// them and reports the counts.
func (f *floodClients) finish(d time.Duration) string {
	if f.stop == nil {
		return "err no flood"
	}
	close(f.stop)
	f.dialerWg.Wait()
	deadline := time.Now().Add(d)
	for {
		f.mu.Lock()
		p := f.pending
		f.mu.Unlock()
		if p == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	f.mu.Lock()
	conns := f.conns
	f.conns = nil
	unresolved := f.pending
	f.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	f.readerWg.Wait()
	f.stop = nil
	f.mu.Lock()
	defer f.mu.Unlock()
	return fmt.Sprintf("dialed %d ok %d refused %d reset %d bad %d failed %d unresolved %d",
		f.dialed, f.ok, f.refused, f.reset, f.bad, f.failed-unresolved, unresolved)
}
