package epoll_test

import (
	"errors"
	"fmt"

	"github.com/eventpoll/eventpoll/epoll"
	"golang.org/x/sys/unix"
)

func eventfd() int {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		panic(err)
	}
	return fd
}

// Batch stops at the first failure: the number it returns is the index of
// the failing command, whose Result says why; the rest were not processed.
func ExampleInstance_Batch() {
	ep, err := epoll.New()
	if err != nil {
		panic(err)
	}
	defer ep.Close()
	a, b := eventfd(), eventfd()
	defer unix.Close(a)
	defer unix.Close(b)

	cmds := []epoll.Cmd{
		{Op: epoll.OpAdd, Fd: a, Events: epoll.In, Data: 1},
		{Op: epoll.OpAdd, Fd: a, Events: epoll.In, Data: 1}, // already there
		{Op: epoll.OpAdd, Fd: b, Events: epoll.In, Data: 2},
	}
	n, err := ep.Batch(cmds)
	fmt.Println("processed:", n)
	fmt.Println("EEXIST:", errors.Is(err, unix.EEXIST))
	for i, c := range cmds {
		fmt.Printf("%d %v: %v\n", i, c.Op, c.Result == nil)
	}
	fmt.Println("third not processed:", cmds[2].Result == epoll.ErrNotProcessed)
	// Output:
	// processed: 1
	// EEXIST: true
	// 0 ADD: true
	// 1 ADD: false
	// 2 ADD: false
	// third not processed: true
}

// BatchAll applies every command; each Result tells how it went.
func ExampleInstance_BatchAll() {
	ep, err := epoll.New()
	if err != nil {
		panic(err)
	}
	defer ep.Close()
	a, b := eventfd(), eventfd()
	defer unix.Close(a)
	defer unix.Close(b)

	cmds := []epoll.Cmd{
		{Op: epoll.OpDelete, Fd: a}, // not registered: ENOENT
		{Op: epoll.OpAdd, Fd: b, Events: epoll.Out, Data: 2},
	}
	n, err := ep.BatchAll(cmds)
	var be *epoll.BatchError
	fmt.Println("succeeded:", n)
	fmt.Println("first failure:", errors.As(err, &be) && be.Index == 0, errors.Is(err, unix.ENOENT))
	fmt.Println("second applied:", cmds[1].Result == nil)

	evs := make([]epoll.Event, 4)
	k, _ := ep.Wait(evs, 0)
	fmt.Println(k, evs[0].Data(), evs[0].Events)
	// Output:
	// succeeded: 1
	// first failure: true true
	// second applied: true
	// 1 2 OUT
}

// A loop collects the interest changes of one iteration and applies them
// in one batch before it waits; pairs that cancel never reach the kernel.
func ExampleChanges() {
	ep, err := epoll.New()
	if err != nil {
		panic(err)
	}
	defer ep.Close()
	conn, gone := eventfd(), eventfd()
	defer unix.Close(conn)
	defer unix.Close(gone)

	changes := epoll.NewChanges(ep)
	changes.Add(conn, epoll.In, 1)
	changes.Modify(conn, epoll.In|epoll.Out, 1) // merged into the Add
	changes.Add(gone, epoll.In, 2)
	changes.Delete(gone) // cancels the Add
	fmt.Println("commands to send:", changes.Len())

	cmds, err := changes.Flush()
	for _, c := range cmds {
		fmt.Println(c.Op, c.Events, c.Result, err)
	}
	// Output:
	// commands to send: 1
	// ADD IN|OUT <nil> <nil>
}
