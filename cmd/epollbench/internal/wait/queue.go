package wait

import (
	"context"
	"fmt"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/ring"
)

// queue is where a worker waits: an epoll instance (Wait or WaitContext)
// or a ring.
type queue interface {
	add(fd int, ev epoll.Events, data uint64) error
	modify(fd int, ev epoll.Events, data uint64) error
	wait(evs []epoll.Event, nonblock bool) (int, error)
	close() error
}

type epollQueue struct{ ep *epoll.Instance }

func (q epollQueue) add(fd int, ev epoll.Events, d uint64) error    { return q.ep.Add(fd, ev, d) }
func (q epollQueue) modify(fd int, ev epoll.Events, d uint64) error { return q.ep.Modify(fd, ev, d) }
func (q epollQueue) close() error                                   { return q.ep.Close() }
func (q epollQueue) wait(evs []epoll.Event, nonblock bool) (int, error) {
	if nonblock {
		return q.ep.Wait(evs, 0)
	}
	return q.ep.Wait(evs, -1)
}

// ctxQueue waits with WaitContext: the goroutine parks in the Go runtime's
// poller instead of blocking its thread in epoll_wait.
type ctxQueue struct{ epollQueue }

func (q ctxQueue) wait(evs []epoll.Event, _ bool) (int, error) {
	return q.ep.WaitContext(context.Background(), evs)
}

type ringQueue struct{ r *ring.Ring }

func (q ringQueue) add(fd int, ev epoll.Events, d uint64) error    { return q.r.Add(fd, ev, d) }
func (q ringQueue) modify(fd int, ev epoll.Events, d uint64) error { return q.r.Modify(fd, ev, d) }
func (q ringQueue) close() error                                   { return q.r.Close() }
func (q ringQueue) wait(evs []epoll.Event, nonblock bool) (int, error) {
	if nonblock {
		return q.r.Poll(evs), nil
	}
	return q.r.Wait(evs, -1)
}

// isRing reports whether engine reads events from package ring.
func isRing(engine string) bool { return engine == "ring" || engine == "ring-epoll" }

func newQueue(engine string, items int) (queue, error) {
	switch engine {
	case "epoll", "ctx":
		ep, err := epoll.New()
		if err != nil {
			return nil, err
		}
		if engine == "ctx" {
			return ctxQueue{epollQueue{ep}}, nil
		}
		return epollQueue{ep}, nil
	case "ring", "ring-epoll":
		var opts []ring.Option
		if engine == "ring-epoll" {
			opts = append(opts, ring.WithEngine(ring.EngineEpollWait))
		}
		r, err := ring.New(items, opts...)
		if err != nil {
			return nil, fmt.Errorf("ring engine: %w", err)
		}
		return ringQueue{r}, nil
	}
	return nil, fmt.Errorf("unknown engine %q", engine)
}
