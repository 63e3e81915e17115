package system

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// NestEpoll builds perf's nesting (-N): n more epoll instances chained one
// inside the next, the outermost registered by add (in the instance under
// test). They hold no events; they make ADD and wake-up paths walk a deeper
// hierarchy. perf caps n at 4 (the kernel allows 5 levels), and so does
// NestEpoll. closeAll closes the chain.
func NestEpoll(n int, add func(fd int) error) (closeAll func(), err error) {
	n = min(n, 4)
	var fds []int
	closeAll = func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	for i := 0; i < n; i++ {
		fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("nesting: epoll_create1: %w", err)
		}
		fds = append(fds, fd)
	}
	for i := n - 1; i > 0; i-- {
		ev := unix.EpollEvent{Events: unix.EPOLLHUP}
		if err := unix.EpollCtl(fds[i-1], unix.EPOLL_CTL_ADD, fds[i], &ev); err != nil {
			closeAll()
			return nil, fmt.Errorf("nesting: epoll_ctl(ADD) level %d: %w", i, err)
		}
	}
	if n > 0 {
		if err := add(fds[0]); err != nil {
			closeAll()
			return nil, fmt.Errorf("nesting: add the outermost nested instance: %w", err)
		}
	}
	return closeAll, nil
}
