package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// childEnv makes the test binary, run again as a child, play a part
// instead of running the tests: "instances" sets up epoll instances for
// another process to read; "command" is epollstat itself.
const childEnv = "EPOLLSTAT_TEST_CHILD"

// childLife bounds how long an "instances" child lives if its parent
// never closes its standard input.
const childLife = time.Minute

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "instances":
		os.Exit(childInstances())
	case "command":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// childReady is what an "instances" child reports on its standard output,
// after "READY ", once it has set up its instances.
type childReady struct {
	Outer, Inner   int // an instance and one nested in it
	Listener, Port int // a TCP listener in the outer instance
	Pipe           int // a pipe in the inner instance
	Stale, Held    int // an eventfd registered in outer, then dup'ed to Held and closed
}

// childInstances sets up epoll instances that include a stale registration,
// reports them, and waits until its standard input closes. Descriptors 3
// and 4 are the parent's epoll instance and an eventfd registered in it:
// the child keeps both open.
func childInstances() int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "child:", err); return 3 }
	outer, err := newPlainEpoll()
	if err != nil {
		return fail(err)
	}
	inner, err := newPlainEpoll()
	if err != nil {
		return fail(err)
	}
	var r childReady
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail(err)
	}
	if err := unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return fail(err)
	}
	if err := unix.Listen(ln, 8); err != nil {
		return fail(err)
	}
	sa, _ := unix.Getsockname(ln)
	r.Listener, r.Port = ln, sa.(*unix.SockaddrInet4).Port
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return fail(err)
	}
	r.Pipe = p[0]
	// The stale registration's number is far above the others, so that no
	// descriptor the child opens later (the Go runtime makes some) takes
	// it: it stays closed, not reused.
	ev, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fail(err)
	}
	efd, err := unix.FcntlInt(uintptr(ev), unix.F_DUPFD_CLOEXEC, 900)
	if err != nil {
		return fail(err)
	}
	unix.Close(ev)
	r.Outer, r.Inner, r.Stale = outer.Fd(), inner.Fd(), efd
	for _, add := range []struct {
		ep *plainEpoll
		fd int
	}{{inner, p[0]}, {outer, ln}, {outer, inner.Fd()}, {outer, efd}} {
		if err := add.ep.Add(add.fd, epoll.In, uint64(add.fd)); err != nil {
			return fail(err)
		}
	}
	if r.Held, err = unix.FcntlInt(uintptr(efd), unix.F_DUPFD_CLOEXEC, 0); err != nil {
		return fail(err)
	}
	unix.Close(efd)
	b, _ := json.Marshal(r)
	fmt.Printf("READY %s\n", b)
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
	select {
	case <-done:
	case <-time.After(childLife):
	}
	return 0
}

// startChild runs the test binary as an "instances" child with the given
// files as its descriptors 3, 4, ..., waits for it to be ready, and kills
// it when the test ends.
func startChild(t *testing.T, files ...*os.File) (*exec.Cmd, childReady) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=instances")
	cmd.ExtraFiles = files
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		f.Close() // the child has them now
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- l
	}()
	var r childReady
	select {
	case l := <-lines:
		js, ok := strings.CutPrefix(strings.TrimSpace(l), "READY ")
		if !ok || json.Unmarshal([]byte(js), &r) != nil {
			t.Fatalf("child said %q, want READY and its descriptors", l)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("child not ready within 30s")
	}
	return cmd, r
}

// fileOf returns an *os.File of a duplicate of fd, for ExtraFiles;
// startChild closes it.
func fileOf(t *testing.T, fd int) *os.File {
	t.Helper()
	d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(d), "dup")
}

func TestInstancesOfAnotherProcessAreReadFromOutside(t *testing.T) {
	fdtest.Check(t)
	shared := newInstance(t)
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	add(t, shared, efd, epoll.In, 0x51)
	cmd, r := startChild(t, fileOf(t, shared.Fd()), fileOf(t, efd))
	// The child holds the eventfd as its fd 4: closing ours leaves our
	// registration alive, under a number we no longer have.
	unix.Close(efd)

	pid, child := os.Getpid(), cmd.Process.Pid
	s := look(t, config{pids: []int{pid, child}})
	var cp *Process
	for _, p := range s.Processes {
		if p.Pid == child {
			cp = p
		}
	}
	if cp == nil || cp.Comm != filepath.Base(os.Args[0])[:min(15, len(filepath.Base(os.Args[0])))] {
		t.Fatalf("child process %d not read, or named wrongly: %+v", child, cp)
	}

	outer := instance(t, s, child, r.Outer)
	if outer.Nested || len(outer.Registrations) != 3 {
		t.Errorf("outer instance: nested %v, %d registrations; want a root with 3", outer.Nested, len(outer.Registrations))
	}
	if l := registration(t, outer, r.Listener); l.Kind != "socket" || l.Detail != fmt.Sprintf("tcp 127.0.0.1:%d LISTEN", r.Port) || l.Stale != nil {
		t.Errorf("listener: %+v", l)
	}
	if n := registration(t, outer, r.Inner); n.Nested == nil || *n.Nested != r.Inner || !instance(t, s, child, r.Inner).Nested {
		t.Errorf("inner instance not nested under outer: %+v", n)
	}
	if p := registration(t, instance(t, s, child, r.Inner), r.Pipe); p.Kind != "pipe" || p.Stale != nil {
		t.Errorf("pipe in the inner instance: %+v", p)
	}
	st := registration(t, outer, r.Stale)
	if st.Stale == nil || st.Stale.Reason != "closed" || len(st.Stale.HeldAs) != 1 || st.Stale.HeldAs[0] != (PidFd{child, r.Held}) {
		t.Errorf("dup'ed-then-closed eventfd in the child: stale %+v; want closed, held as fd %d of pid %d", st.Stale, r.Held, child)
	}

	// The parent's instance is the child's fd 3: one instance, two holders.
	mine, theirs := instance(t, s, pid, shared.Fd()), instance(t, s, child, 3)
	if len(mine.SharedWith) != 1 || mine.SharedWith[0] != (PidFd{child, 3}) || len(theirs.SharedWith) != 1 || theirs.SharedWith[0] != (PidFd{pid, shared.Fd()}) {
		t.Errorf("shared instance: ours shared with %v, the child's with %v", mine.SharedWith, theirs.SharedWith)
	}
	ours := registration(t, mine, efd)
	if ours.Stale == nil || ours.Stale.Reason != "closed" || len(ours.Stale.HeldAs) != 1 || ours.Stale.HeldAs[0] != (PidFd{child, 4}) {
		t.Errorf("our closed eventfd: stale %+v; want closed, held as fd 4 of pid %d", ours.Stale, child)
	}
	if want := fmt.Sprintf("the registered file is still open as fd 4 of pid %d", child); ours.Stale != nil && !strings.Contains(ours.Stale.Why, want) {
		t.Errorf("why %q lacks %q", ours.Stale.Why, want)
	}

	// Named alone, we still learn where our closed eventfd lives: the
	// processes not shown are searched for a holder when none is nearer.
	alone := look(t, config{})
	if r := registration(t, instance(t, alone, pid, shared.Fd()), efd); r.Stale == nil ||
		len(r.Stale.HeldAs) != 1 || r.Stale.HeldAs[0] != (PidFd{child, 4}) || r.Kind != "eventfd" {
		t.Errorf("our closed eventfd, the child not named: kind %q, stale %+v; want eventfd held as fd 4 of pid %d", r.Kind, r.Stale, child)
	}

	// Both processes are root's (or both the user's): the shared instance
	// counts once.
	entries, regs := 0, 0
	for _, p := range s.Processes {
		for _, in := range p.Instances {
			entries++
			regs += len(in.Registrations)
		}
	}
	w := s.Watches[0]
	if w.Instances != entries-1 || w.Registrations != regs-len(mine.Registrations) {
		t.Errorf("watches %+v; want %d instances, %d registrations (the shared one once)", w, entries-1, regs-len(mine.Registrations))
	}

	// The command on the child alone: -stale lists the child's stale
	// registrations and exits 1. The child also sees our eventfd's
	// registration in the shared instance under our number, which names
	// nothing of its own (stale too) unless that number is 4.
	wantStale := 2
	if efd == 4 {
		wantStale = 1
	}
	code, out, errOut := runCommand(t, t.Context(), "-stale", "-json", strconv.Itoa(child))
	var cs Snapshot
	if err := json.Unmarshal([]byte(out), &cs); err != nil || code != 1 || cs.Stale != wantStale || errOut != "" {
		t.Errorf("-stale -json %d: exit %d, %d stale (want 1, %d), %v, stderr %q", child, code, cs.Stale, wantStale, err, errOut)
	}
}

// copyForOthers copies the test binary where any user can run it.
func copyForOthers(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "epollstat")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "epollstat.test")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// nobody is the uid and gid the unprivileged run takes.
const nobody = 65534

func TestUnreadableProcessesAreNamedNotFatal(t *testing.T) {
	fdtest.Check(t)
	if os.Getuid() != 0 {
		t.Skip("needs root to run the command as another user")
	}
	bin := copyForOthers(t)
	ep := newInstance(t) // so that this process holds an instance nobody cannot see
	add(t, ep, fdtest.Eventfd(t), epoll.In, 1)
	pid, comm := os.Getpid(), readComm(t, os.Getpid())
	asNobody := func(args ...string) (int, string, string) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), childEnv+"=command")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		if _, ok := err.(*exec.ExitError); err != nil && !ok {
			t.Fatalf("running as nobody: %v", err)
		}
		return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
	}

	code, out, errOut := asNobody(strconv.Itoa(pid))
	want := fmt.Sprintf("epollstat: could not read 1 process: permission denied: %d (%s)\n", pid, comm)
	if code != 2 || errOut != want || !strings.Contains(out, "at least 0 registrations") {
		t.Errorf("named root process as nobody: exit %d\nstderr %q\nwant   %q\nstdout %q", code, errOut, want, out)
	}

	code, out, errOut = asNobody()
	if code != 0 || !strings.Contains(errOut, "permission denied: ") || !strings.Contains(errOut, strconv.Itoa(pid)) && !strings.Contains(errOut, " more") {
		t.Errorf("every process as nobody: exit %d\nstderr %q", code, errOut)
	}
	if b, err := os.ReadFile(procPath(2, "comm")); err == nil && string(b) == "kthreadd\n" && strings.Contains(errOut, "(kthreadd)") {
		t.Errorf("kernel threads hold no descriptors, yet are named as unreadable: %q", errOut)
	}
	if !strings.Contains(out, fmt.Sprintf("uid %d", nobody)) {
		t.Errorf("every process as nobody: no summary for uid %d:\n%s", nobody, out)
	}

	code, out, _ = asNobody("-json", strconv.Itoa(pid))
	var s Snapshot
	if err := json.Unmarshal([]byte(out), &s); err != nil || code != 2 || len(s.Unreadable) != 1 ||
		*s.Unreadable[0] != (Unreadable{Pid: pid, Comm: comm, Uid: 0, Error: "permission denied"}) {
		t.Errorf("-json as nobody: exit %d, %v, %s", code, err, out)
	}
}

func readComm(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(procPath(pid, "comm"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestKernelThreadsAreToldFromProcesses(t *testing.T) {
	if isKernelThread(os.Getpid()) {
		t.Error("this process taken for a kernel thread")
	}
	if b, err := os.ReadFile(procPath(2, "comm")); err != nil || string(b) != "kthreadd\n" {
		t.Skip("no kthreadd at pid 2 in this pid namespace")
	}
	if !isKernelThread(2) {
		t.Error("kthreadd not taken for a kernel thread")
	}
}
