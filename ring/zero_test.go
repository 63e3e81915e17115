package ring

import (
	"errors"
	"testing"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/errs"
	"github.com/eventpoll/eventpoll/internal/fdtest"
)

// A Ring New did not make is closed to every call: each returns an error
// matching ErrClosed (and errs.ErrNotCreated), Poll returns 0, Close does
// not panic, and no call reaches a descriptor (fd 0 least of all, which
// the zero value's numbers would name).
func TestZeroRingIsClosedToEveryCall(t *testing.T) {
	fdtest.Check(t)
	var r Ring
	evs := make([]epoll.Event, 4)
	efd := fdtest.Eventfd(t)
	for name, err := range map[string]error{
		"Add":      r.Add(efd, epoll.In, 1),
		"Add(0)":   r.Add(0, epoll.In, 1),
		"Modify":   r.Modify(efd, epoll.In, 1),
		"Delete":   r.Delete(0),
		"Wait":     func() error { _, err := r.Wait(evs, 0); return err }(),
		"Wait(-1)": func() error { _, err := r.Wait(evs, -1); return err }(),
		"BatchAll": func() error {
			_, err := r.BatchAll([]epoll.Cmd{{Op: epoll.OpAdd, Fd: efd, Events: epoll.In}})
			return err
		}(),
		"Close": r.Close(),
	} {
		if !errors.Is(err, ErrClosed) || !errors.Is(err, errs.ErrNotCreated) {
			t.Errorf("%s on a zero Ring = %v, want ErrClosed (not created)", name, err)
		}
	}
	if n := r.Poll(evs); n != 0 {
		t.Errorf("Poll on a zero Ring = %d", n)
	}
	if r.Len() != 0 || r.Stats() != (Stats{}) {
		t.Errorf("zero Ring: Len %d, Stats %+v", r.Len(), r.Stats())
	}
}
