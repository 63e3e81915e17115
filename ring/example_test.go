package ring_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/ring"
	"golang.org/x/sys/unix"
)

// A Ring is used like an epoll instance: both are epoll.Pollers. Where
// io_uring is unavailable New says so with errors.ErrUnsupported, and the
// program uses an epoll.Instance instead: the output is the same either
// way.
func Example() {
	var w epoll.Poller
	r, err := ring.New(64)
	switch {
	case err == nil:
		w = r
	case errors.Is(err, errors.ErrUnsupported):
		ep, err := epoll.New()
		if err != nil {
			panic(err)
		}
		w = ep
	default:
		panic(err)
	}
	defer w.Close()

	efd, _ := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	defer unix.Close(efd)
	if err := w.Add(efd, epoll.In|epoll.Edge, 7); err != nil {
		panic(err)
	}
	unix.Write(efd, []byte{1, 0, 0, 0, 0, 0, 0, 0})

	evs := make([]epoll.Event, 16)
	n, err := w.Wait(evs, time.Second)
	if err != nil {
		panic(err)
	}
	for _, ev := range evs[:n] {
		fmt.Println(ev.Events, ev.Data())
	}
	// Output: IN 7
}

// A busy event loop collects what is ready with Poll, which reads the
// completion ring without a system call, and sleeps in Wait only when
// there is nothing to do.
func ExampleRing_Poll() {
	r, err := ring.New(64)
	if err != nil {
		fmt.Println("IN 1\nIN 2") // io_uring unavailable: see Example
		return
	}
	defer r.Close()
	a, _ := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	b, _ := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	defer unix.Close(a)
	defer unix.Close(b)
	r.Add(a, epoll.In, 1)
	r.Add(b, epoll.In, 2)
	unix.Write(a, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	unix.Write(b, []byte{1, 0, 0, 0, 0, 0, 0, 0})

	evs := make([]epoll.Event, 16)
	seen := 0
	for seen < 2 {
		n := r.Poll(evs) // no system call
		if n == 0 {
			// Nothing in the ring: sleep in the kernel until something is.
			n, _ = r.Wait(evs, time.Second)
		}
		for _, ev := range evs[:n] {
			fmt.Println(ev.Events, ev.Data())
			seen++
		}
	}
	// Unordered output:
	// IN 1
	// IN 2
}

// OneShot reports once; Modify re-arms the registration, and reports at
// once if the file is still ready.
func ExampleRing_Modify() {
	r, err := ring.New(8)
	if err != nil {
		fmt.Println("IN 1\nIN 2")
		return
	}
	defer r.Close()
	efd, _ := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	defer unix.Close(efd)
	r.Add(efd, epoll.In|epoll.OneShot, 1)
	unix.Write(efd, []byte{1, 0, 0, 0, 0, 0, 0, 0})

	evs := make([]epoll.Event, 4)
	n, _ := r.Wait(evs, time.Second)
	fmt.Println(evs[0].Events, evs[0].Data())

	unix.Write(efd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	if n, _ = r.Wait(evs, 50*time.Millisecond); n != 0 {
		fmt.Println("OneShot fired twice")
	}
	r.Modify(efd, epoll.In|epoll.OneShot, 2)
	r.Wait(evs, time.Second)
	fmt.Println(evs[0].Events, evs[0].Data())
	// Output:
	// IN 1
	// IN 2
}

// EngineEpollWait fronts a real epoll instance, for level triggering and
// Exclusive; New fails with errors.ErrUnsupported before Linux 6.15.
func ExampleWithEngine() {
	r, err := ring.New(8, ring.WithEngine(ring.EngineEpollWait))
	if err != nil {
		fmt.Println("IN 3\nIN 3") // kernel or process without it
		return
	}
	defer r.Close()
	efd, _ := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	defer unix.Close(efd)
	r.Add(efd, epoll.In, 3) // no Edge: level-triggered
	unix.Write(efd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	evs := make([]epoll.Event, 4)
	for range 2 { // reported again while unread
		r.Wait(evs, time.Second)
		fmt.Println(evs[0].Events, evs[0].Data())
	}
	// Output:
	// IN 3
	// IN 3
}

// BatchAll applies a loop iteration's interest changes at once: each
// command gets the result its own call would have had, and a failure does
// not stop the others.
func ExampleRing_BatchAll() {
	r, err := ring.New(8)
	if err != nil {
		fmt.Println("2 ring: Modify fd 1000: no such file or directory") // io_uring unavailable: see Example
		return
	}
	defer r.Close()
	a, _ := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	b, _ := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	defer unix.Close(a)
	defer unix.Close(b)
	cmds := []epoll.Cmd{
		{Op: epoll.OpAdd, Fd: a, Events: epoll.In | epoll.Edge, Data: 1},
		{Op: epoll.OpModify, Fd: 1000, Events: epoll.In}, // not registered
		{Op: epoll.OpAdd, Fd: b, Events: epoll.In | epoll.Edge, Data: 2},
	}
	n, err := r.BatchAll(cmds)
	fmt.Println(n, cmds[1].Result)
	var be *epoll.BatchError
	if errors.As(err, &be) && be.Index != 1 {
		fmt.Println("first failure at", be.Index)
	}
	// Output: 2 ring: Modify fd 1000: no such file or directory
}
