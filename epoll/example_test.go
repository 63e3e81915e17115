package epoll_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"golang.org/x/sys/unix"
)

// A pipe watched level-triggered: write, wait, read.
func Example() {
	ep, err := epoll.New()
	if err != nil {
		log.Fatal(err)
	}
	defer ep.Close()

	var p [2]int
	unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC) // non-blocking: see the package docs
	defer unix.Close(p[0])
	defer unix.Close(p[1])

	if err := ep.Add(p[0], epoll.In, 1); err != nil {
		log.Fatal(err)
	}
	unix.Write(p[1], []byte("hello"))

	evs := make([]epoll.Event, 8)
	n, err := ep.Wait(evs, time.Second)
	if err != nil {
		log.Fatal(err)
	}
	for _, ev := range evs[:n] {
		buf := make([]byte, 16)
		m, _ := unix.Read(p[0], buf)
		fmt.Printf("data %d: %v %q\n", ev.Data(), ev.Events, buf[:m])
	}
	// Output: data 1: IN "hello"
}

func ExampleNew() {
	ep, err := epoll.New(epoll.WithMillisecondWait())
	if err != nil {
		log.Fatal(err) // EMFILE, ENFILE or ENOMEM
	}
	defer ep.Close()
	fmt.Println(ep.Fd() >= 0)
	// Output: true
}

// Edge-triggered: one event per change; drain until EAGAIN before waiting
// again.
func ExampleInstance_Add() {
	ep, _ := epoll.New()
	defer ep.Close()
	efd, _ := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	defer unix.Close(efd)

	ep.Add(efd, epoll.In|epoll.Edge, 7)
	unix.Write(efd, []byte{1, 0, 0, 0, 0, 0, 0, 0})

	evs := make([]epoll.Event, 1)
	n, _ := ep.Wait(evs, time.Second)
	fmt.Println(n, evs[0].Data(), evs[0].Events)
	n, _ = ep.Wait(evs, 0) // no new edge: nothing, even though still readable
	fmt.Println(n)
	err := ep.Add(efd, epoll.In, 7)
	fmt.Println(errors.Is(err, unix.EEXIST))
	// Output:
	// 1 7 IN
	// 0
	// true
}

// A OneShot registration is disabled after one event; Modify re-arms it.
func ExampleInstance_Modify() {
	ep, _ := epoll.New()
	defer ep.Close()
	efd, _ := unix.Eventfd(1, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC) // readable
	defer unix.Close(efd)

	evs := make([]epoll.Event, 1)
	ep.Add(efd, epoll.In|epoll.OneShot, 1)
	n1, _ := ep.Wait(evs, 0)
	n2, _ := ep.Wait(evs, 0)
	ep.Modify(efd, epoll.In|epoll.OneShot, 2)
	n3, _ := ep.Wait(evs, 0)
	fmt.Println(n1, n2, n3, evs[0].Data())
	// Output: 1 0 1 2
}

// Delete before close: the registration belongs to the open file, not to
// the number.
func ExampleInstance_Delete() {
	ep, _ := epoll.New()
	defer ep.Close()
	efd, _ := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	ep.Add(efd, epoll.In, 1)
	if err := ep.Delete(efd); err != nil {
		log.Fatal(err)
	}
	unix.Close(efd)
	fmt.Println(errors.Is(ep.Delete(efd), unix.EBADF))
	// Output: true
}

// Wait with a sub-millisecond timeout, honoured to the nanosecond.
func ExampleInstance_Wait() {
	ep, _ := epoll.New()
	defer ep.Close()
	evs := make([]epoll.Event, 16)
	start := time.Now()
	n, err := ep.Wait(evs, 250*time.Microsecond)
	fmt.Println(n, err, time.Since(start) >= 250*time.Microsecond)
	// Output: 0 <nil> true
}

// Block SIGURG, the runtime's preemption signal, for the duration of a
// long wait so it is not interrupted and restarted.
func ExampleInstance_PWait() {
	ep, _ := epoll.New()
	defer ep.Close()
	var mask unix.Sigset_t
	mask.Val[0] = 1 << (unix.SIGURG - 1)
	n, err := ep.PWait(make([]epoll.Event, 4), time.Millisecond, &mask)
	fmt.Println(n, err)
	// Output: 0 <nil>
}

// A wall-clock deadline: it holds even if the system clock is stepped.
func ExampleInstance_WaitDeadline() {
	ep, _ := epoll.New()
	defer ep.Close()
	deadline := time.Now().Add(2 * time.Millisecond)
	n, err := ep.WaitDeadline(make([]epoll.Event, 4), deadline, epoll.Realtime)
	fmt.Println(n, err, !time.Now().Before(deadline))
	// Output: 0 <nil> true
}

// WaitContext parks the goroutine, not a thread, and honours ctx.
func ExampleInstance_WaitContext() {
	ep, _ := epoll.New()
	defer ep.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	_, err := ep.WaitContext(ctx, make([]epoll.Event, 4))
	fmt.Println(err)
	// Output: context deadline exceeded
}

// Close wakes a blocked Wait, which reports ErrClosed.
func ExampleInstance_Close() {
	ep, _ := epoll.New()
	go func() {
		time.Sleep(10 * time.Millisecond)
		ep.Close()
	}()
	_, err := ep.Wait(make([]epoll.Event, 1), -1)
	fmt.Println(errors.Is(err, epoll.ErrClosed), ep.Close())
	// Output: true <nil>
}

// Nesting: an instance is itself pollable.
func ExampleInstance_Fd() {
	outer, _ := epoll.New()
	defer outer.Close()
	inner, _ := epoll.New()
	defer inner.Close()
	fmt.Println(outer.Add(inner.Fd(), epoll.In, 1))
	// Output: <nil>
}

func ExampleInstance_SetBusyPoll() {
	ep, _ := epoll.New()
	defer ep.Close()
	err := ep.SetBusyPoll(epoll.BusyPollParams{Usecs: 64, Budget: 16})
	if errors.Is(err, epoll.ErrUnsupported) {
		fmt.Println("kernel before 6.9")
		return
	}
	p, _ := ep.BusyPoll()
	fmt.Println(err, p.Usecs, p.Budget)
	// Output: <nil> 64 16
}

func ExampleEvents_String() {
	fmt.Println(epoll.In | epoll.Out | epoll.Edge)
	// Output: IN|OUT|ET
}

func ExampleEvent_Data() {
	var ev epoll.Event
	ev.SetData(1<<63 | 42)
	fmt.Printf("%#x\n", ev.Data())
	// Output: 0x800000000000002a
}

// Regular files cannot be watched: the kernel answers EPERM.
func ExampleErrNotPollable() {
	ep, _ := epoll.New()
	defer ep.Close()
	f, _ := os.CreateTemp("", "plain")
	defer os.Remove(f.Name())
	defer f.Close()
	err := ep.Add(int(f.Fd()), epoll.In, 0)
	fmt.Println(errors.Is(err, epoll.ErrNotPollable), errors.Is(err, unix.EPERM))
	// Output: true true
}

func ExampleClock_String() {
	fmt.Println(epoll.Monotonic, epoll.Realtime)
	// Output: Monotonic Realtime
}

// A loop that defers its changes to the end of an iteration refuses a bad
// one when it is made, with the error the call itself would give.
func ExampleCmd_Check() {
	cmd := epoll.Cmd{Op: epoll.OpModify, Fd: 7, Events: epoll.In | epoll.Exclusive}
	fmt.Println(cmd.Check())
	cmd = epoll.Cmd{Op: epoll.OpAdd, Fd: 7, Events: epoll.In | epoll.Edge}
	fmt.Println(cmd.Check())
	// Output:
	// epoll: epoll_ctl(MOD) fd 7: Exclusive is allowed only in Add (EINVAL)
	// <nil>
}
