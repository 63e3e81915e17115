package loop

import (
	"errors"
	"math"
	"testing"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// TestBusyPollIsSetOnTheInstanceTheLoopWaitsOn reads WithBusyPoll's
// parameters back from the kernel (EPIOCGPARAMS) on the epoll instance the
// loop waits on, which is an epoll instance on either engine asked for:
// only epoll_wait busy polls. Parameters the kernel or SetBusyPoll refuses
// make New fail with that refusal, leaking nothing.
func TestBusyPollIsSetOnTheInstanceTheLoopWaitsOn(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		fdtest.Check(t)
		want := epoll.BusyPollParams{Usecs: 50, Budget: 8, Prefer: true}
		l, err := New(WithEngine(e), WithBusyPoll(want))
		if errors.Is(err, epoll.ErrUnsupported) {
			if !errors.Is(err, unix.ENOTTY) {
				t.Fatalf("unsupported error %v does not keep ENOTTY", err)
			}
			t.Skipf("kernel before 6.9: %v", err)
		}
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		defer l.Close()
		if l.Engine() != EngineEpoll || l.inst == nil || l.p != epoll.Poller(l.inst) {
			t.Fatalf("a loop with busy polling runs %v, want epoll waiting on its instance", l.Engine())
		}
		if got, err := l.inst.BusyPoll(); err != nil || got != want {
			t.Fatalf("the loop's instance has busy polling %+v, %v; want %+v", got, err, want)
		}

		if _, err := New(WithEngine(e), WithBusyPoll(epoll.BusyPollParams{Usecs: math.MaxInt32 + 1})); !errors.Is(err, unix.EINVAL) {
			t.Fatalf("New with busy poll usecs above INT_MAX: %v, want EINVAL", err)
		}

		// A budget above NAPI_POLL_WEIGHT (64) needs CAP_NET_ADMIN: the
		// kernel's EPERM without it is New's error.
		big := epoll.BusyPollParams{Usecs: 50, Budget: 65}
		b, err := New(WithEngine(e), WithBusyPoll(big))
		if !hasCap(t, unix.CAP_NET_ADMIN) {
			if !errors.Is(err, unix.EPERM) {
				t.Fatalf("New with budget 65 without CAP_NET_ADMIN: %v, want EPERM", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("New with budget 65 and CAP_NET_ADMIN: %v", err)
		}
		defer b.Close()
		if got, err := b.inst.BusyPoll(); err != nil || got != big {
			t.Fatalf("the loop's instance has busy polling %+v, %v; want %+v", got, err, big)
		}
	})
}

// hasCap reports whether the process has capability c in its effective set.
func hasCap(t *testing.T, c int) bool {
	t.Helper()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		t.Fatalf("capget: %v", err)
	}
	return data[c/32].Effective&(1<<(c%32)) != 0
}
