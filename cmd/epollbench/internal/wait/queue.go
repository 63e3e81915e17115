package wait

import (
	"context"
	"fmt"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/ring"
)

// queue is where a worker waits: an epoll instance (its Wait, or
// WaitContext) or a ring.
type queue struct {
	// ctl is the *epoll.Instance or *ring.Ring the fds are registered in.
	ctl interface {
		Add(fd int, ev epoll.Events, data uint64) error
		Modify(fd int, ev epoll.Events, data uint64) error
		Close() error
	}
	// wait waits for events, blocking or (nonblock) not at all.
	wait func(evs []epoll.Event, nonblock bool) (int, error)
	ring *ring.Ring // a ring engine's, for its counters; nil otherwise
}

// isRing reports whether engine reads events from package ring.
func isRing(engine string) bool { return engine == "ring" || engine == "ring-epoll" }

func newQueue(engine string, items int) (queue, error) {
	switch engine {
	case "epoll", "ctx":
		ep, err := epoll.New()
		if err != nil {
			return queue{}, err
		}
		if engine == "ctx" {
			// The goroutine parks in the Go runtime's poller instead of
			// blocking its thread in epoll_wait.
			return queue{ctl: ep, wait: func(evs []epoll.Event, _ bool) (int, error) {
				return ep.WaitContext(context.Background(), evs)
			}}, nil
		}
		return queue{ctl: ep, wait: func(evs []epoll.Event, nonblock bool) (int, error) {
			return ep.Wait(evs, timeout(nonblock))
		}}, nil
	case "ring", "ring-epoll":
		var opts []ring.Option
		if engine == "ring-epoll" {
			opts = append(opts, ring.WithEngine(ring.EngineEpollWait))
		}
		r, err := ring.New(items, opts...)
		if err != nil {
			return queue{}, fmt.Errorf("ring engine: %w", err)
		}
		return queue{ctl: r, ring: r, wait: func(evs []epoll.Event, nonblock bool) (int, error) {
			if nonblock {
				return r.Poll(evs), nil
			}
			return r.Wait(evs, -1)
		}}, nil
	}
	return queue{}, fmt.Errorf("unknown engine %q", engine)
}

// timeout is a wait's: none, or forever.
func timeout(nonblock bool) time.Duration {
	if nonblock {
		return 0
	}
	return -1
}
