package main

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// tableThread is an OS thread with a descriptor table of its own.
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
// close ends the goroutine the runtime ends the thread, and the kernel closes
// everything in the table with it.
type tableThread struct {
	cmd    chan func() error // run on the thread; the error goes to reply
	reply  chan error
	post   chan func() // run on the thread, nobody waiting
	exited chan struct{}
}

// newTableThread starts a thread, gives it a table of its own and returns
// it. The error wraps errors.ErrUnsupported when the kernel refuses
// unshare(CLONE_FILES) (a seccomp filter, say).
func newTableThread() (*tableThread, error) {
	tt := &tableThread{cmd: make(chan func() error), reply: make(chan error),
		post: make(chan func(), 1), exited: make(chan struct{})}
	go tt.run()
	if err := tt.do(func() error {
		if err := unix.Unshare(unix.CLONE_FILES); err != nil {
			return fmt.Errorf("unshare(CLONE_FILES): %w (%w)", err, errors.ErrUnsupported)
		}
		return nil
	}); err != nil {
		tt.close()
		return nil, err
	}
	return tt, nil
}

func (tt *tableThread) run() {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		// The main thread: the runtime never ends it (a goroutine that
		// exits locked to it only parks it), so a table unshared here would
		// outlive close, and it is the table /proc/self/fd shows. Hold it
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

// do runs f on the thread, in its table, and returns f's error.
func (tt *tableThread) do(f func() error) error {
	tt.cmd <- f
	return <-tt.reply
}

// close ends the thread and, with it, its table: every descriptor opened
// in it is closed. It returns when the goroutine has ended.
func (tt *tableThread) close() {
	close(tt.cmd)
	<-tt.exited
}
