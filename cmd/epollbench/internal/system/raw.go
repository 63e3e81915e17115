package system

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The harness's own system calls on non-blocking descriptors (the writer
// that feeds perf's wait workload, the reads after each event, pipetest's
// token) are raw, as C makes them: such a call never blocks, so the
// runtime has nothing to hand off around it, and its bookkeeping
// (entersyscall, exitsyscall) would be a fixed cost per operation that C
// does not pay, measured in place of the code under test.
//
// Each is kept out of line on purpose: a raw call is not a point where the
// goroutine can be preempted, so without a function prologue of its own a
// loop of them has none, and a garbage collection waiting to stop the world
// would wait, and signal, until the loop happened to be interrupted outside
// the call.

// Read is read(2) of b on a non-blocking fd as a raw system call.
//
//go:noinline
func Read(fd int, b []byte) (int, unix.Errno) {
	n, _, errno := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(n), errno
}

// Write is write(2) of b on a non-blocking fd as a raw system call.
//
//go:noinline
func Write(fd int, b []byte) (int, unix.Errno) {
	n, _, errno := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(n), errno
}

// Nanosleep sleeps as perf's loops do between rounds: a nanosleep(2) of a
// few hundred nanoseconds, which the kernel stretches by the thread's timer
// slack (50 us by default). It is the same system call as C's, and a raw
// one: through unix.Nanosleep the runtime would hand the P off and take it
// back around every pause (sysmon retakes a P blocked over 20 us), and the
// harness's pacing, not the code under test, would pay for it. In the wait
// benchmark that made the writer thread half as fast as perf's and halved
// every worker's rate with it.
func Nanosleep(ns int64) {
	ts := unix.NsecToTimespec(ns)
	unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
}
