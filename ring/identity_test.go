package ring

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// replace closes the file at number fd and puts a new eventfd there, as a
// program does that closes a registered descriptor without Delete and
// opens another file that gets its number.
func replace(t *testing.T, fd int) {
	t.Helper()
	nfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(nfd)
	if err := unix.Dup3(nfd, fd, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
}

// collect waits until quiet passes without an event and returns them all.
func collect(t *testing.T, r *Ring) []epoll.Event {
	t.Helper()
	var got []epoll.Event
	evs := make([]epoll.Event, 64)
	for {
		k, err := r.Wait(evs, quiet)
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			return got
		}
		got = append(got, evs[:k]...)
	}
}

// socketpair returns the two ends of a non-blocking Unix stream socket
// pair, closed when the test ends unless closed before.
func socketpair(t *testing.T) (a, b int) {
	t.Helper()
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return p[0], p[1]
}

// endRequest registers fds (data 100+i) and target (data 1) on a ring whose
// CQ holds 4 completions, fills the CQ with the others' completions and
// then makes target ready by poke: the kernel cannot post, and ends
// target's multishot request.
func endRequest(t *testing.T, fillers []int, target int, poke func()) *Ring {
	t.Helper()
	r := newTestRing(t, len(fillers)+1, WithCQEntries(4))
	for i, fd := range fillers {
		if err := r.Add(fd, epoll.In|epoll.Edge, uint64(100+i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Add(target, epoll.In|epoll.Edge, 1); err != nil {
		t.Fatal(err)
	}
	for _, fd := range fillers {
		fdtest.Signal(t, fd)
	}
	time.Sleep(quiet)
	poke()
	time.Sleep(quiet)
	return r
}

func eventfds(t *testing.T, n int) []int {
	fds := make([]int, n)
	for i := range fds {
		fds[i] = fdtest.Eventfd(t)
	}
	return fds
}

// The kernel ends a multishot request when the CQ is full, and the ring
// re-arms it. A request is armed on a number: if the program closed the
// descriptor and another file took its number, a re-arm by number would
// watch that file and report its readiness with the old data. An eventfd
// (any file but a socket) is re-armed on the ring's own duplicate: the
// registration keeps watching the file registered, which the ring keeps
// open until Delete.
func TestRearmNeverWatchesANewFileUnderTheOldNumber(t *testing.T) {
	target := fdtest.Eventfd(t)
	old, err := unix.Dup(target) // the test's own handle on the first file
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(old)
	r := endRequest(t, eventfds(t, 16), target, func() { fdtest.Signal(t, target) })
	replace(t, target)
	collect(t, r)
	fdtest.Signal(t, target) // the new file under the old number
	for _, ev := range collect(t, r) {
		if ev.Data() == 1 {
			t.Fatalf("the new file under the old number reported %v with the old registration's data", ev.Events)
		}
	}
	st := r.Stats()
	if st.Rearmed == 0 {
		t.Fatalf("no request was ended and re-armed (stats %+v)", st)
	}
	fdtest.Drain(old)
	fdtest.Signal(t, old) // the registered file still reports
	if got := collect(t, r); len(got) != 1 || got[0].Data() != 1 {
		t.Fatalf("the registered file after the re-arm: %v, want one event with data 1", got)
	}
	if err := r.Modify(target, epoll.In|epoll.Edge, 1); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("Modify of the reused number = %v, want ENOENT", err)
	}
}

// A socket the ring holds no duplicate of: when its ended request is due
// for re-arming and its number was closed and reused, the ring re-arms
// nothing and reports the registration lost, once, with Err.
func TestRearmOfAClosedSocketReportsItLost(t *testing.T) {
	target, peer := socketpair(t)
	r := endRequest(t, eventfds(t, 16), target, func() { unix.Write(peer, []byte("x")) })
	replace(t, target)
	var lostErr bool
	for _, ev := range collect(t, r) {
		if ev.Data() == 1 && ev.Events&epoll.Err != 0 {
			lostErr = true
		}
	}
	if st := r.Stats(); st.Lost != 1 || !lostErr {
		t.Fatalf("the ended request of the replaced socket: Lost = %d, Err reported %v; want 1, true (stats %+v)", st.Lost, lostErr, st)
	}
	fdtest.Signal(t, target) // the eventfd now under the socket's number
	for _, ev := range collect(t, r) {
		if ev.Data() == 1 {
			t.Fatalf("the new file under the old number reported %v with the old registration's data", ev.Events)
		}
	}
	if err := r.Delete(target); !errors.Is(err, unix.ENOENT) || r.Len() != 16 {
		t.Fatalf("Delete of the reused number = %v, Len %d; want ENOENT, 16", err, r.Len())
	}
}

// A number closed and reused without Delete names a file that is not
// registered: Modify and Delete answer ENOENT on both engines, as
// epoll_ctl does, and drop the old registration; Add registers the new
// file; no event ever carries the old data. The ring tells the files apart
// by open file for an eventfd (which shares its inode with every other
// eventfd) and by inode for a socket.
func TestModifyAndDeleteOfAReusedNumberAnswerENOENT(t *testing.T) {
	kinds := map[string]func(t *testing.T) int{
		"eventfd": func(t *testing.T) int { return fdtest.Eventfd(t) },
		"socket":  func(t *testing.T) int { fd, _ := socketpair(t); return fd },
	}
	forEngine(t, func(t *testing.T, e Engine) {
		for kind, open := range kinds {
			for _, call := range []string{"Modify", "Delete", "Add"} {
				t.Run(kind+"/"+call, func(t *testing.T) {
					r := newTestRing(t, 4, WithEngine(e))
					fd := open(t)
					if err := r.Add(fd, epoll.In|epoll.Edge, 1); err != nil {
						t.Fatal(err)
					}
					replace(t, fd)
					var err error
					switch call {
					case "Modify":
						err = r.Modify(fd, epoll.In|epoll.Edge, 2)
					case "Delete":
						err = r.Delete(fd)
					case "Add":
						err = r.Add(fd, epoll.In|epoll.Edge, 2)
					}
					if call == "Add" && err != nil || call != "Add" && !errors.Is(err, unix.ENOENT) {
						t.Fatalf("%s of the reused number = %v", call, err)
					}
					if want := map[bool]int{true: 1, false: 0}[call == "Add"]; r.Len() != want {
						t.Fatalf("Len = %d after %s, want %d", r.Len(), call, want)
					}
					fdtest.Signal(t, fd)
					for _, ev := range collect(t, r) {
						if ev.Data() != 2 {
							t.Errorf("event %v with data %d after %s", ev.Events, ev.Data(), call)
						}
					}
				})
			}
		}
	})
}

// Modify and Delete of a registered number that was closed answer EBADF on
// both engines, as epoll_ctl does, and remove the registration.
func TestModifyAndDeleteOfAClosedNumberAnswerEBADF(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		r := newTestRing(t, 4, WithEngine(e))
		for _, call := range []string{"Modify", "Delete"} {
			fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Add(fd, epoll.In, 1); err != nil {
				t.Fatal(err)
			}
			unix.Close(fd)
			if call == "Modify" {
				err = r.Modify(fd, epoll.In, 2)
			} else {
				err = r.Delete(fd)
			}
			if !errors.Is(err, unix.EBADF) || r.Len() != 0 {
				t.Errorf("%s of a closed number = %v, Len %d; want EBADF, 0", call, err, r.Len())
			}
		}
	})
}

// An O_PATH descriptor cannot be polled: epoll_ctl refuses it with EBADF,
// and so does Add on either engine, rather than registering it and
// reporting an error event later.
func TestAddRefusesAnOPathDescriptorWithEBADF(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	forEngine(t, func(t *testing.T, e Engine) {
		r := newTestRing(t, 4, WithEngine(e))
		fd, err := unix.Open(fifo, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		if err := r.Add(fd, epoll.In, 1); !errors.Is(err, unix.EBADF) {
			t.Fatalf("Add of an O_PATH descriptor = %v, want EBADF", err)
		}
		if got := collect(t, r); len(got) != 0 || r.Len() != 0 {
			t.Fatalf("refused Add left Len %d and reported %v", r.Len(), got)
		}
	})
}

// Numbers no descriptor can have are refused with EBADF before any system
// call: 1<<32|fd must not be cut to fd.
func TestFdsOutsideTheInt32RangeAreRefusedWithEBADF(t *testing.T) {
	forEngine(t, func(t *testing.T, e Engine) {
		r := newTestRing(t, 4, WithEngine(e))
		fd := fdtest.Eventfd(t)
		for _, bad := range []int{1<<32 | fd, -1, -1 << 40, 1 << 31} {
			for name, err := range map[string]error{
				"Add":    r.Add(bad, epoll.In, 1),
				"Modify": r.Modify(bad, epoll.In, 1),
				"Delete": r.Delete(bad),
			} {
				if !errors.Is(err, unix.EBADF) {
					t.Errorf("%s(%d) = %v, want EBADF", name, bad, err)
				}
			}
			cmds := []epoll.Cmd{{Op: epoll.OpAdd, Fd: fd, Events: epoll.In}, {Op: epoll.OpAdd, Fd: bad, Events: epoll.In}}
			n, err := r.BatchAll(cmds)
			var be *epoll.BatchError
			if n != 0 || !errors.Is(err, unix.EBADF) || errors.As(err, &be) || cmds[0].Result != nil {
				t.Errorf("BatchAll with fd %d = %d, %v; want 0 and an argument error, nothing processed", bad, n, err)
			}
		}
		if r.Len() != 0 {
			t.Fatalf("refused calls registered %d descriptors", r.Len())
		}
	})
}
