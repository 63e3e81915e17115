package main

import (
	"errors"
	"fmt"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/ring"
)

// The ring: readiness read from an io_uring completion queue shared with the
// kernel (the 2019 proposal of seed 002), so a pass that finds the token's
// event already in the ring makes no system call to wait. Registrations are
// edge-triggered; pass drains the pipe, as the rule requires.
func init() {
	pipetestMechs = append(pipetestMechs, pipetestMech{"ring", openPipetestRing})
}

type pipetestRingWait struct {
	pr  *pipetestRing
	r   *ring.Ring
	evs []epoll.Event
}

func openPipetestRing(pr *pipetestRing) (pipetestStepper, error) {
	r, err := ring.New(len(pr.r))
	if errors.Is(err, errors.ErrUnsupported) {
		return nil, fmt.Errorf("%w: %v", errPipetestSkip, err)
	}
	if err != nil {
		return nil, err
	}
	for i, fd := range pr.r {
		if err := r.Add(fd, epoll.In|epoll.Edge, uint64(i)); err != nil {
			r.Close()
			return nil, err
		}
	}
	return &pipetestRingWait{pr: pr, r: r, evs: make([]epoll.Event, 64)}, nil
}

func (w *pipetestRingWait) step() (int, error) {
	k, err := w.r.Wait(w.evs, -1)
	if err != nil {
		return 0, err
	}
	passed := 0
	for _, ev := range w.evs[:k] {
		ok, err := w.pr.pass(int(ev.Data()))
		if err != nil {
			return passed, err
		}
		if ok {
			passed++
		}
	}
	return passed, nil
}

func (w *pipetestRingWait) close() { w.r.Close() }
