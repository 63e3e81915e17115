package source

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

func newSignals(t testing.TB, sigs ...syscall.Signal) *Signals {
	t.Helper()
	return fdtest.New(t, func() (*Signals, error) { return NewSignals(sigs...) })
}

func TestSignalSentToProcessArrivesAsReadiness(t *testing.T) {
	fdtest.Check(t)
	ep := newInstance(t)
	s := newSignals(t, syscall.SIGUSR1, syscall.SIGUSR2)
	watch(t, ep, s, 11)
	expectNoEvent(t, ep)
	if _, err := s.Read(); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("Read with nothing pending = %v, want EAGAIN", err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ep, 11, 5*time.Second)
	if sig, err := s.Read(); err != nil || sig != syscall.SIGUSR1 {
		t.Fatalf("Read = %v, %v; want SIGUSR1", sig, err)
	}
	_, err := s.Read()
	wantAgain(t, "Read after the signal was taken", err)
	expectNoEvent(t, ep)

	// Two signals, in the order they arrived.
	syscall.Kill(os.Getpid(), syscall.SIGUSR2)
	waitEvent(t, ep, 11, 5*time.Second)
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	deadline := time.Now().Add(5 * time.Second)
	var got []syscall.Signal
	for len(got) < 2 && time.Now().Before(deadline) {
		sig, err := s.Read()
		if errors.Is(err, unix.EAGAIN) {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, sig)
	}
	if len(got) != 2 || got[0] != syscall.SIGUSR2 || got[1] != syscall.SIGUSR1 {
		t.Fatalf("read %v, want [SIGUSR2 SIGUSR1]", got)
	}
}

func TestSignalsRejectUncatchableAndEmptySets(t *testing.T) {
	fdtest.Check(t)
	for _, sigs := range [][]syscall.Signal{nil, {syscall.SIGKILL}, {syscall.SIGUSR1, syscall.SIGSTOP}, {0}, {65}, {-3}} {
		s, err := NewSignals(sigs...)
		if s != nil {
			s.Close()
			t.Fatalf("NewSignals(%v) succeeded", sigs)
		}
		wantCallError(t, err, unix.EINVAL, "signal.Notify")
	}
}

func TestSignalsCallsAfterCloseReturnErrClosed(t *testing.T) {
	s, err := NewSignals(syscall.SIGUSR2)
	if err != nil {
		t.Fatal(err)
	}
	fdtest.CloseTwice(t, s)
	if _, err := s.Read(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close = %v", err)
	}
}

// TestSignalsCloseRestoresDefaultHandling runs a child copy of the test
// binary that takes SIGTERM through Signals, closes it, then sends itself
// SIGTERM again: with default handling restored the signal must kill it.
// (SIGTERM, not SIGUSR1: a Go program's default for SIGUSR1 is to catch
// and ignore it, so a restored default would be indistinguishable.)
func TestSignalsCloseRestoresDefaultHandling(t *testing.T) {
	if os.Getenv("SOURCE_TEST_HELPER") == "signals-close" {
		signalsCloseHelper()
		return
	}
	devnull, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	defer devnull.Close()
	p, err := StartProcess(os.Args[0], []string{os.Args[0], "-test.run=^TestSignalsCloseRestoresDefaultHandling$"}, &os.ProcAttr{
		Env:   append(os.Environ(), "SOURCE_TEST_HELPER=signals-close"),
		Files: []*os.File{devnull, os.Stderr, os.Stderr},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ep := newInstance(t)
	watch(t, ep, p, 1)
	waitEvent(t, ep, 1, 60*time.Second)
	st, err := p.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if st.Signal != syscall.SIGTERM {
		t.Fatalf("helper ended with %v; want killed by SIGTERM (exit 7: the signal was not delivered through Signals; exit 8: it survived after Close)", st)
	}
}

func signalsCloseHelper() {
	ep, err := epollNew()
	if err != nil {
		os.Exit(9)
	}
	s, err := NewSignals(syscall.SIGTERM)
	if err != nil {
		os.Exit(9)
	}
	ep.Add(s.Fd(), 1, 1)
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	if !waitOne(ep, 5*time.Second) {
		os.Exit(7)
	}
	if sig, err := s.Read(); err != nil || sig != syscall.SIGTERM {
		os.Exit(7)
	}
	ep.Delete(s.Fd())
	s.Close()
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	time.Sleep(2 * time.Second)
	os.Exit(8)
}

// TestSignalsBurstOfOneSignalKeepsAnother holds the forwarding back (as a
// descheduled goroutine would) while SIGUSR1 arrives six times, each handed
// over by the runtime on its own, and then SIGUSR2 once: SIGUSR2 must not be
// lost behind the repeats, and the repeats are merged while pending.
func TestSignalsBurstOfOneSignalKeepsAnother(t *testing.T) {
	release := make(chan struct{})
	signalsForwardHook = func() { <-release }
	s := newSignals(t, syscall.SIGUSR1, syscall.SIGUSR2)
	signalsForwardHook = nil
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	ep := newInstance(t)
	watch(t, ep, s, 12)
	for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR1, syscall.SIGUSR1, syscall.SIGUSR1, syscall.SIGUSR1, syscall.SIGUSR1, syscall.SIGUSR2} {
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
		// Long enough for the runtime to hand each one over by itself,
		// rather than merge repeats while they are pending in its mask.
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	released = true
	got := map[syscall.Signal]int{}
	deadline := time.Now().Add(5 * time.Second)
	for (got[syscall.SIGUSR1] == 0 || got[syscall.SIGUSR2] == 0) && time.Now().Before(deadline) {
		waitOne(ep, 100*time.Millisecond)
		for {
			sig, err := s.Read()
			if errors.Is(err, unix.EAGAIN) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got[sig]++
		}
	}
	// The late forwarder holds one SIGUSR1 and its channel one more; the
	// other four were merged. The second may be read apart from the first.
	if got[syscall.SIGUSR2] != 1 || got[syscall.SIGUSR1] < 1 || got[syscall.SIGUSR1] > 2 {
		t.Fatalf("read %v; want SIGUSR2 once and SIGUSR1 once or twice (six merged while pending)", got)
	}
}

func TestSignalsListedTwiceAreWatchedOnce(t *testing.T) {
	s := newSignals(t, syscall.SIGUSR2, syscall.SIGUSR1, syscall.SIGUSR2)
	if got := s.Signals(); len(got) != 2 || got[0] != syscall.SIGUSR2 || got[1] != syscall.SIGUSR1 {
		t.Fatalf("Signals() = %v, want [SIGUSR2 SIGUSR1]", got)
	}
}
