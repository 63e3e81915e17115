package uring_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/eventpoll/eventpoll/internal/uring"
	"golang.org/x/sys/unix"
)

// A no-op through the kernel and back.
func Example() {
	r, err := uring.New(8, uring.Options{})
	if err != nil {
		fmt.Println(err) // a caller would take its plain-syscall path here
		return
	}
	defer r.Close()

	s := r.GetSQE()
	s.PrepNop()
	s.UserData = 42
	if _, err := r.SubmitAndWait(1); err != nil {
		fmt.Println(err)
		return
	}
	var cqes [8]uring.CQE
	n, _ := r.Reap(cqes[:])
	fmt.Printf("%d completion: user_data=%d res=%d\n", n, cqes[0].UserData, cqes[0].Res)
	// Output: 1 completion: user_data=42 res=0
}

// Two epoll_ctl operations in one io_uring_enter, linked so that the second
// is cancelled if the first fails. The epoll_event the kernel reads lives in
// the ring's scratch area, outside the Go heap.
func ExampleSQE_PrepEpollCtl() {
	r, err := uring.New(8, uring.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	epfd, _ := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	defer unix.Close(epfd)
	efd, _ := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	defer unix.Close(efd)

	evs := r.EpollEvents()
	for i, op := range []int{unix.EPOLL_CTL_ADD, unix.EPOLL_CTL_ADD} {
		evs[i] = unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)}
		s := r.GetSQE()
		s.PrepEpollCtl(epfd, op, efd, &evs[i])
		s.UserData = uint64(i)
		if i == 0 {
			s.Flags = uring.FlagLink
		}
	}
	r.SubmitAndWait(2)
	var cqes [2]uring.CQE
	n, _ := r.Reap(cqes[:])
	for _, c := range cqes[:n] {
		fmt.Printf("op %d: %v\n", c.UserData, c.Err())
	}
	// Output:
	// op 0: <nil>
	// op 1: file exists
}

// A wait bounded in nanoseconds reports the timeout as unix.ETIME.
func ExampleRing_WaitCQE() {
	r, err := uring.New(4, uring.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	_, err = r.WaitCQE(500 * time.Microsecond)
	fmt.Println(errors.Is(err, unix.ETIME), err)
	// Output: true uring: io_uring_enter: timer expired
}

// Callers choose their path once; tests force the fallback.
func ExampleSupported() {
	restore := uring.ForceUnsupported()
	defer restore()
	if err := uring.Supported(); err != nil {
		fmt.Println("plain system calls:", errors.Is(err, uring.ErrUnsupported))
	}
	// Output: plain system calls: true
}
