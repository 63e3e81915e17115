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

// The tokens of the registrations: the 64-bit data each event carries.
const (
	tokSocket = iota + 1
	tokTimer
	tokSignal
	tokFile
	tokProcess
)

// sources are what one epoll instance watches beside a socket.
type sources struct {
	sock  int
	timer *source.Timer
	sigs  *source.Signals
	files *source.Watcher
	child *source.Process
}

// report reads, until EAGAIN, the source an event names, and prints what
// it says.
func (s *sources) report(tok uint64) {
	switch tok {
	case tokSocket:
		buf := make([]byte, 64)
		m, _ := unix.Read(s.sock, buf)
		fmt.Printf("socket: %q\n", buf[:m])
	case tokTimer:
		k, _ := s.timer.Expirations()
		fmt.Printf("timer: %d expiration\n", k)
	case tokSignal:
		for {
			sig, err := s.sigs.Read()
			if errors.Is(err, unix.EAGAIN) {
				break
			}
			fmt.Printf("signal: %v\n", sig)
		}
	case tokFile:
		got, _ := s.files.Read(nil)
		for _, e := range got {
			fmt.Printf("file: %v %s\n", e.Op, e.Name)
		}
	case tokProcess:
		st, _ := s.child.Wait()
		fmt.Printf("process: %v\n", st)
	}
}

// One epoll instance watches a socket, a timer, a signal, a directory and a
// child process, and prints each event as it comes. Each event is caused in
// turn, so the output is deterministic.
func Example() {
	ep, err := epoll.New()
	if err != nil {
		log.Fatal(err)
	}
	defer ep.Close()
	var s sources

	// A socket: one end of a Unix socket pair.
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		log.Fatal(err)
	}
	defer unix.Close(sp[0])
	defer unix.Close(sp[1])
	s.sock = sp[0]
	ep.Add(s.sock, epoll.In, tokSocket)

	s.timer, _ = source.NewTimer(source.Monotonic)
	defer s.timer.Close()
	ep.Add(s.timer.Fd(), epoll.In, tokTimer)

	s.sigs, _ = source.NewSignals(syscall.SIGUSR1)
	defer s.sigs.Close()
	ep.Add(s.sigs.Fd(), epoll.In, tokSignal)

	dir, _ := os.MkdirTemp("", "source-example")
	defer os.RemoveAll(dir)
	s.files, _ = source.NewWatcher()
	defer s.files.Close()
	s.files.Add(dir, source.WatchCloseWrite)
	ep.Add(s.files.Fd(), epoll.In, tokFile)

	// next waits for one event and prints what its source says.
	evs := make([]epoll.Event, 8)
	next := func() {
		n, err := ep.Wait(evs, 10*time.Second)
		if err != nil || n == 0 {
			log.Fatal("no event: ", err)
		}
		for _, ev := range evs[:n] {
			s.report(ev.Data())
		}
	}

	unix.Write(sp[1], []byte("ping"))
	next()

	s.timer.Arm(time.Millisecond, 0)
	next()

	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	next()

	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hi"), 0o644)
	next()

	s.child, err = source.StartProcess("sh", []string{"sh", "-c", "exit 3"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.child.Close()
	ep.Add(s.child.Fd(), epoll.In, tokProcess)
	next()
	ep.Delete(s.child.Fd())

	// Output:
	// socket: "ping"
	// timer: 1 expiration
	// signal: user defined signal 1
	// file: CLOSE_WRITE notes.txt
	// process: exit status 3
}
