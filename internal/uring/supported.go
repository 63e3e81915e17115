package uring

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// EnvNoUring names the environment variable that, set to any value but ""
// or "0", makes Supported report io_uring unusable for the whole process, so
// that a test run or a CI job exercises every plain-syscall fallback.
const EnvNoUring = "EVENTPOLL_NO_URING"

// ErrUnsupported is wrapped by every error that means "io_uring cannot be
// used here": from Supported, and from New when the kernel refuses. It
// wraps errors.ErrUnsupported in turn.
var ErrUnsupported = fmt.Errorf("uring: io_uring unsupported: %w", errors.ErrUnsupported)

var (
	errForced = &unsupportedError{reason: "forced off by ForceUnsupported"}
	errEnv    = &unsupportedError{reason: "forced off by " + EnvNoUring}
)

// unsupportedError says why io_uring is unusable: the call and errno that
// failed, if any, and the cause in words.
type unsupportedError struct {
	call   string
	errno  unix.Errno
	reason string
}

func (e *unsupportedError) Error() string {
	if e.errno == 0 {
		return ErrUnsupported.Error() + ": " + e.reason
	}
	return "uring: " + e.call + ": " + e.errno.Error() + " (io_uring unsupported: " + e.reason + ")"
}

func (e *unsupportedError) Unwrap() []error {
	if e.errno == 0 {
		return []error{ErrUnsupported}
	}
	return []error{e.errno, ErrUnsupported}
}

// setupError turns an io_uring_setup errno into an error naming the call;
// errnos that mean io_uring is off for this process also carry the reason
// and ErrUnsupported.
func setupError(errno unix.Errno) error {
	if reason := unsupportedReason(errno, readSysctl); reason != "" {
		return &unsupportedError{call: "io_uring_setup", errno: errno, reason: reason}
	}
	return &callError{call: "io_uring_setup", errno: errno}
}

func readSysctl(name string) (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/" + name)
	return strings.TrimSpace(string(b)), err
}

// unsupportedReason explains an io_uring_setup errno that disables io_uring
// for the process, or returns "" for one that does not (ENOMEM, EMFILE: a
// retry may succeed). read fetches a kernel.* sysctl.
func unsupportedReason(errno unix.Errno, read func(string) (string, error)) string {
	switch errno {
	case unix.ENOSYS:
		return "the kernel has no io_uring (CONFIG_IO_URING off or older than 5.1)"
	case unix.EPERM, unix.EACCES:
		disabled, err := read("io_uring_disabled")
		switch {
		case err != nil:
			return "refused by a seccomp filter or security module"
		case disabled == "2":
			return "kernel.io_uring_disabled=2 turns io_uring off for every process"
		case disabled == "1":
			group, _ := read("io_uring_group")
			if group == "" || group == "-1" {
				return "kernel.io_uring_disabled=1 limits io_uring to CAP_SYS_ADMIN"
			}
			return "kernel.io_uring_disabled=1 limits io_uring to CAP_SYS_ADMIN and members of group " +
				group + " (kernel.io_uring_group); this process is neither"
		default:
			return "kernel.io_uring_disabled=" + disabled + ", so refused by a seccomp filter or security module"
		}
	}
	return ""
}

var (
	forced  atomic.Int32
	support struct {
		mu   sync.Mutex
		done bool
		err  error
		ops  [probeOps / 64]uint64
	}
)

// Supported reports whether this process can use io_uring for eventpoll's
// purposes: nil if it can, otherwise an error wrapping ErrUnsupported that
// says why (and the errno, when a system call failed):
//
//   - ENOSYS: the kernel was built without io_uring or predates it;
//   - EPERM: kernel.io_uring_disabled=2; or =1 while the process lacks
//     CAP_SYS_ADMIN and is not in kernel.io_uring_group; or a seccomp filter
//     (containers often have one) or security module said no;
//   - a kernel before 5.11, which lacks IORING_FEAT_EXT_ARG;
//   - ForceUnsupported is in effect, or EnvNoUring is set.
//
// The first call creates and closes a small ring; the answer is cached for
// the process. Transient failures (ENOMEM, EMFILE) are returned but not
// cached. Which opcodes exist is a separate question: OpSupported.
func Supported() error {
	if forced.Load() > 0 {
		return errForced
	}
	if v := os.Getenv(EnvNoUring); v != "" && v != "0" {
		return errEnv
	}
	support.mu.Lock()
	defer support.mu.Unlock()
	if support.done {
		return support.err
	}
	r, err := New(2, Options{})
	if err != nil {
		if errors.Is(err, ErrUnsupported) {
			support.done, support.err = true, err
		}
		return err
	}
	support.ops = r.ops
	r.Close()
	support.done = true
	return nil
}

// OpSupported reports whether io_uring is usable (Supported returns nil) and
// the running kernel implements op, for instance OpEpollWait, which arrived
// in Linux 6.15.
func OpSupported(op Op) bool {
	if Supported() != nil {
		return false
	}
	support.mu.Lock()
	defer support.mu.Unlock()
	return support.ops[op/64]&(1<<(op%64)) != 0
}

// ForceUnsupported makes Supported (and so OpSupported) report io_uring
// unusable until the returned restore function is called, so that tests in
// any package can drive their plain-syscall fallback:
//
//	t.Cleanup(uring.ForceUnsupported())
//
// Calls nest; restore is safe to call more than once. Rings already created
// keep working, and New still creates rings: Supported is the gate callers
// consult before choosing a path.
func ForceUnsupported() (restore func()) {
	forced.Add(1)
	var once sync.Once
	return func() { once.Do(func() { forced.Add(-1) }) }
}
