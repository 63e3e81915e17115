package uring

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The scratch area is one anonymous private mapping per ring, outside the Go
// heap, so the garbage collector never frees or moves what the kernel reads
// or writes through an address hidden in an SQE:
//
//	[0, 32)    struct io_uring_getevents_arg for SubmitAndWaitTimeout
//	[32, 48)   its __kernel_timespec
//	[64, ...)  Timespecs: one per SQ entry
//	[...]      EpollEvents: Options.EpollEvents (default: one per SQ entry)
const (
	scratchWaitArg = 0
	scratchWaitTS  = 32
	scratchSlots   = 64
)

func (r *Ring) initScratch(opts *Options) error {
	nev := opts.EpollEvents
	if nev == 0 {
		nev = int(r.sqEntries)
	}
	tsSize := int(r.sqEntries) * int(unsafe.Sizeof(unix.Timespec{}))
	evOff := scratchSlots + tsSize
	size := evOff + nev*int(unsafe.Sizeof(unix.EpollEvent{}))
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("uring: mmap: %w", err)
	}
	r.scratch = b
	r.waitArg = (*getEventsArg)(unsafe.Pointer(&b[scratchWaitArg]))
	r.waitTS = (*unix.Timespec)(unsafe.Pointer(&b[scratchWaitTS]))
	r.timespecs = unsafe.Slice((*unix.Timespec)(unsafe.Pointer(&b[scratchSlots])), r.sqEntries)
	if nev > 0 {
		r.epollEvs = unsafe.Slice((*unix.EpollEvent)(unsafe.Pointer(&b[evOff])), nev)
	}
	return nil
}

// EpollEvents returns the ring's epoll_event slots: memory outside the Go
// heap, sized by Options.EpollEvents, that lives until Close. Point
// PrepEpollCtl at one slot per SQE in a batch (the kernel copies it during
// Submit, after which the slot is free again) and PrepEpollWait at a range
// the kernel fills at completion (busy until its CQE is reaped). Which slot
// is in use is the caller's bookkeeping. The slice is nil after Close.
func (r *Ring) EpollEvents() []unix.EpollEvent { return r.epollEvs }
