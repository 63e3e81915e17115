package epoll

import (
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// interruptFor bounds how long Close interrupts blocked waits with signals
// before it falls back to the wake eventfd.
const interruptFor = 20 * time.Millisecond

// interruptBlocked ends the blocked waits of a closing instance without
// making anything ready in it: it sends SIGURG, the signal the Go runtime
// preempts goroutines with (its handler does nothing to a thread in a
// system call), to every thread of the process, which makes a thread
// sleeping in epoll_wait or epoll_pwait2 return EINTR (those calls are
// never restarted after a handler, SA_RESTART or not); waitFd then sees
// the instance closing and returns. A signal that lands before its waiter
// has entered the kernel is lost, so the threads are signalled again, at
// widening intervals, until no wait is left. It reports false, leaving the
// rest to the eventfd, when the thread list cannot be read (no descriptor
// to spare, no /proc) or waits are still there after interruptFor.
func (ep *Instance) interruptBlocked() bool {
	pid := unix.Getpid()
	pause := 5 * time.Microsecond
	give := time.Now().Add(interruptFor)
	for ep.blocked.Load() > 0 {
		if !signalThreads(pid, unix.SIGURG) || time.Now().After(give) {
			return false
		}
		time.Sleep(pause)
		pause = min(2*pause, time.Millisecond)
	}
	return true
}

// signalThreads sends sig to every thread of the process, as listed in
// /proc/self/task. A thread that exits meanwhile is skipped.
func signalThreads(pid int, sig unix.Signal) bool {
	dir, err := unix.Open("/proc/self/task", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(dir)
	var buf [4096]byte
	var names []string
	for {
		n, err := unix.ReadDirent(dir, buf[:])
		if err != nil {
			return false
		}
		if n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names[:0])
		for _, name := range names {
			if tid, err := strconv.Atoi(name); err == nil {
				unix.Tgkill(pid, tid, sig)
			}
		}
	}
	return true
}

// blocksURG reports whether a wait's signal mask keeps SIGURG out, so that
// only the wake eventfd can end the wait.
func blocksURG(mask *unix.Sigset_t) bool {
	if mask == nil {
		return false
	}
	bit := uint(unix.SIGURG) - 1
	return mask.Val[bit/64]&(1<<(bit%64)) != 0
}
