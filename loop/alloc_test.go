package loop

import (
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/fdtest"
)

// The iterations below run on the test goroutine, which is the loop's
// goroutine while Run does not run.

func TestDispatchAllocatesNothing(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		efd := fdtest.Eventfd(t)
		fdtest.Signal(t, efd) // never drained: level-triggered, ready every iteration
		calls := 0
		if _, err := l.Register(efd, epoll.In, HandlerFunc(func(*Loop, Token, epoll.Events) { calls++ })); err != nil {
			t.Fatal(err)
		}
		l.inLoop = true
		defer func() { l.inLoop = false }()
		l.once()
		if a := testing.AllocsPerRun(1000, func() { l.once() }); a != 0 {
			t.Fatalf("an iteration dispatching one event allocates %v times", a)
		}
		if calls < 1000 {
			t.Fatalf("handler called %d times", calls)
		}
	})
}

func TestPostAllocatesNothingInSteadyState(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		ran := 0
		f := func() { ran++ }
		for i := 0; i < 100; i++ {
			l.Post(f)
		}
		l.runPosts()
		if a := testing.AllocsPerRun(1000, func() {
			l.Post(f)
			l.runPosts()
		}); a != 0 {
			t.Fatalf("Post and run allocate %v times", a)
		}
	})
}

func TestTimerResetFireStopAllocatesNothing(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		fired := 0
		tm := l.AfterFunc(time.Hour, func() { fired++ })
		keep := l.AfterFunc(time.Hour, func() {})
		defer keep.Stop()
		if a := testing.AllocsPerRun(1000, func() {
			tm.Reset(0)
			l.fireTimers()
			tm.Reset(time.Hour)
			tm.Stop()
		}); a != 0 {
			t.Fatalf("timer Reset+fire+Stop allocates %v times", a)
		}
		if fired < 1000 {
			t.Fatalf("timer fired %d times", fired)
		}
	})
}
