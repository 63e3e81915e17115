package epoll

import (
	"errors"
	"math"
	"testing"

	"golang.org/x/sys/unix"
)

func TestBusyPollRoundTripsOrSaysUnsupported(t *testing.T) {
	ep := newInstance(t)
	want := BusyPollParams{Usecs: 50, Budget: 8, Prefer: true}
	err := ep.SetBusyPoll(want)
	if errors.Is(err, ErrUnsupported) {
		if !errors.Is(err, unix.ENOTTY) {
			t.Fatalf("unsupported error %v does not keep ENOTTY", err)
		}
		t.Skipf("kernel before 6.9: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	got, err := ep.BusyPoll()
	if err != nil || got != want {
		t.Fatalf("BusyPoll = %+v, %v; want %+v", got, err, want)
	}
	if err := ep.SetBusyPoll(BusyPollParams{}); err != nil {
		t.Fatalf("turning busy poll off: %v", err)
	}
}

func TestBusyPollRejectsOutOfRangeUsecs(t *testing.T) {
	ep := newInstance(t)
	err := ep.SetBusyPoll(BusyPollParams{Usecs: math.MaxInt32 + 1})
	if !errors.Is(err, unix.EINVAL) {
		t.Fatalf("Usecs > INT_MAX = %v, want EINVAL", err)
	}
}
