package source

import (
	"errors"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/errs"
	"github.com/eventpoll/eventpoll/internal/fdlife"
	"golang.org/x/sys/unix"
)

// Clock names the clock a Timer counts on. It is epoll.Clock, the one
// Clock type of eventpoll: its String and Now methods are epoll's.
type Clock = epoll.Clock

// The clocks a Timer accepts (the clockid_t values of the kernel).
const (
	// Monotonic (CLOCK_MONOTONIC) never jumps; it does not count time
	// while the system is suspended. The clock for timeouts and periods.
	Monotonic = epoll.Monotonic
	// Realtime (CLOCK_REALTIME) is the wall clock, which settimeofday,
	// clock_settime and NTP steps can move in either direction. An absolute
	// Realtime timer is armed with TFD_TIMER_CANCEL_ON_SET, so a step is
	// reported by Expirations as ErrClockChanged instead of being silently
	// absorbed (firing early or late against the old time).
	Realtime = epoll.Realtime
	// Boottime (CLOCK_BOOTTIME, Linux 2.6.39) is Monotonic plus the time
	// spent suspended.
	Boottime = epoll.Boottime
)

// ErrClockChanged is returned by Expirations (wrapping unix.ECANCELED) when
// an absolute Realtime timer was cancelled because the wall clock was set.
// The timer stays armed for the same wall-clock time; re-read the clock and
// decide, or re-arm.
var ErrClockChanged = errors.New("realtime clock was set; absolute timer cancelled")

var (
	errTimerAgain   = wouldBlock("timerfd read")
	errTimerChanged = &errs.Error{Pkg: pkg, Call: "timerfd read", Fd: -1, Err: unix.ECANCELED, Kind: ErrClockChanged}
)

// Timer is a timerfd(2): a kernel timer whose expirations are read from a
// file descriptor, readable when it has expired at least once since the last
// read. Times are in nanoseconds end to end; the kernel fires a timer no
// earlier than its expiry, later by the timer slack (50 us by default for a
// normal thread, see prctl PR_SET_TIMERSLACK) and scheduling delay.
//
// A periodic timer counts expirations in the kernel while nobody reads, so
// no tick is lost: Expirations returns how many periods have passed since
// the last read, and the program can tell it missed some.
//
// The zero Timer is not usable: every method returns an error matching
// ErrClosed (ErrNotCreated), Fd returns -1, and no call touches descriptor 0.
type Timer struct {
	fd    fdlife.FD
	clock Clock
}

// NewTimer creates a disarmed timer on clock c with timerfd_create(c,
// TFD_NONBLOCK|TFD_CLOEXEC). Arm it with Arm, ArmAbsolute or ArmAt.
//
// Errors: EINVAL (an argument error, before any system call) for a clock
// other than Monotonic, Realtime and Boottime; EMFILE, ENFILE, ENOMEM.
func NewTimer(c Clock) (*Timer, error) {
	if err := checkClock("timerfd_create", c); err != nil {
		return nil, err
	}
	fd, err := unix.TimerfdCreate(int(c), unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, callError("timerfd_create "+c.String(), -1, err)
	}
	t := &Timer{clock: c}
	t.fd.Init(fd)
	return t, nil
}

func checkClock(call string, c Clock) error {
	switch c {
	case Monotonic, Realtime, Boottime:
		return nil
	}
	return invalid(call, "unsupported clock "+c.String()+" (want Monotonic, Realtime or Boottime)")
}

// Fd returns the timerfd, to register for epoll.In. It stays owned by the
// Timer. It is -1 once Close has begun, and on a zero Timer.
func (t *Timer) Fd() int { return t.fd.Fd() }

// Clock returns the clock the timer counts on (Realtime, whose clockid is
// 0, on a zero Timer).
func (t *Timer) Clock() Clock { return t.clock }

// Arm sets the timer to expire once after initial and then, if interval is
// positive, every interval after that; an interval of 0 makes it one-shot.
// Arming replaces any earlier setting and discards expirations not yet read.
//
// Every positive Duration is accepted, up to its maximum (about 292 years):
// the kernel keeps times as 64-bit nanoseconds and saturates an expiry past
// that range to its end instead of wrapping, so a huge initial or interval
// means an expiry that practically never comes, on every clock alike.
//
// Errors (argument errors matching unix.EINVAL, before any system call):
// initial <= 0, since the kernel would take a zero initial value as "disarm"
// and the timer would silently never fire (use Stop to disarm); interval < 0.
// ErrClosed after Close.
func (t *Timer) Arm(initial, interval time.Duration) error {
	if err := checkTimerArgs(t.clock, initial, interval, false); err != nil {
		return err
	}
	return t.settime(0, initial, interval)
}

// ArmAbsolute sets the timer to expire when the clock reads at (a time since
// the clock's epoch, as Clock.Now returns) and then every interval, with
// TFD_TIMER_ABSTIME. A time already past fires at once; the largest
// Duration is the end of the kernel's range (the year 2262 on Realtime),
// which never comes. On Realtime it also sets TFD_TIMER_CANCEL_ON_SET: when
// the wall clock is stepped, Expirations reports ErrClockChanged.
//
// Errors: as Arm, with at <= 0 refused for the same reason as initial <= 0.
func (t *Timer) ArmAbsolute(at, interval time.Duration) error {
	if err := checkTimerArgs(t.clock, at, interval, true); err != nil {
		return err
	}
	flags := unix.TFD_TIMER_ABSTIME
	if t.clock == Realtime {
		flags |= unix.TFD_TIMER_CANCEL_ON_SET
	}
	return t.settime(flags, at, interval)
}

// ArmAt sets the timer to expire at the instant deadline and then every
// interval. On Realtime it is ArmAbsolute with the deadline's time since
// 1970, a wall-clock time that follows clock steps (and reports them). On
// Monotonic and Boottime it converts deadline to the timer's clock by the
// time remaining until it (measured on Go's monotonic clock when deadline
// carries a monotonic reading).
//
// Any time.Time is accepted and means the same on every clock: a deadline in
// the past (the zero Time, a time before 1970 included) fires at once; a
// deadline beyond the kernel's range (past the year 2262 on Realtime, or
// about 292 years of uptime on the others) is clamped to the end of that
// range and practically never fires. Nothing wraps around.
//
// Errors: as Arm for interval; ErrClosed after Close.
func (t *Timer) ArmAt(deadline time.Time, interval time.Duration) error {
	var at time.Duration
	if t.clock == Realtime {
		at = sinceUnixEpoch(deadline)
	} else {
		now, err := t.clock.Now()
		if err != nil {
			return err // unreachable: NewTimer accepted the clock
		}
		at = addSat(now, time.Until(deadline))
	}
	if at <= 0 {
		at = 1 // in the past: the earliest time that is not "disarm", long expired
	}
	return t.ArmAbsolute(at, interval)
}

const (
	maxDuration time.Duration = 1<<63 - 1
	minDuration time.Duration = -1 << 63
)

// addSat returns a+b clamped to the range of time.Duration. A far deadline
// (time.Until saturates at maxDuration) must stay far once the clock's
// reading is added, not wrap into the past and fire at once.
func addSat(a, b time.Duration) time.Duration {
	switch {
	case b > 0 && a > maxDuration-b:
		return maxDuration
	case b < 0 && a < minDuration-b:
		return minDuration
	}
	return a + b
}

// sinceUnixEpoch returns t as nanoseconds since 1970, the value of
// CLOCK_REALTIME, clamped to the range of time.Duration: UnixNano is
// undefined outside it (years before 1678 or after 2262) and wraps in
// practice.
func sinceUnixEpoch(t time.Time) time.Duration {
	const maxSec = int64(maxDuration / time.Second)
	switch sec := t.Unix(); {
	case sec >= maxSec:
		return maxDuration
	case sec < 0:
		return -1 // before 1970; only "past" matters
	default:
		return time.Duration(sec)*time.Second + time.Duration(t.Nanosecond())
	}
}

// checkTimerArgs validates arguments before timerfd_settime. It accepts
// exactly what the kernel accepts, minus a zero first expiry, which the
// kernel takes as "disarm".
func checkTimerArgs(c Clock, first, interval time.Duration, abs bool) error {
	const call = "timerfd_settime"
	if err := checkClock(call, c); err != nil {
		return err
	}
	what := "initial"
	if abs {
		what = "absolute time"
	}
	if first < 0 {
		return invalid(call, "negative "+what+" "+first.String())
	}
	if first == 0 {
		return invalid(call, "zero "+what+" would disarm the timer (use Stop)")
	}
	if interval < 0 {
		return invalid(call, "negative interval "+interval.String())
	}
	return nil
}

func (t *Timer) settime(flags int, first, interval time.Duration) error {
	if err := acquire(&t.fd, "timerfd_settime"); err != nil {
		return err
	}
	defer t.fd.Release()
	spec := unix.ItimerSpec{
		Value:    unix.NsecToTimespec(int64(first)),
		Interval: unix.NsecToTimespec(int64(interval)),
	}
	if err := unix.TimerfdSettime(t.fd.Sysfd(), flags, &spec, nil); err != nil {
		return callError("timerfd_settime", t.fd.Sysfd(), err)
	}
	return nil
}

// Stop disarms the timer and discards expirations not yet read; the
// descriptor stays open for the next Arm.
//
// Errors: ErrClosed after Close.
func (t *Timer) Stop() error {
	if err := acquire(&t.fd, "timerfd_settime"); err != nil {
		return err
	}
	defer t.fd.Release()
	var spec unix.ItimerSpec
	if err := unix.TimerfdSettime(t.fd.Sysfd(), 0, &spec, nil); err != nil {
		return callError("timerfd_settime", t.fd.Sysfd(), err)
	}
	return nil
}

// Remaining returns the time until the next expiry and the interval, with
// timerfd_gettime; both are 0 for a disarmed timer.
//
// Errors: ErrClosed after Close.
func (t *Timer) Remaining() (next, interval time.Duration, err error) {
	if err := acquire(&t.fd, "timerfd_gettime"); err != nil {
		return 0, 0, err
	}
	defer t.fd.Release()
	var spec unix.ItimerSpec
	if err := unix.TimerfdGettime(t.fd.Sysfd(), &spec); err != nil {
		return 0, 0, callError("timerfd_gettime", t.fd.Sysfd(), err)
	}
	return time.Duration(spec.Value.Nano()), time.Duration(spec.Interval.Nano()), nil
}

// Expirations reads the timer: the number of expirations since it was armed
// or last read, at least 1. More than 1 means ticks passed while nobody read
// (the program was late); they are counted, not lost. Reading resets the
// count and makes the descriptor not readable until the next expiry.
//
// Errors: an error matching unix.EAGAIN when the timer has not expired since
// the last read (drain until it); ErrClockChanged (matching unix.ECANCELED)
// when an absolute Realtime timer was cancelled by a step of the wall clock
// (the descriptor is readable to report it, and the report is consumed by
// this read); ErrClosed after Close. It allocates nothing.
func (t *Timer) Expirations() (uint64, error) {
	if err := acquire(&t.fd, "timerfd read"); err != nil {
		return 0, err
	}
	defer t.fd.Release()
	n, err := readUint64(t.fd.Sysfd())
	switch err {
	case nil:
		return n, nil
	case unix.EAGAIN:
		return 0, errTimerAgain
	case unix.ECANCELED:
		return 0, errTimerChanged
	}
	return 0, callError("timerfd read", t.fd.Sysfd(), err)
}

// Close disarms and closes the timer. It is idempotent; later calls return
// nil.
// On a zero Timer it returns an error matching ErrClosed.
func (t *Timer) Close() error { return closeFD(&t.fd) }
