package load

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// alarm puts the paced generator's pacer to sleep until a send is due. It
// is a timerfd that the runtime's poller waits on, not a Go timer: the
// timerfd's expiry is a kernel hrtimer, so the pacer wakes microseconds
// after the due time, where a Go timer shorter than a millisecond, in a
// process with nothing else to do, waits for the poller's epoll_wait whose
// timeout the runtime rounds up to a whole millisecond
// (runtime/netpoll_epoll.go: "delay < 1e6 → waitms = 1").
type alarm struct {
	f  *os.File // pollable: the descriptor is non-blocking
	fd int
}

func newAlarm() (*alarm, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("timerfd_create: %w", err)
	}
	return &alarm{f: os.NewFile(uintptr(fd), "pacer timerfd"), fd: fd}, nil
}

// sleep returns after d, at once when d is not positive.
func (a *alarm) sleep(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	// A zero it_value disarms the timer: d is at least 1 ns here.
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	if err := unix.TimerfdSettime(a.fd, 0, &spec, nil); err != nil {
		return fmt.Errorf("timerfd_settime: %w", err)
	}
	var expirations [8]byte
	if _, err := a.f.Read(expirations[:]); err != nil {
		return fmt.Errorf("timerfd read: %w", err)
	}
	return nil
}

func (a *alarm) close() { a.f.Close() }
