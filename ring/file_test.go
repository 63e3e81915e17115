package ring

import (
	"testing"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// forQuery runs f with each way the ring can compare two descriptors
// forced, restoring the probed one afterwards.
func forQuery(t *testing.T, f func(t *testing.T, mode int32)) {
	for name, mode := range map[string]int32{"F_DUPFD_QUERY": queryDupfd, "kcmp": queryKcmp, "stat": queryStat} {
		t.Run(name, func(t *testing.T) {
			saved := queryMode.Load()
			t.Cleanup(func() { queryMode.Store(saved) })
			queryMode.Store(mode)
			fd := fdtest.Eventfd(t)
			if _, known, err := queryFile(fd, fd); mode != queryStat && (!known || err != nil || queryMode.Load() != mode) {
				t.Skipf("this kernel does not offer it (%v)", err)
			}
			f(t, mode)
		})
	}
}

// Each way of asking which file a number names gives epoll_ctl's answers:
// the registered file, another file (ENOENT), no file (EBADF). Without a
// query the ring falls back to the device and inode, which cannot tell one
// eventfd from another (they share an inode). Sockets and pipes, known by
// their inode, need no query and no duplicate.
func TestSameFileAnswersAsEpollCtlWithEveryQuery(t *testing.T) {
	fdtest.Check(t)
	forQuery(t, func(t *testing.T, mode int32) {
		a, b := fdtest.Eventfd(t), fdtest.Eventfd(t)
		id, err := inspect(a)
		if err != nil {
			t.Fatal(err)
		}
		defer id.release()
		if !id.hasOwn {
			t.Fatal("no duplicate kept of an eventfd")
		}
		if err := sameFile(a, &id); err != nil {
			t.Errorf("the registered eventfd: %v", err)
		}
		if err := sameFile(b, &id); mode != queryStat && err != unix.ENOENT || mode == queryStat && err != nil {
			t.Errorf("another eventfd: %v", err)
		}
		if err := sameFile(1000, &id); err != unix.EBADF {
			t.Errorf("a closed number: %v, want EBADF", err)
		}
		s1, _ := socketpair(t)
		s2, _ := socketpair(t)
		sid, err := inspect(s1)
		if err != nil || sid.hasOwn {
			t.Fatalf("socket: %+v, %v; want no duplicate", sid, err)
		}
		if sameFile(s1, &sid) != nil || sameFile(s2, &sid) != unix.ENOENT {
			t.Errorf("sockets: same %v, other %v", sameFile(s1, &sid), sameFile(s2, &sid))
		}
		p1, _ := fdtest.Pipe(t)
		p2, _ := fdtest.Pipe(t)
		pid, err := inspect(p1)
		if err != nil || pid.hasOwn {
			t.Fatalf("pipe: %+v, %v; want no duplicate", pid, err)
		}
		if sameFile(p1, &pid) != nil || sameFile(p2, &pid) != unix.ENOENT {
			t.Errorf("pipes: same %v, other %v", sameFile(p1, &pid), sameFile(p2, &pid))
		}
	})
}
