// Package fdlife is the life of one file descriptor shared by goroutines:
// the one primitive under every eventpoll object that owns a descriptor
// (epoll.Instance, ring.Ring, the source types, a loop, a server's
// connections). It is modelled on the Go runtime's internal/poll fdMutex.
//
// The trap it closes: a descriptor number is reused by the next open(2) as
// soon as close(2) returns. A goroutine that read the number before Close
// and issues its system call after would act on somebody else's file. So
// every call that issues a system call on the descriptor first takes a
// reference (Acquire), and Close marks the descriptor closing, wakes the
// calls that are blocked in the kernel, and waits until every reference is
// given back before the owner closes the number. Once Close has begun no
// new reference is granted.
//
// The zero FD is "never opened": Acquire fails, Fd returns -1 and Close
// reports that there was nothing to close, so an object used without its
// constructor never touches descriptor 0.
package fdlife

import (
	"sync/atomic"
)

// The state word: the low bits count references; openBit is set by Init;
// closingBit by the first Close.
const (
	openBit    = 1 << 62
	closingBit = 1 << 61
	countMask  = closingBit - 1
)

// FD is the life of one descriptor. Its methods are safe for concurrent
// use. An FD must not be copied after Init.
type FD struct {
	sysfd   int
	state   atomic.Uint64
	drained chan struct{} // receives when the count drains to zero after Close began
}

// Init makes f the owner of descriptor fd. It must be called once, before f
// is shared.
func (f *FD) Init(fd int) {
	f.sysfd = fd
	f.drained = make(chan struct{}, 1)
	f.state.Store(openBit)
}

// Acquire takes a reference for a call that will issue a system call on the
// descriptor. It reports false, holding nothing, when the FD was never
// opened or Close has begun. A true result must be paired with Release.
//
// It is one atomic add, not a compare-and-swap loop: the word's cache line
// is shared by every goroutine using the descriptor. A caller that finds
// Close begun gives its reference straight back and never touches the
// descriptor.
func (f *FD) Acquire() bool {
	s := f.state.Add(1)
	if s&openBit == 0 || s&closingBit != 0 {
		f.Release()
		return false
	}
	return true
}

// Release gives back a reference taken by Acquire. The release that leaves
// a closing FD with none lets Close go on. References refused by Acquire
// after Close began can make the count touch zero again; the signal must
// therefore not block, and Close waits for it at most once.
func (f *FD) Release() {
	s := f.state.Add(^uint64(0))
	if s&countMask == 0 && s&closingBit != 0 && s&openBit != 0 {
		select {
		case f.drained <- struct{}{}:
		default:
		}
	}
}

// Sysfd returns the descriptor number. It is valid while the caller holds a
// reference, or for the owner after Close returned true (to close it).
func (f *FD) Sysfd() int { return f.sysfd }

// Fd returns the descriptor number, or -1 when the FD was never opened or
// Close has begun: what an object's exported Fd method reports.
func (f *FD) Fd() int {
	if s := f.state.Load(); s&openBit == 0 || s&closingBit != 0 {
		return -1
	}
	return f.sysfd
}

// Opened reports whether Init was called.
func (f *FD) Opened() bool { return f.state.Load()&openBit != 0 }

// Closing reports whether Close has begun (or the FD was never opened).
func (f *FD) Closing() bool {
	s := f.state.Load()
	return s&openBit == 0 || s&closingBit != 0
}

// Busy returns the number of references held now, for tests and
// diagnostics.
func (f *FD) Busy() int { return int(f.state.Load() & countMask) }

// Close begins the close: no reference is granted from now on. If calls
// hold references, wake (when not nil) is called once to get those blocked
// in the kernel out of it (an eventfd write, a no-op submission), and Close
// waits until every reference has been given back. It returns true to the
// one caller that began the close, which then owns the descriptor and
// closes it; false to every other caller and on an FD never opened.
//
// Close waits without bound: a call that holds a reference must leave the
// kernel promptly once woken. Every descriptor of eventpoll is
// non-blocking, and every blocking wait is woken by wake.
func (f *FD) Close(wake func()) bool {
	for {
		s := f.state.Load()
		if s&openBit == 0 || s&closingBit != 0 {
			return false
		}
		if f.state.CompareAndSwap(s, s|closingBit) {
			break
		}
	}
	if f.state.Load()&countMask == 0 {
		return true
	}
	if wake != nil {
		wake()
	}
	// The drop to zero after closingBit was set signals; a stale signal from
	// before cannot exist, because only this call waits and only once.
	if f.state.Load()&countMask != 0 {
		<-f.drained
	}
	return true
}
