package ring_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/ring"
	"golang.org/x/sys/unix"
)

// waiter is what a Ring and an epoll.Instance have in common, so that a
// program can fall back from one to the other.
type waiter interface {
	Add(fd int, ev epoll.Events, data uint64) error
	Wait(evs []epoll.Event, timeout time.Duration) (int, error)
	Close() error
}

// A Ring is used like an epoll instance. Where io_uring is unavailable New
// says so with errors.ErrUnsupported, and the program uses an
// epoll.Instance instead: the output is the same either way.
func Example() {
	var w waiter
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
