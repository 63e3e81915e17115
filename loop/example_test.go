package loop_test

import (
	"context"
	"fmt"
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
