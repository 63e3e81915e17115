package ring

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Which file does a number name? EngineMultishot must know it three times:
// when it re-arms a request the kernel ended (a poll request is armed on a
// number, resolved when submitted), and when Modify, Delete or Add name a
// registered number, which must answer as epoll_ctl does: ENOENT once the
// number was closed and reused by another file, EBADF once it was closed.
// (EngineEpollWait asks its epoll instance, whose registrations the kernel
// keys by file and number.)
//
// Anonymous files (eventfds, timerfds, signalfds, epoll and inotify
// instances, pidfds: fstat reports no file type) share one inode by kind,
// or by process for pidfds, so device and inode cannot tell one from
// another. For those the ring keeps a duplicate of the registered
// descriptor (one descriptor each, close-on-exec, closed by Delete), polls
// it, so a re-arm always reaches the registered file, and compares the
// user's number with it by open file (fcntl F_DUPFD_QUERY, Linux 6.10, or
// else kcmp(2) KCMP_FILE; without either, by device and inode after all).
//
// Every other pollable file is known by the device and inode fstat(2)
// gives: a socket's inode is its own, and a new pipe, FIFO or device has
// another. Only an open file of the same inode under the same number goes
// unnoticed (a pipe's other end, a FIFO or device opened again). The
// files a program registers by the thousand, sockets and pipes, cost no
// descriptor.

// fileID is what the ring records of a registered file. Its zero value
// owns no descriptor.
type fileID struct {
	dev, ino uint64
	own      int32 // the ring's duplicate of an anonymous file, if hasOwn
	hasOwn   bool
}

// pollFd returns the number the file's poll request is armed on.
func (id *fileID) pollFd(fd int32) int32 {
	if id.hasOwn {
		return id.own
	}
	return fd
}

// sameFile answers for fd what epoll_ctl would for a registration of id
// under fd: nil when fd names that file, ENOENT when it names another,
// EBADF when it names none.
func sameFile(fd int, id *fileID) error {
	if id.hasOwn {
		if same, known, err := queryFile(fd, int(id.own)); err != nil {
			return err
		} else if known && !same {
			return unix.ENOENT
		} else if known {
			return nil
		}
	}
	var st unix.Stat_t
	if err := fstat(fd, &st); err != nil {
		return err
	}
	if st.Dev != id.dev || st.Ino != id.ino {
		return unix.ENOENT
	}
	return nil
}

// How queryFile compares two descriptors, probed at first use.
const (
	queryUnknown = iota
	queryDupfd   // fcntl(F_DUPFD_QUERY)
	queryKcmp    // kcmp(KCMP_FILE)
	queryStat    // neither: device and inode only
)

var queryMode atomic.Int32

const kcmpFile = 0 // KCMP_FILE

// queryFile reports whether a and b name the same open file; known is
// false when the kernel offers no way to ask, and the device and inode
// must answer.
func queryFile(a, b int) (same, known bool, err error) {
	for {
		switch queryMode.Load() {
		case queryUnknown, queryDupfd:
			r, _, errno := unix.RawSyscall(unix.SYS_FCNTL, uintptr(a), unix.F_DUPFD_QUERY, uintptr(b))
			if errno == 0 {
				queryMode.Store(queryDupfd)
				return r == 1, true, nil
			}
			if errno != unix.EINVAL {
				return false, true, errno
			}
			queryMode.Store(queryKcmp) // a kernel before 6.10
		case queryKcmp:
			pid := unix.Getpid()
			r, _, errno := unix.RawSyscall6(unix.SYS_KCMP, uintptr(pid), uintptr(pid), kcmpFile, uintptr(a), uintptr(b), 0)
			switch errno {
			case 0:
				return r == 0, true, nil
			case unix.ENOSYS, unix.EPERM, unix.EACCES:
				queryMode.Store(queryStat) // no CONFIG_KCMP, or forbidden
			default:
				return false, true, errno
			}
		default:
			return false, false, nil
		}
	}
}

// inspect checks that fd can be registered and records which file it
// names. It refuses what epoll_ctl refuses: EBADF for a closed number or an
// O_PATH descriptor (which names a file without opening it: no poll), EPERM
// for a file without poll support. For an anonymous file it makes the
// ring's duplicate (EMFILE when the process has no descriptor left).
func inspect(fd int) (fileID, error) {
	var st unix.Stat_t
	if err := fstat(fd, &st); err != nil {
		return fileID{}, err
	}
	fl, _, errno := unix.RawSyscall(unix.SYS_FCNTL, uintptr(fd), unix.F_GETFL, 0)
	if errno != 0 {
		return fileID{}, errno
	}
	if fl&unix.O_PATH != 0 {
		return fileID{}, unix.EBADF
	}
	if err := checkPollable(fd, st.Mode); err != nil {
		return fileID{}, err
	}
	id := fileID{dev: st.Dev, ino: st.Ino}
	if st.Mode&unix.S_IFMT == 0 {
		own, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return fileID{}, err
		}
		id.own, id.hasOwn = int32(own), true
	}
	return id, nil
}

// release closes the ring's duplicate, if it made one.
func (id *fileID) release() {
	if id.hasOwn {
		unix.Close(int(id.own))
		id.hasOwn = false
	}
}

func fstat(fd int, st *unix.Stat_t) error {
	for {
		err := unix.Fstat(fd, st)
		if err != unix.EINTR {
			return err
		}
	}
}

// checkPollable refuses what epoll refuses with EPERM. A poll request on a
// regular file or directory completes at once, every time, so a multishot
// registration would end and be re-armed forever.
func checkPollable(fd int, mode uint32) error {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG, unix.S_IFDIR:
		return unix.EPERM
	case unix.S_IFCHR:
		// Some character devices (/dev/null, /dev/zero) have no poll
		// support either, and only the kernel knows which: ask epoll, whose
		// EPERM is exactly "this file cannot be polled". Three system calls,
		// for character devices only.
		return probePollable(fd)
	}
	return nil
}

func probePollable(fd int) error {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(ep)
	return unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN})
}
