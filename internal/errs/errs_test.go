package errs

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func TestErrorNamesPackageCallAndFd(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{Call("epoll", "epoll_ctl(ADD)", 7, unix.EEXIST), "epoll: epoll_ctl(ADD) fd 7: file exists"},
		{Call("ring", "Wait", -1, unix.EINTR), "ring: Wait: interrupted system call"},
		{Closed("source", "eventfd write"), "source: eventfd write: use of closed object"},
		{Invalid("epoll", "Wait", -1, "empty event slice"), "epoll: Wait: empty event slice (EINVAL)"},
		{&Error{Pkg: "epoll", Call: "add", Fd: 0, Err: unix.EPERM, Kind: ErrNotPollable}, "epoll: add fd 0: file cannot be watched by epoll (regular file or directory): operation not permitted"},
	}
	for _, c := range cases {
		if got := c.err.Error(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}

func TestErrorsMatchTheirCauseAndKind(t *testing.T) {
	if !errors.Is(Call("epoll", "x", 1, unix.EEXIST), unix.EEXIST) {
		t.Error("errno not matched")
	}
	if !errors.Is(Invalid("epoll", "x", -1, "bad"), unix.EINVAL) {
		t.Error("argument error does not match EINVAL")
	}
	e := Call("source", "pidfd_open", -1, unix.ENOSYS)
	if !errors.Is(e, ErrUnsupported) || !errors.Is(e, errors.ErrUnsupported) || !errors.Is(e, unix.ENOSYS) {
		t.Errorf("ENOSYS error %v does not match ErrUnsupported, errors.ErrUnsupported and ENOSYS", e)
	}
	n := NotCreated("epoll", "Add")
	if !errors.Is(n, ErrClosed) || !errors.Is(n, ErrNotCreated) {
		t.Error("not-created error does not match ErrClosed and ErrNotCreated")
	}
	if !errors.Is(BadFd("epoll", "Add", 1<<40), unix.EBADF) {
		t.Error("BadFd does not match EBADF")
	}
	var ee *Error
	if !errors.As(Closed("ring", "Add"), &ee) || ee.Pkg != "ring" {
		t.Error("errors.As does not find *Error")
	}
}

func TestValidFdRefusesWhatTheKernelCannotHave(t *testing.T) {
	for _, fd := range []int{-1, 1 << 31, 1<<32 | 8, 1 << 40} {
		if ValidFd(fd) {
			t.Errorf("ValidFd(%d) = true", fd)
		}
	}
	for _, fd := range []int{0, 3, 1<<31 - 1} {
		if !ValidFd(fd) {
			t.Errorf("ValidFd(%d) = false", fd)
		}
	}
}

func TestErrorsIsAllocatesNothing(t *testing.T) {
	e := error(Call("source", "eventfd read", -1, unix.EAGAIN))
	k := error(&Error{Pkg: "epoll", Call: "x", Fd: -1, Err: unix.EPERM, Kind: ErrNotPollable})
	if a := testing.AllocsPerRun(1000, func() {
		_ = errors.Is(e, unix.EAGAIN)
		_ = errors.Is(e, unix.EINTR)
		_ = errors.Is(k, ErrNotPollable)
		_ = errors.Is(k, unix.EPERM)
	}); a != 0 {
		t.Fatalf("errors.Is on an *Error allocates %v times", a)
	}
	if !errors.Is(k, ErrNotPollable) || !errors.Is(k, unix.EPERM) || errors.Is(k, unix.EAGAIN) {
		t.Fatal("kind or cause not matched")
	}
}
