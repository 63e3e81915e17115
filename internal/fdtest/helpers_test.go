package fdtest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeFile is a Closer with an Fd that says -1 once closed.
type fakeFile struct{ fd, closes int }

func (f *fakeFile) Close() error { f.closes++; f.fd = -1; return nil }
func (f *fakeFile) Fd() int      { return f.fd }

func TestNewClosesWhatItMadeWhenTheTestEnds(t *testing.T) {
	var f *fakeFile
	t.Run("user", func(t *testing.T) {
		f = New(t, func() (*fakeFile, error) { return &fakeFile{fd: 9}, nil })
		if f.closes != 0 {
			t.Fatal("closed before the test ended")
		}
	})
	if f.closes != 1 {
		t.Errorf("closed %d times when the test ended, want once", f.closes)
	}
}

func TestCloseTwiceClosesTwice(t *testing.T) {
	f := &fakeFile{fd: 9}
	CloseTwice(t, f)
	if f.closes != 2 {
		t.Errorf("Close called %d times, want 2", f.closes)
	}
}

func TestAtZeroPutsTheDescriptorThereAndTheOldOneBack(t *testing.T) {
	stat := func(fd int) (st unix.Stat_t, err error) { err = unix.Fstat(fd, &st); return st, err }
	before, beforeErr := stat(0)
	efd := Eventfd(t)
	want, _ := stat(efd)
	t.Run("user", func(t *testing.T) {
		AtZero(t, efd)
		if got, err := stat(0); err != nil || got.Ino != want.Ino || got.Dev != want.Dev {
			t.Fatalf("descriptor 0 is not the eventfd (fstat: %v)", err)
		}
	})
	after, afterErr := stat(0)
	if !errors.Is(afterErr, beforeErr) || after.Ino != before.Ino || after.Dev != before.Dev {
		t.Errorf("descriptor 0 after the test: %v (%v), before: %v (%v)", after.Ino, afterErr, before.Ino, beforeErr)
	}
}

func TestSignalAfterMakesTheEventfdReadableNoSooner(t *testing.T) {
	efd := Eventfd(t)
	start := time.Now()
	SignalAfter(t, efd, 20*time.Millisecond)
	fds := []unix.PollFd{{Fd: int32(efd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 5000)
		if err == unix.EINTR {
			continue
		}
		if n != 1 || err != nil {
			t.Fatalf("poll = %d, %v; want the eventfd readable within 5 s", n, err)
		}
		break
	}
	if el := time.Since(start); el < 20*time.Millisecond {
		t.Errorf("readable after %v, want no sooner than 20ms", el)
	}
}

// fatalRecorder is a TB whose Fatalf records the failure instead.
type fatalRecorder struct {
	testing.TB
	failure string
}

func (r *fatalRecorder) Helper() {}
func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.failure = fmt.Sprintf(format, args...)
}

func TestWithinReturnsTheResultOrFailsNamingWhatHung(t *testing.T) {
	done := make(chan error, 1)
	broke := errors.New("broke")
	done <- broke
	if err := Within(t, done, time.Second, "the call"); err != broke {
		t.Errorf("Within = %v, want the delivered error", err)
	}
	r := &fatalRecorder{}
	start := time.Now()
	Within(r, make(chan error), 20*time.Millisecond, "the stuck call")
	if !strings.Contains(r.failure, "the stuck call") || time.Since(start) < 20*time.Millisecond {
		t.Errorf("failure %q after %v; want it to name the stuck call, after the 20ms", r.failure, time.Since(start))
	}
}
