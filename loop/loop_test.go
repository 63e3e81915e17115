package loop

import (
	"context"
	"errors"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

func TestHandlerReceivesReadiness(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		efd := fdtest.Eventfd(t)
		rec := newRecorder()
		rec.fn = func(l *Loop, tok Token, ev epoll.Events) { fdtest.Drain(efd) }
		tok, err := l.Register(efd, epoll.In, rec)
		if err != nil {
			t.Fatalf("Register: %v", err)
		}
		start(t, l)
		fdtest.Signal(t, efd)
		rec.waitFor(t)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if rec.toks[0] != tok || rec.evs[0]&epoll.In == 0 {
			t.Fatalf("got token %#x events %v, want %#x with IN", rec.toks[0], rec.evs[0], tok)
		}
	})
}

// TestUnregisterDropsEventsAlreadyQueued makes two registrations ready
// before the loop's first wait, so both events arrive in one batch; the
// handler that runs first unregisters the other, whose event, already
// collected, must be dropped and counted, never delivered.
func TestUnregisterDropsEventsAlreadyQueued(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		a, b := fdtest.Eventfd(t), fdtest.Eventfd(t)
		var toks [2]Token
		var calls [2]atomic.Int32
		var first atomic.Int32
		first.Store(-1)
		mk := func(i int, fd int) Handler {
			return HandlerFunc(func(l *Loop, tok Token, ev epoll.Events) {
				calls[i].Add(1)
				fdtest.Drain(fd)
				if first.CompareAndSwap(-1, int32(i)) {
					if err := l.Unregister(toks[1-i]); err != nil {
						t.Errorf("Unregister: %v", err)
					}
				}
			})
		}
		var err error
		if toks[0], err = l.Register(a, epoll.In, mk(0, a)); err != nil {
			t.Fatal(err)
		}
		if toks[1], err = l.Register(b, epoll.In, mk(1, b)); err != nil {
			t.Fatal(err)
		}
		fdtest.Signal(t, a)
		fdtest.Signal(t, b)
		stop := start(t, l)
		eventually(t, "first handler", func() bool { return first.Load() >= 0 })
		onLoop(t, l, func() {}) // one more iteration
		stop()
		f := first.Load()
		if calls[1-f].Load() != 0 {
			t.Fatalf("unregistered handler called %d times", calls[1-f].Load())
		}
		if st := l.Stats(); st.Stale != 1 {
			t.Fatalf("Stats.Stale = %d, want 1 (the queued event of the unregistered registration)", st.Stale)
		}
	})
}

func TestUnregisterIsImmediateSoTheCallerMayClose(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		dup, _ := unix.Dup(fd)
		defer unix.Close(dup)
		rec := newRecorder()
		tok, err := l.Register(fd, epoll.In, rec)
		if err != nil {
			t.Fatal(err)
		}
		start(t, l)
		onLoop(t, l, func() {
			if err := l.Unregister(tok); err != nil {
				t.Errorf("Unregister: %v", err)
			}
			unix.Close(fd)
		})
		// The dup keeps the file open: had the kernel kept the registration,
		// it would report it now (level-triggered) and forever.
		fdtest.Signal(t, dup)
		onLoop(t, l, func() {})
		onLoop(t, l, func() {})
		if rec.count() != 0 {
			t.Fatalf("handler called %d times after Unregister", rec.count())
		}
		if st := l.Stats(); st.Stale != 0 {
			t.Fatalf("%d stale events: the kernel still watched the file", st.Stale)
		}
	})
}

func TestRegisterInHandlerIsDeferredAndBatched(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		start(t, l)
		const n = 32
		fds := make([]int, n)
		for i := range fds {
			fds[i] = fdtest.Eventfd(t)
			fdtest.Signal(t, fds[i])
		}
		rec := newRecorder()
		before := l.Stats()
		onLoop(t, l, func() {
			for _, fd := range fds {
				if _, err := l.Register(fd, epoll.In|epoll.Edge, rec); err != nil {
					t.Errorf("Register: %v", err)
				}
			}
		})
		eventually(t, "32 events", func() bool { return rec.count() == n })
		after := l.Stats()
		if got := after.Batches - before.Batches; got != 1 {
			t.Errorf("32 Registers in one iteration took %d batches, want 1", got)
		}
		if got := after.Changes - before.Changes; got != n {
			t.Errorf("%d changes applied, want %d", got, n)
		}
	})
}

// TestRegisterThenUnregisterCloseInOneIterationCostsNoSyscall: a descriptor
// registered and released in the same iteration never reaches the kernel.
func TestRegisterThenUnregisterCloseInOneIterationCostsNoSyscall(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		start(t, l)
		before := l.Stats()
		onLoop(t, l, func() {
			fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
			if err != nil {
				t.Error(err)
				return
			}
			tok, err := l.Register(fd, epoll.In, newRecorder())
			if err != nil {
				t.Error(err)
				return
			}
			if err := l.UnregisterClose(tok); err != nil {
				t.Error(err)
			}
		})
		onLoop(t, l, func() {})
		if got := l.Stats().Changes - before.Changes; got != 0 {
			t.Fatalf("%d changes reached the kernel, want 0", got)
		}
	})
}

func TestDeferredRegisterRefusedByKernelReachesHandlerAndFaultHandler(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		var faults atomic.Int32
		var faultErr atomic.Value
		l := newLoop(t, e, WithFaultHandler(func(tok Token, err error) {
			faults.Add(1)
			faultErr.Store(err)
		}))
		f, err := os.CreateTemp(t.TempDir(), "regular")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		start(t, l)
		rec := newRecorder()
		var tok Token
		onLoop(t, l, func() {
			var err error
			if tok, err = l.Register(int(f.Fd()), epoll.In, rec); err != nil {
				t.Errorf("deferred Register returned %v at once, want nil", err)
			}
		})
		rec.waitFor(t)
		rec.mu.Lock()
		ev := rec.evs[0]
		rec.mu.Unlock()
		if ev != epoll.Err|epoll.Hup {
			t.Fatalf("handler got %v, want ERR|HUP", ev)
		}
		eventually(t, "fault", func() bool { return faults.Load() == 1 })
		if err := faultErr.Load().(error); !errors.Is(err, epoll.ErrNotPollable) {
			t.Fatalf("fault %v does not match ErrNotPollable", err)
		}
		onLoop(t, l, func() {
			if l.Registered(tok) {
				t.Error("refused registration is still live")
			}
		})
	})
}

func TestRegisterBeforeRunReturnsKernelErrors(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		f, err := os.CreateTemp(t.TempDir(), "regular")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := l.Register(int(f.Fd()), epoll.In, newRecorder()); !errors.Is(err, epoll.ErrNotPollable) {
			t.Fatalf("Register of a regular file: %v, want ErrNotPollable", err)
		}
		for _, fd := range []int{-1, 1 << 32, 1<<32 | 3} {
			if _, err := l.Register(fd, epoll.In, newRecorder()); !errors.Is(err, unix.EBADF) {
				t.Errorf("Register(%d): %v, want EBADF", fd, err)
			}
		}
		if _, err := l.Register(fdtest.Eventfd(t), epoll.In, nil); !errors.Is(err, unix.EINVAL) {
			t.Errorf("Register with nil handler: %v, want EINVAL", err)
		}
		if l.Len() != 0 {
			t.Fatalf("%d registrations left after refusals", l.Len())
		}
	})
}

// TestRingCapacityCountsTheCallersRegistrations: WithRingCapacity(n)
// admits n registrations on EngineRing, the loop's own wake-up eventfd
// aside, and refuses the next with ENOSPC; EngineEpoll has no such bound.
func TestRingCapacityCountsTheCallersRegistrations(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		const n = 3
		l := newLoop(t, e, WithRingCapacity(n))
		for i := 0; i < n; i++ {
			if _, err := l.Register(fdtest.Eventfd(t), epoll.In, newRecorder()); err != nil {
				t.Fatalf("Register %d of a capacity of %d: %v", i+1, n, err)
			}
		}
		_, err := l.Register(fdtest.Eventfd(t), epoll.In, newRecorder())
		if l.Engine() == EngineRing && !errors.Is(err, unix.ENOSPC) {
			t.Fatalf("Register past a ring capacity of %d: %v, want ENOSPC", n, err)
		}
		if l.Engine() == EngineEpoll && err != nil {
			t.Fatalf("Register past a ring capacity of %d on epoll: %v, want no bound", n, err)
		}
		for _, c := range []int{0, maxRingCapacity + 1} {
			if _, err := New(WithEngine(e), WithRingCapacity(c)); !errors.Is(err, unix.EINVAL) {
				t.Errorf("New with a ring capacity of %d: %v, want EINVAL", c, err)
			}
		}
	})
}

func TestModifyIsAppliedAtIterationEnd(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		r, w := fdtest.Pipe(t)
		_ = r
		rec := newRecorder()
		tok, err := l.Register(w, epoll.In, rec) // a pipe's write end is never readable
		if err != nil {
			t.Fatal(err)
		}
		start(t, l)
		onLoop(t, l, func() {
			if err := l.Modify(tok, epoll.Out|epoll.Edge); err != nil {
				t.Errorf("Modify: %v", err)
			}
		})
		rec.waitFor(t)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if rec.evs[0]&epoll.Out == 0 {
			t.Fatalf("after Modify to OUT got %v", rec.evs[0])
		}
	})
}

func TestHandlerPanicIsRecoveredRegistrationRemovedLoopGoesOn(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		var got atomic.Value
		l := newLoop(t, e, WithFaultHandler(func(tok Token, err error) { got.Store(err) }))
		bad, good := fdtest.Eventfd(t), fdtest.Eventfd(t)
		badTok, _ := l.Register(bad, epoll.In, HandlerFunc(func(*Loop, Token, epoll.Events) { panic("boom") }))
		rec := newRecorder()
		rec.fn = func(*Loop, Token, epoll.Events) { fdtest.Drain(good) }
		l.Register(good, epoll.In, rec)
		start(t, l)
		fdtest.Signal(t, bad)
		eventually(t, "panic reported", func() bool { return got.Load() != nil })
		var pe *PanicError
		if err := got.Load().(error); !errors.As(err, &pe) || pe.Value != "boom" || pe.Token != badTok || len(pe.Stack) == 0 {
			t.Fatalf("fault %v: want *PanicError with value boom, token %#x and a stack", err, badTok)
		}
		fdtest.Signal(t, good)
		rec.waitFor(t)
		onLoop(t, l, func() {
			if l.Registered(badTok) {
				t.Error("panicking registration still live")
			}
		})
		if st := l.Stats(); st.Panics != 1 {
			t.Fatalf("Stats.Panics = %d", st.Panics)
		}
	})
}

func TestPanicInPostedFunctionOrTimerIsReported(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		var n atomic.Int32
		l := newLoop(t, e, WithFaultHandler(func(tok Token, err error) { n.Add(1) }))
		start(t, l)
		l.Post(func() { panic("post") })
		l.AfterFunc(0, func() { panic("timer") })
		eventually(t, "two faults", func() bool { return n.Load() == 2 })
		onLoop(t, l, func() {}) // the loop goes on
	})
}

func TestCloseFromInsideHandler(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		efd := fdtest.Eventfd(t)
		closed := make(chan error, 1)
		l.Register(efd, epoll.In, HandlerFunc(func(l *Loop, _ Token, _ epoll.Events) { closed <- l.Close() }))
		errc := make(chan error, 1)
		go func() { errc <- l.Run(context.Background()) }()
		fdtest.Signal(t, efd)
		select {
		case err := <-closed:
			if err != nil {
				t.Fatalf("Close in handler: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("handler not called")
		}
		select {
		case err := <-errc:
			if err != nil {
				t.Fatalf("Run after Close: %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after Close from a handler")
		}
		if err := l.Post(func() {}); !errors.Is(err, epoll.ErrClosed) {
			t.Fatalf("Post after Close: %v", err)
		}
	})
}

func TestCloseFromAnotherGoroutineWaitsForRun(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		var inHandler, after atomic.Bool
		efd := fdtest.Eventfd(t)
		l.Register(efd, epoll.In, HandlerFunc(func(*Loop, Token, epoll.Events) {
			inHandler.Store(true)
			time.Sleep(50 * time.Millisecond)
			fdtest.Drain(efd)
			after.Store(true)
		}))
		errc := make(chan error, 1)
		go func() { errc <- l.Run(context.Background()) }()
		fdtest.Signal(t, efd)
		eventually(t, "handler entered", inHandler.Load)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if !after.Load() {
			t.Fatal("Close returned while a handler was still running")
		}
		if err := <-errc; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

func TestRunReturnsWhenContextDoneAndCanRunAgain(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- l.Run(ctx) }()
		time.Sleep(10 * time.Millisecond)
		cancel()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Run: %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
		ran := make(chan struct{})
		l.Post(func() { close(ran) })
		stop := start(t, l)
		select {
		case <-ran:
		case <-time.After(10 * time.Second):
			t.Fatal("second Run did not run the posted function")
		}
		if err := stop(); err != nil {
			t.Fatalf("second Run: %v", err)
		}
	})
}

func TestSecondConcurrentRunAndRunAfterCloseFail(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e)
		start(t, l)
		onLoop(t, l, func() {})
		if err := l.Run(context.Background()); !errors.Is(err, ErrRunning) {
			t.Fatalf("concurrent Run: %v, want ErrRunning", err)
		}
		l.Close()
		if err := l.Run(context.Background()); !errors.Is(err, epoll.ErrClosed) {
			t.Fatalf("Run after Close: %v, want ErrClosed", err)
		}
	})
}

func TestZeroLoopReturnsErrorsAndNeverPanics(t *testing.T) {
	// Engine-independent: a zero Loop has no engine, and every call returns before it would use one.
	var l Loop
	if _, err := l.Register(0, epoll.In, newRecorder()); !errors.Is(err, epoll.ErrClosed) {
		t.Errorf("Register: %v", err)
	}
	if err := l.Modify(1, epoll.In); !errors.Is(err, epoll.ErrClosed) {
		t.Errorf("Modify: %v", err)
	}
	if err := l.Unregister(1); !errors.Is(err, epoll.ErrClosed) {
		t.Errorf("Unregister: %v", err)
	}
	if err := l.Post(func() {}); !errors.Is(err, epoll.ErrClosed) {
		t.Errorf("Post: %v", err)
	}
	if tm := l.AfterFunc(time.Millisecond, func() {}); tm.Stop() {
		t.Error("AfterFunc on a zero Loop made a pending timer")
	}
	if err := l.Run(context.Background()); !errors.Is(err, epoll.ErrClosed) {
		t.Errorf("Run: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestRunSetsTimerSlackAndRestoresIt asks the loop's thread for its timer
// slack while Run runs, and, for a Run on a thread the test has locked,
// after Run has returned.
func TestRunSetsTimerSlackAndRestoresIt(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		for _, want := range []time.Duration{DefaultTimerSlack, 20 * time.Microsecond} {
			l := newLoop(t, e, WithTimerSlack(want))
			start(t, l)
			var got int
			var err error
			onLoop(t, l, func() { got, err = unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0) })
			if err != nil {
				t.Fatalf("PR_GET_TIMERSLACK: %v", err)
			}
			if time.Duration(got) != want {
				t.Fatalf("loop thread's timer slack %v, want %v", time.Duration(got), want)
			}
		}

		runtime.LockOSThread() // Run locks again and unlocks once: the thread stays ours
		defer runtime.UnlockOSThread()
		old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
		if err != nil {
			t.Fatalf("PR_GET_TIMERSLACK: %v", err)
		}
		const mine, loops = 37 * time.Microsecond, 20 * time.Microsecond
		if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(mine), 0, 0, 0); err != nil {
			t.Fatalf("PR_SET_TIMERSLACK: %v", err)
		}
		defer unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0)
		l := newLoop(t, e, WithTimerSlack(loops))
		during := 0
		l.Post(func() {
			during, _ = unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
			l.Close()
		})
		if err := l.Run(context.Background()); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if time.Duration(during) != loops {
			t.Fatalf("timer slack %v during Run on the test's thread, want %v", time.Duration(during), loops)
		}
		after, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
		if err != nil {
			t.Fatalf("PR_GET_TIMERSLACK: %v", err)
		}
		if time.Duration(after) != mine {
			t.Fatalf("timer slack %v after Run, want the thread's own %v restored", time.Duration(after), mine)
		}
	})
}
