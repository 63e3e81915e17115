package system

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// TableThread is an OS thread with a descriptor table of its own.
//
// RLIMIT_NOFILE bounds the descriptor numbers of each table, not of the
// process: a thread that calls unshare(CLONE_FILES) starts from a copy of
// the process's table and may then open as many descriptors again. The
// experiments use such threads to hold more descriptors than one table
// allows on a machine whose hard limit cannot be raised: the pipes of a wide
// pipetest ring, the client ends of the http experiment's idle connections.
//
// What the thread opens exists only in its table; the process's table, which
// /proc/self/fd shows, never sees it. Descriptors opened before the thread
// starts are in both. The thread's goroutine stays locked to it, and when
// Close ends the goroutine the runtime ends the thread, and the kernel closes
// everything in the table with it.
type TableThread struct {
	cmd    chan func() error // run on the thread; the error goes to reply
	reply  chan error
	post   chan func() // run on the thread, nobody waiting
	exited chan struct{}
}

// NewTableThread starts a thread, gives it a table of its own and returns
// it. The error wraps errors.ErrUnsupported when the kernel refuses
// unshare(CLONE_FILES) (a seccomp filter, say).
func NewTableThread() (*TableThread, error) {
	tt := &TableThread{cmd: make(chan func() error), reply: make(chan error),
		post: make(chan func(), 1), exited: make(chan struct{})}
	go tt.run()
	if err := tt.Do(func() error {
		if err := unix.Unshare(unix.CLONE_FILES); err != nil {
			return fmt.Errorf("unshare(CLONE_FILES): %w (%w)", err, errors.ErrUnsupported)
		}
		return nil
	}); err != nil {
		tt.Close()
		return nil, err
	}
	return tt, nil
}

func (tt *TableThread) run() {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		// The main thread: the runtime never ends it (a goroutine that
		// exits locked to it only parks it), so a table unshared here would
		// outlive Close, and it is the table /proc/self/fd shows. Hold it
		// while the work runs on another thread.
		go tt.run()
		<-tt.exited
		runtime.UnlockOSThread()
		return
	}
	defer close(tt.exited)
	for {
		select {
		case f, ok := <-tt.cmd:
			if !ok {
				return
			}
			tt.reply <- f()
		case f := <-tt.post:
			f()
		}
	}
}

// Do runs f on the thread, in its table, and returns f's error.
func (tt *TableThread) Do(f func() error) error {
	tt.cmd <- f
	return <-tt.reply
}

// Post queues f to run on the thread, in its table, and returns at once;
// one posted function may wait at a time. A chain of threads handing work
// on with Post (pipetest's token) has no goroutine waiting for each link.
func (tt *TableThread) Post(f func()) { tt.post <- f }

// Close ends the thread and, with it, its table: every descriptor opened
// in it is closed. It returns when the goroutine has ended.
func (tt *TableThread) Close() {
	close(tt.cmd)
	<-tt.exited
}
