package epoll

import (
	"strings"
	"time"
)

// Poller is the contract every eventpoll backend keeps: an interest set of
// file descriptors and a wait for their readiness. *Instance and *ring.Ring
// are Pollers; a reactor (package loop) or a Changes runs on either
// without knowing which.
//
// What every Poller provides:
//
//   - Add, Modify and Delete with the semantics and errors of epoll_ctl(2)
//     (Instance.Add, Modify, Delete): EEXIST, ENOENT, EBADF for numbers the
//     kernel cannot have (negative, past the int32 range), ErrNotPollable,
//     EINVAL for bits the backend does not support.
//   - BatchAll: the commands applied in order, each with its Result, not
//     stopping at a failure (Instance.BatchAll).
//   - Wait: events stored in place, timeout < 0 blocks, 0 polls, > 0 waits
//     at most that long to the nanosecond and never returns early; a
//     readiness the kernel reported reaches the caller or the caller is told
//     why not; after Delete returns, no event for that registration is
//     delivered.
//   - Caps: which trigger modes and flags the backend honours.
//   - Close: idempotent, safe while other goroutines are inside any
//     method; calls after it return errors matching ErrClosed.
type Poller interface {
	Add(fd int, ev Events, data uint64) error
	Modify(fd int, ev Events, data uint64) error
	Delete(fd int) error
	BatchAll(cmds []Cmd) (int, error)
	Wait(evs []Event, timeout time.Duration) (int, error)
	Caps() Caps
	Close() error
}

var _ Poller = (*Instance)(nil)

// Caps says what a Poller's registrations can be, as the polling crate's
// supports_level and supports_edge do: a program that needs level
// triggering checks CapLevel before it relies on it.
type Caps uint32

const (
	// CapLevel: a registration without Edge is level-triggered, reported
	// by every Wait while the condition holds.
	CapLevel Caps = 1 << iota
	// CapEdge: Edge is honoured; a registration reports each readiness
	// change once.
	CapEdge
	// CapOneShot: OneShot disables a registration after one event until
	// Modify re-arms it.
	CapOneShot
	// CapExclusive: Exclusive (EPOLLEXCLUSIVE) is honoured in Add.
	CapExclusive
)

// String returns the set as "LEVEL|EDGE|ONESHOT|EXCLUSIVE" (the bits it
// has), or "0".
func (c Caps) String() string {
	if c == 0 {
		return "0"
	}
	var parts []string
	for _, n := range [...]struct {
		bit  Caps
		name string
	}{{CapLevel, "LEVEL"}, {CapEdge, "EDGE"}, {CapOneShot, "ONESHOT"}, {CapExclusive, "EXCLUSIVE"}} {
		if c&n.bit != 0 {
			parts = append(parts, n.name)
		}
	}
	return strings.Join(parts, "|")
}

// Caps reports what an Instance supports: everything epoll has, level and
// edge triggering, OneShot and Exclusive.
func (ep *Instance) Caps() Caps { return CapLevel | CapEdge | CapOneShot | CapExclusive }
