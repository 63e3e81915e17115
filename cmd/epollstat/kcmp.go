package main

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// kcmp(2) types (include/uapi/linux/kcmp.h); x/sys/unix has the system
// call number only.
const (
	kcmpFile     = 0
	kcmpEpollTfd = 7 // Linux 4.13, with CONFIG_KCMP (or CHECKPOINT_RESTORE before 5.12)
	kcmpEqual    = 0 // kcmp's answer for one and the same object; 1, 2 and 3 mean different
)

// kcmpEpollSlot is struct kcmp_epoll_slot: which registration of which
// epoll descriptor to compare with.
type kcmpEpollSlot struct {
	efd  uint32
	tfd  uint32
	toff uint64
}

// kcmper asks kcmp(2) whether two descriptors are one open file. It is
// the only exact test: the inode and device fdinfo gives cannot tell two
// eventfds (or timerfds, signalfds, epoll instances) apart, since they all
// share the one inode of anon_inodefs.
type kcmper struct {
	// off says why kcmp is not used ("" while it is): turned off by the
	// caller, or missing from the kernel (ENOSYS, EOPNOTSUPP) or refused
	// to this process (a seccomp filter's EPERM for our own pid).
	off string
}

// errNoKcmp means kcmp could not answer; the caller falls back to inodes.
var errNoKcmp = errors.New("kcmp unavailable")

// result turns kcmp's return into an answer, and its errno into an error
// or into turning kcmp off.
func (k *kcmper) result(r uintptr, e unix.Errno) (bool, error) {
	switch {
	case e == 0:
		return r == kcmpEqual, nil
	case e == unix.ENOSYS || e == unix.EOPNOTSUPP:
		k.off = "kcmp(2): " + e.Error()
		return false, errNoKcmp
	case e == unix.EPERM || e == unix.EACCES:
		// No ptrace access to one of the two processes: this pair only.
		return false, errNoKcmp
	}
	return false, e
}

// epollTarget reports whether descriptor fd of process pid1 is the file of
// the toff-th registration under number tfd in epoll descriptor epfd of
// process pid2 (KCMP_EPOLL_TFD). It fails with EBADF when fd or epfd is not
// open, ENOENT when there is no such registration, and errNoKcmp when kcmp
// cannot answer.
func (k *kcmper) epollTarget(pid1, fd, pid2, epfd, tfd, toff int) (bool, error) {
	if k.off != "" {
		return false, errNoKcmp
	}
	slot := kcmpEpollSlot{efd: uint32(epfd), tfd: uint32(tfd), toff: uint64(toff)}
	r, _, e := unix.Syscall6(unix.SYS_KCMP, uintptr(pid1), uintptr(pid2), kcmpEpollTfd,
		uintptr(fd), uintptr(unsafe.Pointer(&slot)), 0)
	return k.result(r, e)
}

// sameFile reports whether descriptor fd1 of pid1 and fd2 of pid2 are one
// open file (KCMP_FILE).
func (k *kcmper) sameFile(pid1, fd1, pid2, fd2 int) (bool, error) {
	if k.off != "" {
		return false, errNoKcmp
	}
	r, _, e := unix.Syscall6(unix.SYS_KCMP, uintptr(pid1), uintptr(pid2), kcmpFile, uintptr(fd1), uintptr(fd2), 0)
	return k.result(r, e)
}
