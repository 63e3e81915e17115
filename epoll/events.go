package epoll

import (
	"strconv"
	"strings"

	"github.com/eventpoll/eventpoll/internal/bitnames"
	"github.com/eventpoll/eventpoll/internal/errs"
)

// Events is a set of epoll event bits: the interest given to Add and Modify,
// and the readiness reported by Wait in Event.Events.
//
// The constants have the values of the kernel's EPOLL* macros. They are
// declared here as an unsigned type because syscall.EPOLLET is a negative
// int on amd64 (1<<31 overflows int32), a trap that makes
// uint32(syscall.EPOLLET) fail to compile and int(syscall.EPOLLET) a
// negative number.
type Events uint32

// The event bits. In, Pri, Out, RDHup and the flags below them may be asked
// for; Err and Hup are always reported whether asked for or not.
const (
	In     Events = 0x001  // EPOLLIN: data to read (or a connection to accept)
	Pri    Events = 0x002  // EPOLLPRI: exceptional condition (TCP urgent data, a cgroup event)
	Out    Events = 0x004  // EPOLLOUT: writing will not block
	Err    Events = 0x008  // EPOLLERR: error condition; always reported
	Hup    Events = 0x010  // EPOLLHUP: hang-up; always reported
	RDNorm Events = 0x040  // EPOLLRDNORM: normal data to read
	RDBand Events = 0x080  // EPOLLRDBAND: priority band data to read
	WRNorm Events = 0x100  // EPOLLWRNORM: writing normal data will not block
	WRBand Events = 0x200  // EPOLLWRBAND: priority data may be written
	Msg    Events = 0x400  // EPOLLMSG: unused by Linux
	RDHup  Events = 0x2000 // EPOLLRDHUP: the peer closed its writing half (stream sockets)

	// Exclusive (EPOLLEXCLUSIVE, Linux 4.5) wakes only one of the instances
	// that watch the same file with this flag, to avoid a thundering herd
	// when several threads each wait on their own instance. Add only: the
	// kernel refuses it in Modify with EINVAL, and refuses it together with
	// OneShot or on a nested epoll instance.
	Exclusive Events = 1 << 28
	// Wakeup (EPOLLWAKEUP) holds a wakeup source while the event is queued,
	// so the system does not suspend before it is handled. It needs
	// CAP_BLOCK_SUSPEND; without it the kernel silently drops the flag.
	Wakeup Events = 1 << 29
	// OneShot (EPOLLONESHOT) disables the registration after one event is
	// reported; Modify re-arms it. The registration stays in the interest set.
	OneShot Events = 1 << 30
	// Edge (EPOLLET) reports a readiness change once instead of for as long as
	// the condition holds. Read or write until EAGAIN before waiting again.
	Edge Events = 1 << 31
)

// flagNames lists every named bit in the order String prints them.
var flagNames = [...]bitnames.Name[Events]{
	{Bit: In, Name: "IN"}, {Bit: Pri, Name: "PRI"}, {Bit: Out, Name: "OUT"}, {Bit: Err, Name: "ERR"}, {Bit: Hup, Name: "HUP"},
	{Bit: RDNorm, Name: "RDNORM"}, {Bit: RDBand, Name: "RDBAND"}, {Bit: WRNorm, Name: "WRNORM"}, {Bit: WRBand, Name: "WRBAND"},
	{Bit: Msg, Name: "MSG"}, {Bit: RDHup, Name: "RDHUP"}, {Bit: Exclusive, Name: "EXCLUSIVE"}, {Bit: Wakeup, Name: "WAKEUP"},
	{Bit: OneShot, Name: "ONESHOT"}, {Bit: Edge, Name: "ET"},
}

// String returns the set as kernel flag names without the EPOLL prefix,
// joined by "|": (In|Out|Edge).String() is "IN|OUT|ET". Bits without a name
// are printed as one hexadecimal number at the end; the empty set is "0".
func (e Events) String() string {
	return bitnames.Format(e, flagNames[:])
}

// parseEvents is the inverse of String: it accepts names joined by "|",
// with or without the EPOLL prefix, in any case, and hexadecimal (0x...) or
// decimal numbers for bits without a name. It returns an error naming the
// first word it does not know. The tests use it to prove that String names
// every bit it prints; the package exports no parser of its own.
func parseEvents(s string) (Events, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errs.Call(pkg, "parse events", -1, errEmptyEvents)
	}
	var e Events
	for _, w := range strings.Split(s, "|") {
		w = strings.ToUpper(strings.TrimSpace(w))
		w = strings.TrimPrefix(w, "EPOLL")
		if w == "EDGE" {
			w = "ET"
		}
		found := false
		for _, f := range flagNames {
			if f.Name == w {
				e |= f.Bit
				found = true
				break
			}
		}
		if found {
			continue
		}
		v, err := strconv.ParseUint(strings.ToLower(w), 0, 32)
		if err != nil {
			return 0, errs.Call(pkg, "parse events", -1, &unknownEventError{word: w})
		}
		e |= Events(v)
	}
	return e, nil
}

// interestMask holds the bits Add and Modify accept; anything else is an
// argument error caught before the system call.
const interestMask = In | Pri | Out | Err | Hup | RDNorm | RDBand | WRNorm | WRBand | Msg | RDHup |
	Exclusive | Wakeup | OneShot | Edge
