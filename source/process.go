package source

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"github.com/eventpoll/eventpoll/internal/errs"
	"github.com/eventpoll/eventpoll/internal/fdlife"
	"golang.org/x/sys/unix"
)

// Process is a pidfd (Linux 5.3): a descriptor that refers to one process,
// not to a pid number that may be reused, and that becomes readable when the
// process exits. Wait then reads its exit status with waitid(P_PIDFD), which
// also reaps it.
//
// There is no fallback for kernels without pidfd (before 5.3, or 5.2 for
// CLONE_PIDFD): a signal-driven SIGCHLD and waitpid scheme would race with
// the pid being reused, which is what pidfd exists to fix. OpenProcess and
// StartProcess fail there with an error matching ErrUnsupported that says
// so.
//
// The zero Process is not usable: every method returns an error matching
// ErrClosed (ErrNotCreated), Fd returns -1, and no call touches descriptor 0.
type Process struct {
	fd  fdlife.FD
	pid int

	mu     sync.Mutex
	reaped bool       // Wait has read the status, kept in status for the next Wait
	status ExitStatus // by value: a pointer to a local would make every Wait allocate it
}

// ExitStatus is how a process ended, decoded from the siginfo that waitid
// fills.
type ExitStatus struct {
	Pid        int            // the process ID it had
	Code       int            // the exit status (0..255), when it exited; -1 when killed
	Signal     syscall.Signal // the signal that killed it, when killed; 0 when it exited
	CoreDumped bool           // killed and dumped core
}

// Exited reports whether the process ended by calling exit (or returning
// from main) rather than by a signal.
func (s ExitStatus) Exited() bool { return s.Signal == 0 }

// String returns "exit status 3" or "signal: killed", as os.ProcessState
// does.
func (s ExitStatus) String() string {
	if s.Exited() {
		return "exit status " + strconv.Itoa(s.Code)
	}
	str := "signal: " + s.Signal.String()
	if s.CoreDumped {
		str += " (core dumped)"
	}
	return str
}

// noPidfd forces the no-pidfd answer, for tests of the error on kernels
// that have pidfd.
var noPidfd = false

var pidfdProbe = sync.OnceValue(func() error {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return err
	}
	unix.Close(fd)
	return nil
})

func checkPidfd(call string) error {
	err := pidfdProbe()
	if noPidfd {
		err = unix.ENOSYS
	}
	if err == unix.ENOSYS {
		return &errs.Error{Pkg: pkg, Call: call, Fd: -1, Err: errNoPidfd, Kind: ErrUnsupported}
	}
	return nil
}

// errNoPidfd is the cause given on a kernel without pidfd: it says which
// kernel is needed, and keeps the kernel's ENOSYS.
var errNoPidfd = fmt.Errorf("pidfd (process file descriptors) requires Linux 5.3; there is no race-free fallback: %w", unix.ENOSYS)

// OpenProcess opens a pidfd for the running process pid with
// pidfd_open(pid, PIDFD_NONBLOCK). The descriptor is close-on-exec.
//
// Readiness works for any process; Wait works only for a child of this
// process that nobody else reaps (exec.Cmd.Wait and os.Process.Wait reap it
// too: use one or the other). The pid is resolved once, here: if the process
// has already exited and been reaped, or the number has been reused, the
// pidfd refers to whatever holds the number now, so open your own children
// before reaping them (an unreaped zombie keeps its pid), or better, start
// them with StartProcess.
//
// Errors: ESRCH when no process has that pid; EINVAL (an argument error)
// for pid <= 0 or past the int32 range of pid_t, which the kernel would cut
// to another pid; EMFILE, ENFILE; ErrUnsupported (matching ENOSYS) before
// Linux 5.3.
func OpenProcess(pid int) (*Process, error) {
	call := "pidfd_open " + strconv.Itoa(pid)
	if pid <= 0 || pid > math.MaxInt32 {
		return nil, invalid(call, "pid must be in 1..2^31-1")
	}
	if err := checkPidfd(call); err != nil {
		return nil, err
	}
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err == unix.EINVAL {
		fd, err = unix.PidfdOpen(pid, 0) // before Linux 5.10; Wait uses WNOHANG anyway
	}
	if err != nil {
		return nil, callError(call, -1, err)
	}
	p := &Process{pid: pid}
	p.fd.Init(fd)
	return p, nil
}

// StartProcess starts a program, as os.StartProcess does, and returns it as
// a Process whose pidfd the kernel made atomically with the child
// (clone(CLONE_PIDFD), through syscall.SysProcAttr.PidFD): there is no
// moment at which the pid could be reaped and reused before the pidfd exists.
// name is looked up in PATH when it has no slash. A nil attr, or a nil
// attr.Env, gives the child this process's environment; nil attr.Files
// gives it no standard descriptors. The os.Process that os.StartProcess
// would return does not exist: Wait and Signal are the ways to reap and
// signal the child.
//
// Errors: those of os.StartProcess (the program not found, not executable),
// as an *Error naming "start" and the program; ErrUnsupported on a kernel
// without pidfd, before anything is started.
func StartProcess(name string, argv []string, attr *os.ProcAttr) (*Process, error) {
	call := "start " + strconv.Quote(name)
	if err := checkPidfd(call); err != nil {
		return nil, err
	}
	path := name
	if !strings.Contains(name, "/") {
		lp, err := exec.LookPath(name)
		if err != nil {
			return nil, callError(call, -1, err)
		}
		path = lp
	}
	if attr == nil {
		attr = &os.ProcAttr{}
	}
	sa := &syscall.ProcAttr{Dir: attr.Dir, Env: attr.Env}
	if sa.Env == nil {
		sa.Env = os.Environ()
	}
	for _, f := range attr.Files {
		if f == nil {
			sa.Files = append(sa.Files, ^uintptr(0))
		} else {
			sa.Files = append(sa.Files, f.Fd())
		}
	}
	sys := syscall.SysProcAttr{}
	if attr.Sys != nil {
		sys = *attr.Sys
	}
	pidfd := -1
	sys.PidFD = &pidfd
	sa.Sys = &sys
	pid, err := syscall.ForkExec(path, argv, sa)
	for _, f := range attr.Files {
		if f != nil {
			runtime.KeepAlive(f)
		}
	}
	if err != nil {
		return nil, callError(call, -1, err)
	}
	if pidfd < 0 {
		// The kernel made no pidfd (CLONE_PIDFD refused). The child is ours
		// and not reaped, so its pid cannot have been reused: open one now.
		if pidfd, err = unix.PidfdOpen(pid, 0); err != nil {
			unix.Kill(pid, unix.SIGKILL)
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, 0, nil)
			return nil, callError("pidfd_open "+strconv.Itoa(pid), -1, err)
		}
	}
	// CLONE_PIDFD descriptors are close-on-exec but blocking; Wait uses
	// WNOHANG regardless, so this only keeps the package's rule.
	unix.SetNonblock(pidfd, true)
	p := &Process{pid: pid}
	p.fd.Init(pidfd)
	return p, nil
}

// Pid returns the process ID the process had when it was opened or started.
func (p *Process) Pid() int { return p.pid }

// Fd returns the pidfd, to register for epoll.In: it becomes readable when
// the process exits (and stays readable). It is -1 once Close has begun,
// and on a zero Process.
func (p *Process) Fd() int { return p.fd.Fd() }

// Signal sends sig to the process with pidfd_send_signal, which cannot hit
// another process that has reused the pid.
//
// Errors: ESRCH when the process has exited (even if not yet reaped);
// EPERM without permission; EINVAL for a signal number outside 0..64 (an
// argument error, before the system call: the kernel would cut a larger
// number to 32 bits and could send another signal); ErrClosed after Close.
// Signal 0 sends nothing and checks that the process is alive.
func (p *Process) Signal(sig syscall.Signal) error {
	call := "pidfd_send_signal " + sig.String()
	if sig < 0 || sig > 64 {
		return invalid(call, "signal number out of range 0..64")
	}
	if err := acquire(&p.fd, call); err != nil {
		return err
	}
	defer p.fd.Release()
	if err := unix.PidfdSendSignal(p.fd.Sysfd(), sig, nil, 0); err != nil {
		return callError(call, p.fd.Sysfd(), err)
	}
	return nil
}

// CLD_* values of siginfo.si_code for SIGCHLD.
const (
	cldExited = 1
	cldKilled = 2
	cldDumped = 3
)

var errProcessAgain = wouldBlock("waitid P_PIDFD")

// Wait returns the exit status of the process, reaping it, with
// waitid(P_PIDFD, fd, WEXITED|WNOHANG). It does not block: call it when Fd
// is readable. Once it has succeeded it returns the same status again,
// until Close. The answer EAGAIN, while the process runs, allocates nothing.
//
// Errors: an error matching unix.EAGAIN while the process is still
// running; ECHILD when it is not a child of this process or was reaped by
// someone else (exec.Cmd.Wait, os.Process.Wait); ErrClosed after Close,
// whether or not a status was read before.
func (p *Process) Wait() (ExitStatus, error) {
	const call = "waitid P_PIDFD"
	if err := acquire(&p.fd, call); err != nil {
		return ExitStatus{}, err
	}
	defer p.fd.Release()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return p.status, nil
	}
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PIDFD, p.fd.Sysfd(), &info, unix.WEXITED|unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return ExitStatus{}, errProcessAgain
		}
		if err != nil {
			return ExitStatus{}, callError(call, p.fd.Sysfd(), err)
		}
		break
	}
	st, ok := decodeSiginfo(&info)
	if !ok {
		return ExitStatus{}, errProcessAgain // WNOHANG and still running: si_pid is 0
	}
	p.status, p.reaped = st, true
	return st, nil
}

// decodeSiginfo reads the SIGCHLD fields of a siginfo_t. On every 64-bit
// Linux the union starts at byte 16: si_pid (int32), si_uid (uint32),
// si_status (int32).
func decodeSiginfo(info *unix.Siginfo) (ExitStatus, bool) {
	b := (*[32]byte)(unsafe.Pointer(info))
	pid := *(*int32)(unsafe.Pointer(&b[16]))
	status := *(*int32)(unsafe.Pointer(&b[24]))
	if pid == 0 {
		return ExitStatus{}, false
	}
	st := ExitStatus{Pid: int(pid), Code: -1}
	switch info.Code {
	case cldExited:
		st.Code = int(status)
	case cldKilled, cldDumped:
		st.Signal = syscall.Signal(status)
		st.CoreDumped = info.Code == cldDumped
	}
	return st, true
}

// Close closes the pidfd. It does not kill or reap the process: a child
// that exits later, unreaped, stays a zombie until this process exits.
// It is idempotent; later calls return nil. On a zero Process it returns an
// error matching ErrClosed.
func (p *Process) Close() error { return closeFD(&p.fd) }
