package source

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

func startT(t testing.TB, argv ...string) *Process {
	t.Helper()
	return fdtest.New(t, func() (*Process, error) { return StartProcess(argv[0], argv, nil) })
}

func TestProcessExitIsReportedAndStatusRead(t *testing.T) {
	fdtest.Check(t)
	ep := newInstance(t)
	p := startT(t, "sh", "-c", "exit 3")
	nb, ce := fdFlags(t, p.Fd())
	if !nb || !ce {
		t.Fatalf("pidfd nonblock=%v cloexec=%v, want both", nb, ce)
	}
	watch(t, ep, p, 31)
	waitEvent(t, ep, 31, 10*time.Second)
	st, err := p.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !st.Exited() || st.Code != 3 || st.Pid != p.Pid() || st.String() != "exit status 3" {
		t.Fatalf("status %+v (%v), want exit status 3 of pid %d", st, st, p.Pid())
	}
	if again, err := p.Wait(); err != nil || again != st {
		t.Fatalf("second Wait = %+v, %v; want the same status", again, err)
	}
	// Reaped: no zombie left behind.
	if err := unix.Kill(p.Pid(), 0); !errors.Is(err, unix.ESRCH) {
		t.Fatalf("kill(pid, 0) after Wait = %v, want ESRCH (reaped)", err)
	}
}

func TestProcessWaitWhileRunningIsEAGAINThenKilledStatus(t *testing.T) {
	ep := newInstance(t)
	p := startT(t, "sleep", "30")
	watch(t, ep, p, 32)
	expectNoEvent(t, ep)
	_, err := p.Wait()
	wantAgain(t, "Wait on a running process", err)
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ep, 32, 10*time.Second)
	st, err := p.Wait()
	if err != nil || st.Exited() || st.Signal != syscall.SIGKILL || st.String() != "signal: killed" {
		t.Fatalf("Wait = %+v (%v), %v; want killed by SIGKILL", st, st, err)
	}
	wantCallError(t, p.Signal(syscall.SIGTERM), unix.ESRCH, "pidfd_send_signal")
}

func TestOpenProcessWatchesAChildStartedElsewhere(t *testing.T) {
	ep := newInstance(t)
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Release()
	p, err := OpenProcess(cmd.Process.Pid) // unreaped, so the pid is still this child
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	watch(t, ep, p, 33)
	waitEvent(t, ep, 33, 10*time.Second)
	if st, err := p.Wait(); err != nil || st.Code != 0 || !st.Exited() {
		t.Fatalf("Wait = %+v, %v; want exit status 0", st, err)
	}
}

func TestOpenProcessOfNonChildCannotWait(t *testing.T) {
	p, err := OpenProcess(1)
	if err != nil {
		t.Skipf("pidfd_open(1): %v", err)
	}
	defer p.Close()
	_, err = p.Wait()
	wantCallError(t, err, unix.ECHILD, "waitid")
}

func TestOpenProcessNonexistentPidFailsWithESRCH(t *testing.T) {
	fdtest.Check(t)
	pid := findFreePid(t)
	p, err := OpenProcess(pid)
	if p != nil {
		t.Fatalf("OpenProcess(%d) returned a process", pid)
	}
	wantCallError(t, err, unix.ESRCH, "pidfd_open")
	for _, bad := range []int{0, -1} {
		_, err := OpenProcess(bad)
		wantCallError(t, err, unix.EINVAL, "pidfd_open")
	}
	_, err = StartProcess("/nonexistent/program", []string{"x"}, nil)
	wantCallError(t, err, unix.ENOENT, "start")
	_, err = StartProcess("no-such-program-in-path", []string{"x"}, nil)
	wantCallError(t, err, exec.ErrNotFound, "start")
}

// findFreePid returns a pid that no process has (checked with kill 0).
func findFreePid(t testing.TB) int {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Fatal(err)
	}
	max := 0
	for _, c := range strings.TrimSpace(string(b)) {
		max = max*10 + int(c-'0')
	}
	for pid := max - 1; pid > max-1000; pid-- {
		if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
			return pid
		}
	}
	t.Fatal("no free pid found")
	return 0
}

func TestWithoutPidfdTheErrorSaysSo(t *testing.T) {
	fdtest.Check(t)
	noPidfd = true
	defer func() { noPidfd = false }()
	_, err := OpenProcess(os.Getpid())
	if !errors.Is(err, ErrUnsupported) || !errors.Is(err, unix.ENOSYS) || !strings.Contains(err.Error(), "Linux 5.3") {
		t.Fatalf("OpenProcess without pidfd: %v; want ErrUnsupported naming Linux 5.3", err)
	}
	_, err = StartProcess("true", []string{"true"}, nil)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "Linux 5.3") {
		t.Fatalf("StartProcess without pidfd: %v; want ErrUnsupported naming Linux 5.3", err)
	}
}

func TestProcessCallsAfterCloseReturnErrClosed(t *testing.T) {
	p, err := StartProcess("true", []string{"true"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := p.Pid()
	p.Close()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait after Close = %v", err)
	}
	if err := p.Signal(syscall.SIGTERM); !errors.Is(err, ErrClosed) {
		t.Fatalf("Signal after Close = %v", err)
	}
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, 0, nil) // reap the child Close left behind
}

// TestProcessWaitWhileRunningAllocatesNothing: a loop calls Wait on every
// report until it stops answering EAGAIN; that answer allocates nothing.
func TestProcessWaitWhileRunningAllocatesNothing(t *testing.T) {
	p := startT(t, "sleep", "30")
	defer p.Signal(syscall.SIGKILL)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := p.Wait(); !isEAGAIN(err) {
			t.Fatalf("Wait on a running process: %v", err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Wait to EAGAIN allocates %v times per call, want 0", allocs)
	}
}

// TestProcessWaitAfterCloseReturnsErrClosedEvenOnceReaped: the status kept
// for a second Wait is not an answer after Close.
func TestProcessWaitAfterCloseReturnsErrClosedEvenOnceReaped(t *testing.T) {
	ep := newInstance(t)
	p := startT(t, "true")
	watch(t, ep, p, 1)
	waitEvent(t, ep, 1, 10*time.Second)
	if st, err := p.Wait(); err != nil || st.Code != 0 {
		t.Fatalf("Wait = %v, %v; want exit status 0", st, err)
	}
	ep.Delete(p.Fd())
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err := p.Wait(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait after Close = %v, %v; want ErrClosed", st, err)
	}
}

// TestProcessNumbersBeyondInt32AreRefusedNotTruncated: a pid or signal
// number the kernel would cut to 32 bits is refused with EINVAL before the
// system call, instead of opening or signalling another process (1<<32|9
// would be SIGKILL).
func TestProcessNumbersBeyondInt32AreRefusedNotTruncated(t *testing.T) {
	fdtest.Check(t)
	p := startT(t, "sleep", "30")
	defer p.Signal(syscall.SIGKILL)
	for _, sig := range []syscall.Signal{1<<32 | syscall.SIGKILL, -1, 65} {
		wantCallError(t, p.Signal(sig), unix.EINVAL, "pidfd_send_signal")
	}
	if _, err := p.Wait(); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("after the refused signals, Wait = %v; want EAGAIN (still running)", err)
	}
	if err := p.Signal(0); err != nil {
		t.Fatalf("Signal(0), the existence check: %v", err)
	}
	q, err := OpenProcess(1<<32 | p.Pid())
	if q != nil {
		q.Close()
	}
	wantCallError(t, err, unix.EINVAL, "pidfd_open")
}
