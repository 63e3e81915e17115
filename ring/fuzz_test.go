package ring

import (
	"errors"
	"testing"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// FuzzAddModifyArguments feeds arbitrary descriptors and event masks to
// Add, Modify and Delete: each must succeed or fail with an error naming
// the call, never panic or hang, and leave Len consistent.
func FuzzAddModifyArguments(f *testing.F) {
	f.Add(int64(0), uint32(epoll.In|epoll.Edge), uint32(epoll.Out), uint8(0))
	f.Add(int64(-1), uint32(0), uint32(0), uint8(1))
	f.Add(int64(1<<40), uint32(epoll.Exclusive), uint32(1<<20), uint8(2))
	f.Add(int64(0), uint32(epoll.OneShot|epoll.In), uint32(epoll.In|epoll.OneShot), uint8(3))
	f.Fuzz(func(t *testing.T, fdSel int64, ev, ev2 uint32, flags uint8) {
		r := newTestRing(t, 2, WithEngine(engines[flags&1]))
		efd := fdtest.Eventfd(t)
		fd := int(fdSel)
		if fdSel >= 0 && fdSel < 1<<31 {
			fd = efd // only our own descriptor is safe to watch
		}
		err := r.Add(fd, epoll.Events(ev), 1)
		if err != nil {
			if errors.Is(err, unix.EEXIST) || r.Len() != 0 {
				t.Fatalf("failed Add %v left Len %d", err, r.Len())
			}
			return
		}
		if flags&2 != 0 {
			fdtest.Signal(t, efd)
		}
		r.Modify(fd, epoll.Events(ev2), 2)
		r.Poll(make([]epoll.Event, 4))
		if err := r.Delete(fd); err != nil {
			t.Fatalf("Delete after a successful Add: %v", err)
		}
		if r.Len() != 0 {
			t.Fatalf("Len %d after Delete", r.Len())
		}
	})
}
