package source_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/source"
	"golang.org/x/sys/unix"
)

// A periodic timer read late counts the ticks it missed.
func ExampleTimer_Expirations() {
	t, err := source.NewTimer(source.Monotonic)
	if err != nil {
		log.Fatal(err)
	}
	defer t.Close()
	t.Arm(time.Millisecond, time.Millisecond)
	time.Sleep(10 * time.Millisecond)
	n, _ := t.Expirations()
	fmt.Println(n >= 10)
	t.Stop() // a period may pass before the next read; Stop discards it
	_, err = t.Expirations()
	fmt.Println(errors.Is(err, unix.EAGAIN))
	// Output:
	// true
	// true
}

func ExampleNewTimer() {
	_, err := source.NewTimer(source.Clock(99))
	fmt.Println(err)
	fmt.Println(errors.Is(err, unix.EINVAL))
	// Output:
	// source: timerfd_create: unsupported clock Clock(99) (want Monotonic, Realtime or Boottime) (EINVAL)
	// true
}

// Many Notifies before the reader runs are one event and one Read.
func ExampleNotifier() {
	ep, _ := epoll.New()
	defer ep.Close()
	n, err := source.NewNotifier()
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()
	ep.Add(n.Fd(), epoll.In, 1)
	for i := 0; i < 1000; i++ {
		n.Notify()
	}
	evs := make([]epoll.Event, 4)
	k, _ := ep.Wait(evs, time.Second)
	v, _ := n.Read()
	fmt.Println(k, v)
	// Output: 1 1
}

func ExampleNewSemaphore() {
	s, _ := source.NewSemaphore(0)
	defer s.Close()
	s.Notify()
	s.Notify()
	a, _ := s.Read()
	b, _ := s.Read()
	_, err := s.Read()
	fmt.Println(a, b, errors.Is(err, unix.EAGAIN))
	// Output: 1 1 true
}

func ExampleNewSignals() {
	ep, _ := epoll.New()
	defer ep.Close()
	sigs, err := source.NewSignals(syscall.SIGUSR2)
	if err != nil {
		log.Fatal(err)
	}
	defer sigs.Close() // signal.Stop: default handling again
	ep.Add(sigs.Fd(), epoll.In, 1)
	syscall.Kill(os.Getpid(), syscall.SIGUSR2)
	evs := make([]epoll.Event, 1)
	ep.Wait(evs, 10*time.Second)
	s, _ := sigs.Read()
	fmt.Println(s)
	// Output: user defined signal 2
}

func ExampleWatcher() {
	dir, _ := os.MkdirTemp("", "watch")
	defer os.RemoveAll(dir)
	w, err := source.NewWatcher()
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	w.Add(dir, source.WatchCreate|source.WatchDelete)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	os.Remove(filepath.Join(dir, "sub"))
	evs, _ := w.Read(nil)
	for _, e := range evs {
		fmt.Println(e.Op, e.Name)
	}
	_, err = w.Add(filepath.Join(dir, "missing"), source.WatchModify)
	fmt.Println(errors.Is(err, unix.ENOENT))
	// Output:
	// CREATE|ISDIR sub
	// DELETE|ISDIR sub
	// true
}

func ExampleStartProcess() {
	ep, _ := epoll.New()
	defer ep.Close()
	p, err := source.StartProcess("sh", []string{"sh", "-c", "exit 3"}, nil)
	if err != nil {
		log.Fatal(err) // errors.Is(err, source.ErrUnsupported) before Linux 5.3
	}
	defer p.Close()
	ep.Add(p.Fd(), epoll.In, 1)
	evs := make([]epoll.Event, 1)
	ep.Wait(evs, 10*time.Second)
	st, _ := p.Wait()
	fmt.Println(st.Code, st)
	// Output: 3 exit status 3
}

func ExampleOpenProcess() {
	_, err := source.OpenProcess(0x3fffff0)
	fmt.Println(errors.Is(err, unix.ESRCH)) // no process has this pid (above any pid_max)
	// Output: true
}

// The wake-up of an event loop: another goroutine puts work on the loop's
// queue and calls Notify; the loop, which waits on its own epoll instance
// with the Notifier registered in it, calls Read and then runs everything
// queued. However many posts come between two waits, they cost one wake-up.
func ExampleNotifier_wakeLoop() {
	ep, err := epoll.New()
	if err != nil {
		log.Fatal(err)
	}
	defer ep.Close()
	wake, err := source.NewNotifier()
	if err != nil {
		log.Fatal(err)
	}
	defer wake.Close()
	ep.Add(wake.Fd(), epoll.In, 0)

	var (
		mu    sync.Mutex
		queue []func()
	)
	post := func(f func()) { // from any goroutine
		mu.Lock()
		queue = append(queue, f)
		mu.Unlock()
		wake.Notify() // after the enqueue: the loop's Read comes before its dequeue
	}

	done := false // touched by the loop's goroutine only: jobs run there
	go func() {
		for i := 1; i <= 3; i++ {
			post(func() { fmt.Println("job", i) })
		}
		post(func() { done = true })
	}()

	evs := make([]epoll.Event, 8)
	for !done {
		n, err := ep.Wait(evs, 10*time.Second)
		if err != nil || n == 0 {
			log.Fatal("no wake-up: ", err)
		}
		wake.Read() // first: a Notify after it writes again
		mu.Lock()
		jobs := queue
		queue = nil
		mu.Unlock()
		for _, job := range jobs {
			job()
		}
	}
	// Output:
	// job 1
	// job 2
	// job 3
}
