package source_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/source"
	"golang.org/x/sys/unix"
)

// One epoll instance watches a socket, a timer, a signal, a directory and a
// child process, and prints each event as it comes. Each event is caused in
// turn, so the output is deterministic.
func Example() {
	ep, err := epoll.New()
	if err != nil {
		log.Fatal(err)
	}
	defer ep.Close()

	const (
		tokSocket = iota + 1
		tokTimer
		tokSignal
		tokFile
		tokProcess
	)

	// A socket: one end of a Unix socket pair.
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		log.Fatal(err)
	}
	defer unix.Close(sp[0])
	defer unix.Close(sp[1])
	ep.Add(sp[0], epoll.In, tokSocket)

	timer, _ := source.NewTimer(source.Monotonic)
	defer timer.Close()
	ep.Add(timer.Fd(), epoll.In, tokTimer)

	sigs, _ := source.NewSignals(syscall.SIGUSR1)
	defer sigs.Close()
	ep.Add(sigs.Fd(), epoll.In, tokSignal)

	dir, _ := os.MkdirTemp("", "source-example")
	defer os.RemoveAll(dir)
	files, _ := source.NewWatcher()
	defer files.Close()
	files.Add(dir, source.WatchCloseWrite)
	ep.Add(files.Fd(), epoll.In, tokFile)

	// next waits for one event and prints what its source says.
	evs := make([]epoll.Event, 8)
	var procs []*source.Process
	next := func() {
		n, err := ep.Wait(evs, 10*time.Second)
		if err != nil || n == 0 {
			log.Fatal("no event: ", err)
		}
		for _, ev := range evs[:n] {
			switch ev.Data() {
			case tokSocket:
				buf := make([]byte, 64)
				m, _ := unix.Read(sp[0], buf)
				fmt.Printf("socket: %q\n", buf[:m])
			case tokTimer:
				k, _ := timer.Expirations()
				fmt.Printf("timer: %d expiration\n", k)
			case tokSignal:
				for {
					s, err := sigs.Read()
					if errors.Is(err, unix.EAGAIN) {
						break
					}
					fmt.Printf("signal: %v\n", s)
				}
			case tokFile:
				got, _ := files.Read(nil)
				for _, e := range got {
					fmt.Printf("file: %v %s\n", e.Op, e.Name)
				}
			case tokProcess:
				st, _ := procs[0].Wait()
				fmt.Printf("process: %v\n", st)
				ep.Delete(procs[0].Fd())
			}
		}
	}

	unix.Write(sp[1], []byte("ping"))
	next()

	timer.Arm(time.Millisecond, 0)
	next()

	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	next()

	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hi"), 0o644)
	next()

	child, err := source.StartProcess("sh", []string{"sh", "-c", "exit 3"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer child.Close()
	procs = append(procs, child)
	ep.Add(child.Fd(), epoll.In, tokProcess)
	next()

	// Output:
	// socket: "ping"
	// timer: 1 expiration
	// signal: user defined signal 1
	// file: CLOSE_WRITE notes.txt
	// process: exit status 3
}

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
