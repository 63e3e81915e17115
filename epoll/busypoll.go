package epoll

import (
	"math"
	"unsafe"

	"github.com/eventpoll/eventpoll/internal/errs"
	"golang.org/x/sys/unix"
)

// BusyPollParams are the busy-polling settings of an instance (struct
// epoll_params, Linux 6.9). When set, a Wait that finds nothing ready spins
// polling the NAPI contexts of the instance's sockets for up to Usecs
// microseconds before sleeping, trading CPU for latency on a busy network
// path.
type BusyPollParams struct {
	Usecs  uint32 // how long to busy poll, in microseconds; at most math.MaxInt32
	Budget uint16 // packets per NAPI poll; above 64 (NAPI_POLL_WEIGHT) needs CAP_NET_ADMIN
	Prefer bool   // prefer busy polling over softirq processing (SO_PREFER_BUSY_POLL)
}

// epollParams is the kernel's struct epoll_params: 8 bytes.
type epollParams struct {
	usecs  uint32
	budget uint16
	prefer uint8
	_      uint8 // must be zero
}

// The ioctl numbers: _IOW('\x8A', 0x01, struct epoll_params) and
// _IOR('\x8A', 0x02, struct epoll_params).
const (
	eppSet = 1<<30 | 8<<16 | 0x8A<<8 | 0x01
	eppGet = 2<<30 | 8<<16 | 0x8A<<8 | 0x02
)

// SetBusyPoll sets the instance's busy-polling parameters with the
// EPIOCSPARAMS ioctl. A zero BusyPollParams turns busy polling off.
//
// Errors: EINVAL (an argument error, checked before the call) when Usecs
// exceeds math.MaxInt32; EPERM when Budget exceeds 64 without CAP_NET_ADMIN;
// ErrUnsupported wrapping ENOTTY on a kernel before 6.9; ErrClosed.
func (ep *Instance) SetBusyPoll(p BusyPollParams) error {
	const call = "ioctl(EPIOCSPARAMS)"
	if p.Usecs > math.MaxInt32 {
		return invalid(call, -1, "busy poll usecs exceeds INT_MAX")
	}
	kp := epollParams{usecs: p.Usecs, budget: p.Budget}
	if p.Prefer {
		kp.prefer = 1
	}
	return ep.paramsIoctl(call, eppSet, &kp)
}

// BusyPoll returns the instance's busy-polling parameters, read with the
// EPIOCGPARAMS ioctl.
//
// Errors: ErrUnsupported wrapping ENOTTY on a kernel before 6.9; ErrClosed.
func (ep *Instance) BusyPoll() (BusyPollParams, error) {
	var kp epollParams
	if err := ep.paramsIoctl("ioctl(EPIOCGPARAMS)", eppGet, &kp); err != nil {
		return BusyPollParams{}, err
	}
	return BusyPollParams{Usecs: kp.usecs, Budget: kp.budget, Prefer: kp.prefer != 0}, nil
}

func (ep *Instance) paramsIoctl(call string, req uintptr, kp *epollParams) error {
	if err := ep.acquire(call); err != nil {
		return err
	}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(ep.fd.Sysfd()), req, uintptr(unsafe.Pointer(kp)))
	ep.fd.Release()
	switch errno {
	case 0:
		return nil
	case unix.ENOTTY:
		e := errs.Call(pkg, call, -1, errno)
		e.Kind = ErrUnsupported
		return e
	}
	return callError(call, -1, errno)
}
