package source

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"golang.org/x/sys/unix"
)

// inotifyRecord encodes one struct inotify_event with the name padded by
// NULs to pad bytes, as the kernel writes it.
func inotifyRecord(wd int32, mask, cookie uint32, name string, pad int) []byte {
	b := make([]byte, inotifyHeader+pad)
	binary.NativeEndian.PutUint32(b[0:], uint32(wd))
	binary.NativeEndian.PutUint32(b[4:], mask)
	binary.NativeEndian.PutUint32(b[8:], cookie)
	binary.NativeEndian.PutUint32(b[12:], uint32(pad))
	copy(b[inotifyHeader:], name)
	return b
}

// FuzzParseInotify feeds the parser arbitrary bytes: it must never panic or
// read outside the buffer, every name it returns must lie inside the input
// and hold no NUL, and it must fail exactly when the records do not tile the
// buffer.
func FuzzParseInotify(f *testing.F) {
	f.Add([]byte{})
	f.Add(inotifyRecord(1, unix.IN_CREATE, 0, "notes.txt", 16))
	f.Add(append(inotifyRecord(1, unix.IN_MOVED_FROM, 7, "a", 16), inotifyRecord(1, unix.IN_MOVED_TO, 7, "b", 16)...))
	f.Add(inotifyRecord(-1, unix.IN_Q_OVERFLOW, 0, "", 0))
	f.Add(inotifyRecord(1, unix.IN_CREATE, 0, "x", 16)[:20])
	f.Add([]byte{1, 2, 3})
	huge := inotifyRecord(1, 0, 0, "", 0)
	binary.NativeEndian.PutUint32(huge[12:], 0xffffffff)
	f.Add(huge)
	f.Fuzz(func(t *testing.T, b []byte) {
		var total int
		err := parseInotify(b, func(r rawInotify) {
			if bytes.IndexByte(r.name, 0) >= 0 {
				t.Fatalf("name %q holds a NUL", r.name)
			}
			total++
		})
		// Walk the records independently to know whether they tile b.
		off, want := 0, 0
		tiles := true
		for off < len(b) {
			if len(b)-off < inotifyHeader {
				tiles = false
				break
			}
			l := int64(binary.NativeEndian.Uint32(b[off+12:]))
			if l > int64(len(b)-off-inotifyHeader) {
				tiles = false
				break
			}
			off += inotifyHeader + int(l)
			want++
		}
		if tiles != (err == nil) {
			t.Fatalf("records tile the buffer: %v, but parse error: %v", tiles, err)
		}
		if total != want {
			t.Fatalf("parsed %d records, want %d", total, want)
		}
		if err != nil && !bytes.Contains([]byte(err.Error()), []byte("inotify parse")) {
			t.Fatalf("error %q does not name the parser", err)
		}
	})
}

func TestParseInotifyDecodesKernelRecords(t *testing.T) {
	b := append(inotifyRecord(4, unix.IN_MOVED_FROM, 9, "old", 16), inotifyRecord(4, unix.IN_MOVED_TO, 9, "new", 32)...)
	b = append(b, inotifyRecord(-1, unix.IN_Q_OVERFLOW, 0, "", 0)...)
	var got []rawInotify
	if err := parseInotify(b, func(r rawInotify) { got = append(got, r) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || string(got[0].name) != "old" || string(got[1].name) != "new" || got[1].cookie != 9 ||
		got[2].wd != -1 || got[2].mask != unix.IN_Q_OVERFLOW || len(got[2].name) != 0 {
		t.Fatalf("decoded %+v", got)
	}
	if err := parseInotify(b[:len(b)-3], func(rawInotify) {}); err == nil {
		t.Fatal("a truncated record parsed without error")
	}
}

// FuzzTimerArgs checks the timer's argument validation against the kernel:
// whatever checkTimerArgs accepts, timerfd_create and timerfd_settime
// accept; whatever it refuses matches EINVAL and names the call; and the
// validation never panics.
func FuzzTimerArgs(f *testing.F) {
	f.Add(int(Monotonic), int64(time.Millisecond), int64(0), false)
	f.Add(int(Realtime), int64(1), int64(-1), true)
	f.Add(int(Boottime), int64(0), int64(5), false)
	f.Add(99, int64(1), int64(1), false)
	f.Add(-1, int64(-1), int64(-1), true)
	f.Add(int(Monotonic), int64(1<<62), int64(1<<62), true)
	f.Fuzz(func(t *testing.T, clock int, first, interval int64, abs bool) {
		c := Clock(clock)
		err := checkTimerArgs(c, time.Duration(first), time.Duration(interval), abs)
		if err != nil {
			if !errors.Is(err, unix.EINVAL) {
				t.Fatalf("refusal %v does not match EINVAL", err)
			}
			var se *epoll.Error
			if !errors.As(err, &se) || se.Pkg != "source" || se.Call == "" {
				t.Fatalf("refusal %v names no call", err)
			}
			return
		}
		tm, err := NewTimer(c)
		if err != nil {
			t.Fatalf("checkTimerArgs accepted clock %v but NewTimer: %v", c, err)
		}
		defer tm.Close()
		if abs {
			err = tm.ArmAbsolute(time.Duration(first), time.Duration(interval))
		} else {
			err = tm.Arm(time.Duration(first), time.Duration(interval))
		}
		if err != nil {
			t.Fatalf("checkTimerArgs accepted (%v, %d, %d, abs=%v) but the kernel refused: %v", c, first, interval, abs, err)
		}
	})
}

// FuzzTimerArmAt arms timers at arbitrary instants, from before year -290
// million to after year 290 million: ArmAt never fails on a valid clock, a
// deadline more than a second past leaves the timer expired (Remaining 0),
// and one more than an hour ahead leaves it unexpired for at least that
// long (saturated, never wrapped into the past).
func FuzzTimerArmAt(f *testing.F) {
	f.Add(0, int64(0), int64(0))
	f.Add(1, int64(-62135596800), int64(0)) // the zero time.Time
	f.Add(2, int64(19880064000), int64(5))  // the year 2600
	f.Add(0, int64(1<<62), int64(999999999))
	f.Add(1, int64(-1<<62), int64(-7))
	clocks := []Clock{Monotonic, Realtime, Boottime}
	timers := make([]*Timer, len(clocks))
	for i, c := range clocks {
		tm, err := NewTimer(c)
		if err != nil {
			f.Fatal(err)
		}
		defer tm.Close()
		timers[i] = tm
	}
	f.Fuzz(func(t *testing.T, clock int, sec, nsec int64) {
		tm := timers[uint(clock)%uint(len(timers))]
		deadline := time.Unix(sec, nsec)
		before := time.Now()
		if err := tm.ArmAt(deadline, 0); err != nil {
			t.Fatalf("ArmAt(%v) on %v: %v", deadline, tm.Clock(), err)
		}
		next, _, err := tm.Remaining()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case deadline.Before(before.Add(-time.Second)) && next != 0:
			t.Fatalf("ArmAt(%v) on %v, in the past: Remaining %v, want 0 (expired)", deadline, tm.Clock(), next)
		case deadline.After(time.Now().Add(time.Hour)) && next < time.Hour-time.Second:
			t.Fatalf("ArmAt(%v) on %v, in the future: Remaining %v, want at least an hour", deadline, tm.Clock(), next)
		}
	})
}

// FuzzWatchArgs checks Add's argument validation against the kernel:
// whatever checkWatch accepts for a directory, inotify_add_watch accepts;
// whatever it refuses, for any path, matches EINVAL and names the call; a
// path that is empty or holds a NUL is always refused.
func FuzzWatchArgs(f *testing.F) {
	f.Add(uint32(unix.IN_CREATE), "x")
	f.Add(uint32(unix.IN_CREATE|unix.IN_MASK_CREATE|unix.IN_MASK_ADD), "x")
	f.Add(uint32(unix.IN_ONESHOT), "")
	f.Add(uint32(unix.IN_ALL_EVENTS|unix.IN_ONLYDIR|unix.IN_DONT_FOLLOW|unix.IN_EXCL_UNLINK|unix.IN_MASK_CREATE), "a\x00b")
	f.Add(uint32(1<<31|unix.IN_MODIFY), "x")
	w, err := NewWatcher()
	if err != nil {
		f.Fatal(err)
	}
	defer w.Close()
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, op uint32, path string) {
		const call = "inotify_add_watch"
		if err := checkWatch(call, path, WatchOp(op)); err != nil {
			wantCallError(t, err, unix.EINVAL, call)
		} else if path == "" || strings.IndexByte(path, 0) >= 0 {
			t.Fatalf("checkWatch accepted the path %q", path)
		}
		if err := checkWatch(call, dir, WatchOp(op)); err != nil {
			return
		}
		wd, err := w.Add(dir, WatchOp(op))
		if err != nil {
			t.Fatalf("checkWatch accepted %v but the kernel refused: %v", WatchOp(op), err)
		}
		if err := w.Remove(wd); err != nil && !errors.Is(err, unix.EINVAL) { // EINVAL: a one-shot watch may be gone
			t.Fatal(err)
		}
		for {
			if _, err := w.Read(nil); err != nil {
				break
			}
		}
	})
}

// FuzzSignalsArgs checks NewSignals' validation without installing any
// handler: a set is accepted exactly when it is not empty and every number
// is a catchable signal in 1..64; the accepted set keeps the first of each
// repeat in order; a refusal matches EINVAL and names the call.
func FuzzSignalsArgs(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{10, 12, 10})
	f.Add([]byte{9})
	f.Add([]byte{0, 65})
	f.Add([]byte{255, 19, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		sigs := make([]syscall.Signal, len(b))
		for i, c := range b {
			sigs[i] = syscall.Signal(int8(c)) // negative numbers too
		}
		set, err := checkSignals(sigs)
		valid := len(sigs) > 0
		for _, s := range sigs {
			valid = valid && s >= 1 && s <= 64 && s != syscall.SIGKILL && s != syscall.SIGSTOP
		}
		if err != nil {
			if valid {
				t.Fatalf("checkSignals(%v) refused a valid set: %v", sigs, err)
			}
			wantCallError(t, err, unix.EINVAL, "signal.Notify")
			return
		}
		if !valid {
			t.Fatalf("checkSignals(%v) accepted an invalid set", sigs)
		}
		var want []syscall.Signal
		for _, s := range sigs {
			if !slices.Contains(want, s) {
				want = append(want, s)
			}
		}
		if !slices.Equal(set, want) {
			t.Fatalf("checkSignals(%v) = %v, want %v", sigs, set, want)
		}
	})
}

// FuzzProcessArgs checks the pid and signal validation: a number outside
// what the kernel's 32-bit argument can hold is refused with EINVAL before
// any system call, never cut to another process or signal; a valid signal
// on a zero Process gets ErrNotCreated, not an answer about descriptor 0.
func FuzzProcessArgs(f *testing.F) {
	f.Add(int64(1), int64(0))
	f.Add(int64(1<<32|1), int64(1<<32|9))
	f.Add(int64(-1), int64(-1))
	f.Add(int64(1<<31), int64(65))
	f.Fuzz(func(t *testing.T, pid, sig int64) {
		if pid <= 0 || pid > 1<<31-1 {
			p, err := OpenProcess(int(pid))
			if p != nil {
				p.Close()
				t.Fatalf("OpenProcess(%d) opened a process", pid)
			}
			wantCallError(t, err, unix.EINVAL, "pidfd_open")
		}
		err := new(Process).Signal(syscall.Signal(sig))
		if sig < 0 || sig > 64 {
			wantCallError(t, err, unix.EINVAL, "pidfd_send_signal")
		} else if !errors.Is(err, epoll.ErrNotCreated) {
			t.Fatalf("Signal(%d) on a zero Process: %v, want ErrNotCreated", sig, err)
		}
	})
}
