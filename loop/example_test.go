package loop_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/loop"
	"github.com/eventpoll/eventpoll/source"
	"golang.org/x/sys/unix"
)

// A loop that echoes what arrives on a pipe, then stops itself.
func Example() {
	l, err := loop.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	var p [2]int
	unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC)
	defer unix.Close(p[1])
	_, err = l.Register(p[0], epoll.In|epoll.Edge, loop.HandlerFunc(func(l *loop.Loop, t loop.Token, ev epoll.Events) {
		buf := make([]byte, 64)
		n, _ := unix.Read(p[0], buf) // one message; a real handler reads until EAGAIN
		fmt.Printf("read %q\n", buf[:n])
		l.UnregisterClose(t) // the loop closes p[0]
		l.Close()
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	unix.Write(p[1], []byte("hello"))
	fmt.Println(l.Run(context.Background()))
	// Output:
	// read "hello"
	// <nil>
}

func ExampleLoop_Post() {
	l, _ := loop.New()
	done := make(chan struct{})
	go l.Run(context.Background())
	for i := 1; i <= 3; i++ {
		l.Post(func() { fmt.Println("posted", i) }) // run in order, on the loop
	}
	l.Post(func() { close(done) })
	<-done
	l.Close()
	// Output:
	// posted 1
	// posted 2
	// posted 3
}

func ExampleLoop_AfterFunc() {
	l, _ := loop.New()
	start := time.Now()
	l.AfterFunc(300*time.Microsecond, func() {
		fmt.Println("fired, not early:", time.Since(start) >= 300*time.Microsecond)
		l.Close()
	})
	l.Run(context.Background())
	// Output: fired, not early: true
}

func ExampleLoop_Every() {
	l, _ := loop.New()
	n := 0
	var tick *loop.Timer
	tick, _ = l.Every(time.Millisecond, func() {
		n++
		if n == 3 {
			tick.Stop()
			l.Close()
		}
	})
	l.Run(context.Background())
	fmt.Println("ticks:", n)
	// Output: ticks: 3
}

func ExampleTimer_Reset() {
	l, _ := loop.New()
	fired := 0
	tm := l.AfterFunc(time.Hour, func() { fired++; l.Close() })
	tm.Reset(time.Millisecond) // from any goroutine; allocates nothing
	l.Run(context.Background())
	fmt.Println("fired:", fired)
	// Output: fired: 1
}

func ExampleTimer_Stop() {
	l, _ := loop.New()
	defer l.Close()
	tm := l.AfterFunc(time.Hour, func() {})
	fmt.Println(tm.Stop(), tm.Stop())
	// Output: true false
}

// Modify changes what a registration waits for: here from nothing useful
// (a pipe's write end is never readable) to writable.
func ExampleLoop_Modify() {
	l, _ := loop.New()
	var p [2]int
	unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC)
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	var t loop.Token
	t, _ = l.Register(p[1], epoll.In, loop.HandlerFunc(func(l *loop.Loop, _ loop.Token, ev epoll.Events) {
		fmt.Println("event:", ev&epoll.Out != 0)
		l.Unregister(t)
		l.Close()
	}))
	l.Post(func() { l.Modify(t, epoll.Out) }) // applied at the end of the iteration
	l.Run(context.Background())
	// Output: event: true
}

// Unregister is immediate: when it returns, the descriptor may be closed.
func ExampleLoop_Unregister() {
	l, _ := loop.New()
	defer l.Close()
	efd, _ := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	t, _ := l.Register(efd, epoll.In, loop.HandlerFunc(func(*loop.Loop, loop.Token, epoll.Events) {}))
	fmt.Println(l.Unregister(t), l.Registered(t))
	unix.Close(efd)
	// Output: <nil> false
}

func ExampleLoop_Stats() {
	l, _ := loop.New()
	l.Post(func() {})
	l.Post(func() { l.Close() })
	l.Run(context.Background())
	st := l.Stats()
	fmt.Println("posts run:", st.Posts)
	// Output: posts run: 2
}

// A timerfd from package source in the loop: a kernel timer, which keeps
// counting expirations while the loop is busy.
func Example_timerfd() {
	l, _ := loop.New()
	tm, _ := source.NewTimer(source.Monotonic)
	defer tm.Close()
	tm.Arm(time.Millisecond, time.Millisecond)
	total := uint64(0)
	l.Register(tm.Fd(), epoll.In, loop.HandlerFunc(func(l *loop.Loop, t loop.Token, ev epoll.Events) {
		n, err := tm.Expirations()
		if err != nil {
			return
		}
		if total += n; total >= 3 {
			l.Unregister(t)
			l.Close()
		}
	}))
	l.Run(context.Background())
	fmt.Println("at least 3 expirations:", total >= 3)
	// Output: at least 3 expirations: true
}

// Signals as events of the loop.
func Example_signals() {
	l, _ := loop.New()
	sigs, _ := source.NewSignals(syscall.SIGUSR1)
	defer sigs.Close()
	l.Register(sigs.Fd(), epoll.In, loop.HandlerFunc(func(l *loop.Loop, t loop.Token, ev epoll.Events) {
		if sig, err := sigs.Read(); err == nil {
			fmt.Println("signal:", sig)
			l.Unregister(t)
			l.Close()
		}
	}))
	l.Post(func() { syscall.Kill(os.Getpid(), syscall.SIGUSR1) })
	l.Run(context.Background())
	// Output: signal: user defined signal 1
}

// File changes (inotify) as events of the loop.
func Example_watcher() {
	dir, _ := os.MkdirTemp("", "loop-example")
	defer os.RemoveAll(dir)
	l, _ := loop.New()
	w, _ := source.NewWatcher()
	defer w.Close()
	w.Add(dir, source.WatchCreate)
	var evs []source.WatchEvent
	l.Register(w.Fd(), epoll.In, loop.HandlerFunc(func(l *loop.Loop, t loop.Token, ev epoll.Events) {
		evs, _ = w.Read(evs[:0])
		for _, e := range evs {
			fmt.Println("created:", filepath.Base(e.Name))
			l.Unregister(t)
			l.Close()
			return
		}
	}))
	l.Post(func() { os.WriteFile(filepath.Join(dir, "new.txt"), nil, 0o600) })
	l.Run(context.Background())
	// Output: created: new.txt
}

// A process exit (pidfd) as an event of the loop.
func Example_process() {
	sh, err := exec.LookPath("true")
	if err != nil {
		fmt.Println("exit status 0")
		return
	}
	l, _ := loop.New()
	p, err := source.StartProcess(sh, []string{"true"}, &os.ProcAttr{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	l.Register(p.Fd(), epoll.In, loop.HandlerFunc(func(l *loop.Loop, t loop.Token, ev epoll.Events) {
		st, err := p.Wait()
		if err != nil {
			return
		}
		fmt.Println(st)
		l.Unregister(t)
		l.Close()
	}))
	l.Run(context.Background())
	// Output: exit status 0
}

// EngineRing runs the loop on an io_uring ring in front of an epoll
// instance where the kernel has IORING_OP_EPOLL_WAIT, and on the epoll
// instance alone where not: the behaviour, level triggering included, is
// the same.
func ExampleWithEngine() {
	l, err := loop.New(loop.WithEngine(loop.EngineRing))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	fmt.Println("level-triggered registrations:", l.Caps()&epoll.CapLevel != 0)
	// Output: level-triggered registrations: true
}

// A loop that spins the last 50 us before each timer instead of sleeping
// through them: timers land within microseconds, for up to 50 us of CPU
// each.
func ExampleWithTimerSpin() {
	l, _ := loop.New(loop.WithTimerSpin(50 * time.Microsecond))
	start := time.Now()
	l.AfterFunc(200*time.Microsecond, func() {
		fmt.Println("not early:", time.Since(start) >= 200*time.Microsecond)
		l.Close()
	})
	l.Run(context.Background())
	// Output: not early: true
}

// A Token names one registration, not a descriptor: the same descriptor
// registered again after Unregister has a new Token, and the old one names
// nothing, so an event that still carries it is dropped.
func ExampleToken() {
	l, _ := loop.New()
	defer l.Close()
	efd, _ := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	defer unix.Close(efd)
	h := loop.HandlerFunc(func(*loop.Loop, loop.Token, epoll.Events) {})
	old, _ := l.Register(efd, epoll.In, h)
	l.Unregister(old)
	cur, _ := l.Register(efd, epoll.In, h)
	fmt.Println(old != cur, l.Registered(old), l.Registered(cur))
	l.Unregister(cur)
	// Output: true false true
}

// A counter is a Handler with state of its own: what an eventfd counted.
type counter struct{ total uint64 }

func (c *counter) OnEvent(l *loop.Loop, t loop.Token, ev epoll.Events) {
	var buf [8]byte
	if n, _ := unix.Read(l.Fd(t), buf[:]); n == 8 {
		c.total += binary.NativeEndian.Uint64(buf[:])
	}
	l.UnregisterClose(t)
	l.Close()
}

func ExampleHandler() {
	l, _ := loop.New()
	efd, _ := unix.Eventfd(5, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC) // readable: counts 5
	c := &counter{}
	l.Register(efd, epoll.In, c)
	l.Run(context.Background())
	fmt.Println("total:", c.total)
	// Output: total: 5
}

func ExampleHandlerFunc() {
	var h loop.Handler = loop.HandlerFunc(func(l *loop.Loop, t loop.Token, ev epoll.Events) {
		fmt.Println("event:", ev)
	})
	h.OnEvent(nil, 1, epoll.In|epoll.Hup)
	// Output: event: IN|HUP
}

func ExampleEngine_String() {
	fmt.Println(loop.EngineEpoll, loop.EngineRing, loop.Engine(7))
	// Output: epoll ring Engine(7)
}

// Run returns ctx.Err() when ctx is done, and the loop may run again; a Run
// while another runs fails with ErrRunning; after Close, Run returns nil.
func ExampleLoop_Run() {
	l, _ := loop.New()
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	fmt.Println(l.Run(ctx))
	l.Post(func() {
		fmt.Println(errors.Is(l.Run(context.Background()), loop.ErrRunning))
		l.Close()
	})
	fmt.Println(l.Run(context.Background()))
	// Output:
	// context deadline exceeded
	// true
	// <nil>
}

// Registered tells a live Token from one whose registration has ended.
func ExampleLoop_Registered() {
	l, _ := loop.New()
	defer l.Close()
	efd, _ := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	t, _ := l.Register(efd, epoll.In, loop.HandlerFunc(func(*loop.Loop, loop.Token, epoll.Events) {}))
	fmt.Println(l.Registered(t))
	l.UnregisterClose(t)
	fmt.Println(l.Registered(t))
	// Output:
	// true
	// false
}

// One Handler for many descriptors: Fd says which one an event is for.
func ExampleLoop_Fd() {
	l, _ := loop.New()
	var toks []loop.Token
	drain := loop.HandlerFunc(func(l *loop.Loop, t loop.Token, ev epoll.Events) {
		var buf [8]byte
		unix.Read(l.Fd(t), buf[:])
		fmt.Println("counted:", binary.NativeEndian.Uint64(buf[:]))
		l.UnregisterClose(t) // the loop closes the descriptor
		if l.Len() == 0 {
			l.Close()
		}
	})
	for _, n := range []uint{1, 2} {
		efd, _ := unix.Eventfd(n, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		t, _ := l.Register(efd, epoll.In, drain)
		toks = append(toks, t)
	}
	l.Run(context.Background())
	fmt.Println(l.Fd(toks[0])) // no longer live
	// Output:
	// counted: 1
	// counted: 2
	// -1
}

// Caps says what a loop's registrations can be; a program that relies on
// level triggering or Exclusive checks it. Both engines have them all.
func ExampleLoop_Caps() {
	l, _ := loop.New(loop.WithEngine(loop.EngineRing))
	defer l.Close()
	fmt.Println(l.Caps())
	fmt.Println("exclusive wake-ups:", l.Caps()&epoll.CapExclusive != 0)
	// Output:
	// LEVEL|EDGE|ONESHOT|EXCLUSIVE
	// exclusive wake-ups: true
}

// Engine reports what a loop runs on: the engine asked for, or EngineEpoll
// where EngineRing cannot run (io_uring off, a kernel before 6.15) or
// WithBusyPoll is given. A program logs it; this example prints only what
// holds everywhere.
func ExampleLoop_Engine() {
	l, _ := loop.New()
	fmt.Println("default:", l.Engine())
	l.Close()

	r, _ := loop.New(loop.WithEngine(loop.EngineRing))
	defer r.Close()
	got := r.Engine()
	fmt.Println("ring asked, ring or epoll runs:", got == loop.EngineRing || got == loop.EngineEpoll)
	// Output:
	// default: epoll
	// ring asked, ring or epoll runs: true
}

func ExampleLoop_Len() {
	l, _ := loop.New()
	defer l.Close()
	h := loop.HandlerFunc(func(*loop.Loop, loop.Token, epoll.Events) {})
	var toks []loop.Token
	for range 2 {
		efd, _ := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		t, _ := l.Register(efd, epoll.In, h)
		toks = append(toks, t)
	}
	fmt.Println(l.Len())
	l.UnregisterClose(toks[0])
	fmt.Println(l.Len())
	l.UnregisterClose(toks[1])
	// Output:
	// 2
	// 1
}

func ExampleLoop_PendingTimers() {
	l, _ := loop.New()
	defer l.Close()
	a := l.AfterFunc(time.Hour, func() {})
	l.AfterFunc(time.Hour, func() {})
	fmt.Println(l.PendingTimers())
	a.Stop()
	fmt.Println(l.PendingTimers())
	// Output:
	// 2
	// 1
}

// A loop pinned to the first CPU this process may run on: its thread has
// that one CPU while Run runs, and its old affinity back afterwards.
func ExampleWithCPU() {
	var allowed unix.CPUSet
	unix.SchedGetaffinity(0, &allowed)
	cpu := 0
	for cpu < 1023 && !allowed.IsSet(cpu) { // a CPUSet holds 1024
		cpu++
	}
	l, _ := loop.New(loop.WithCPU(cpu))
	l.Post(func() {
		var set unix.CPUSet
		unix.SchedGetaffinity(0, &set) // the calling thread: the loop's
		fmt.Println("pinned:", set.Count() == 1 && set.IsSet(cpu))
		l.Close()
	})
	l.Run(context.Background())
	// Output: pinned: true
}

// The loop's thread has DefaultTimerSlack while Run runs, or the slack
// WithTimerSlack gives.
func ExampleWithTimerSlack() {
	for _, opts := range [][]loop.Option{nil, {loop.WithTimerSlack(20 * time.Microsecond)}} {
		l, _ := loop.New(opts...)
		l.Post(func() {
			ns, _ := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
			fmt.Println("timer slack:", time.Duration(ns))
			l.Close()
		})
		l.Run(context.Background())
	}
	// Output:
	// timer slack: 1µs
	// timer slack: 20µs
}

// A loop whose waits spin up to 50 us over its sockets' NAPI contexts
// before sleeping. Busy polling is epoll_wait's, so the loop runs
// EngineEpoll even when EngineRing is asked for. New refuses parameters
// the kernel would not take: usecs above INT_MAX (EINVAL), a budget above
// 64 without CAP_NET_ADMIN (EPERM); before Linux 6.9, any (ErrUnsupported).
func ExampleWithBusyPoll() {
	l, err := loop.New(loop.WithEngine(loop.EngineRing), loop.WithBusyPoll(epoll.BusyPollParams{Usecs: 50, Budget: 8}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	fmt.Println("engine:", l.Engine())
	_, err = loop.New(loop.WithBusyPoll(epoll.BusyPollParams{Usecs: math.MaxInt32 + 1}))
	fmt.Println("usecs above INT_MAX refused:", errors.Is(err, unix.EINVAL))
	// Output:
	// engine: epoll
	// usecs above INT_MAX refused: true
}

// With a buffer of one event each wait collects one: the functions a
// handler posts, which run once the iteration's events are handed out, run
// before the next event's handler. With the default buffer the three
// events would come in one iteration.
func ExampleWithEventBuffer() {
	l, _ := loop.New(loop.WithEventBuffer(1))
	n := 0
	h := loop.HandlerFunc(func(l *loop.Loop, t loop.Token, ev epoll.Events) {
		n++
		fmt.Println("event", n)
		l.UnregisterClose(t)
		l.Post(func() { fmt.Println("end of iteration") })
		if n == 3 {
			l.Post(func() { l.Close() })
		}
	})
	for range 3 {
		efd, _ := unix.Eventfd(1, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC) // readable at once
		l.Register(efd, epoll.In, h)
	}
	l.Run(context.Background())
	// Output:
	// event 1
	// end of iteration
	// event 2
	// end of iteration
	// event 3
	// end of iteration
}

// A ring sized for two registrations refuses a third with ENOSPC; where the
// loop runs on epoll (io_uring off) there is no such bound.
func ExampleWithRingCapacity() {
	l, _ := loop.New(loop.WithEngine(loop.EngineRing), loop.WithRingCapacity(2))
	h := loop.HandlerFunc(func(*loop.Loop, loop.Token, epoll.Events) {})
	var err error
	var fds []int
	for range 3 {
		efd, _ := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		fds = append(fds, efd)
		_, err = l.Register(efd, epoll.In, h)
	}
	fmt.Println("third refused exactly on the ring:", errors.Is(err, unix.ENOSPC) == (l.Engine() == loop.EngineRing))
	l.Close()
	for _, fd := range fds {
		unix.Close(fd)
	}
	// Output: third refused exactly on the ring: true
}

// A fault handler that counts on the loop going on: the panicking
// registration is gone, the loop is not.
func ExampleWithFaultHandler() {
	var l *loop.Loop
	l, _ = loop.New(loop.WithFaultHandler(func(t loop.Token, err error) {
		var pe *loop.PanicError
		if errors.As(err, &pe) {
			fmt.Println("recovered:", pe.Value)
			fmt.Println("registration removed:", !l.Registered(t))
		}
		l.Close()
	}))
	efd, _ := unix.Eventfd(1, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	defer unix.Close(efd)
	l.Register(efd, epoll.In, loop.HandlerFunc(func(*loop.Loop, loop.Token, epoll.Events) { panic("bad frame") }))
	l.Run(context.Background())
	// Output:
	// recovered: bad frame
	// registration removed: true
}

// A posted function or a timer that panics reaches the fault handler with
// the zero Token.
func ExamplePanicError() {
	var l *loop.Loop
	l, _ = loop.New(loop.WithFaultHandler(func(t loop.Token, err error) {
		fmt.Println(err)
		if pe, ok := err.(*loop.PanicError); ok {
			fmt.Println("token:", pe.Token, "stack:", len(pe.Stack) > 0)
		}
		l.Close()
	}))
	l.Post(func() { panic("posted") })
	l.Run(context.Background())
	// Output:
	// loop: handler panicked: posted
	// token: 0 stack: true
}
