package main

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// plainEpoll is an epoll instance made with epoll_create1 alone. The
// tests count registrations, and an epoll.Instance holds one of its own
// (its wake-up eventfd), which epollstat rightly shows.
type plainEpoll struct{ fd int }

func newPlainEpoll() (*plainEpoll, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &plainEpoll{fd: fd}, nil
}

func (r *plainEpoll) Fd() int { return r.fd }

func (r *plainEpoll) Close() error { return unix.Close(r.fd) }

// Add is epoll_ctl(EPOLL_CTL_ADD) with the 64-bit data.
func (r *plainEpoll) Add(fd int, ev epoll.Events, data uint64) error {
	e := unix.EpollEvent{Events: uint32(ev)}
	*(*uint64)(unsafe.Pointer(&e.Fd)) = data // Fd and Pad are the kernel's 64-bit data
	return unix.EpollCtl(r.fd, unix.EPOLL_CTL_ADD, fd, &e)
}

// newInstance returns an epoll instance closed when the test ends.
func newInstance(t *testing.T) *plainEpoll {
	t.Helper()
	return fdtest.New(t, newPlainEpoll)
}

// add registers fd in ep or fails the test.
func add(t *testing.T, ep *plainEpoll, fd int, ev epoll.Events, data uint64) {
	t.Helper()
	if err := ep.Add(fd, ev, data); err != nil {
		t.Fatalf("Add(%d): %v", fd, err)
	}
}

// closeLater closes fd when the test ends, unless the test closed it.
func closeLater(t *testing.T, fd int) int {
	t.Helper()
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// socket makes a non-blocking socket closed when the test ends.
func socket(t *testing.T, family, typ int) int {
	t.Helper()
	fd, err := unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	return closeLater(t, fd)
}

// listenTCP4 returns a listening socket on 127.0.0.1 and its port.
func listenTCP4(t *testing.T) (int, int) {
	t.Helper()
	fd := socket(t, unix.AF_INET, unix.SOCK_STREAM)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 8); err != nil {
		t.Fatal(err)
	}
	return fd, port(t, fd)
}

func port(t *testing.T, fd int) int {
	t.Helper()
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return a.Port
	case *unix.SockaddrInet6:
		return a.Port
	}
	t.Fatalf("getsockname: %T", sa)
	return 0
}

// dupTo makes newfd name the file of oldfd, closing what newfd named:
// the way a number comes to name another file.
func dupTo(t *testing.T, oldfd, newfd int) {
	t.Helper()
	if err := unix.Dup3(oldfd, newfd, unix.O_CLOEXEC); err != nil {
		t.Fatalf("dup3(%d, %d): %v", oldfd, newfd, err)
	}
}

// dup returns a new descriptor for fd's file, closed when the test ends.
func dup(t *testing.T, fd int) int {
	t.Helper()
	d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("dup(%d): %v", fd, err)
	}
	return closeLater(t, d)
}

// look collects a snapshot of the given processes (ours by default).
func look(t *testing.T, cfg config) *Snapshot {
	t.Helper()
	if cfg.pids == nil {
		cfg.pids = []int{os.Getpid()}
	}
	s, err := collect(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// instance returns the instance at fd of process pid in s.
func instance(t *testing.T, s *Snapshot, pid, fd int) *Instance {
	t.Helper()
	for _, p := range s.Processes {
		if p.Pid != pid {
			continue
		}
		for _, in := range p.Instances {
			if in.Fd == fd {
				return in
			}
		}
	}
	t.Fatalf("no instance at fd %d of pid %d in the snapshot", fd, pid)
	return nil
}

// registration returns the registration under number tfd of in.
func registration(t *testing.T, in *Instance, tfd int) *Registration {
	t.Helper()
	for _, r := range in.Registrations {
		if r.Tfd == tfd {
			return r
		}
	}
	t.Fatalf("no registration of fd %d in instance %d: %+v", tfd, in.Fd, in.Registrations)
	return nil
}

// text renders s as the text output.
func text(t *testing.T, s *Snapshot, staleOnly bool) string {
	t.Helper()
	var b bytes.Buffer
	if err := writeText(&b, s, staleOnly); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// line returns the row of out for registration tfd (the line that holds
// "fd N" after the tree's branch), with the STALE line under it if any.
func line(t *testing.T, out string, tfd int) string {
	t.Helper()
	ls := strings.Split(out, "\n")
	for i, l := range ls {
		f := strings.Fields(strings.TrimLeft(l, "├└│─ "))
		if len(f) > 1 && f[0] == "fd" && f[1] == strconv.Itoa(tfd) {
			if i+1 < len(ls) && strings.HasPrefix(strings.TrimLeft(ls[i+1], "│ "), "STALE ") {
				return l + "\n" + ls[i+1]
			}
			return l
		}
	}
	t.Fatalf("no line for fd %d in:\n%s", tfd, out)
	return ""
}

// runCommand runs the command's main with args and returns its exit status
// and outputs.
func runCommand(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}
