package pipetest

import (
	"errors"
	"fmt"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/ring"
	"golang.org/x/sys/unix"
)

// stepper is one wait mechanism bound to a ring: step waits once and
// passes every token found ready, returning how many it passed.
type stepper interface {
	step() (int, error)
	close()
}

// mech is a wait mechanism the experiment can measure.
type mech struct {
	name string
	// open binds the mechanism to a ring; it returns errSkip
	// (wrapped, with the reason) when the mechanism cannot handle the ring.
	open func(pr *tokenRing) (stepper, error)
}

var errSkip = errors.New("skipped")

// mechanisms are the mechanisms in the order they are reported.
var mechanisms = []mech{
	{"direct", openDirect},
	{"poll", openPoll},
	{"select", openSelect},
	{"epoll", func(pr *tokenRing) (stepper, error) { return openEpoll(pr, epoll.In|epoll.Edge) }},
	{"epoll-lt", func(pr *tokenRing) (stepper, error) { return openEpoll(pr, epoll.In) }},
	{"ring", openRing},
}

func mechNames() []string {
	var names []string
	for _, m := range mechanisms {
		names = append(names, m.name)
	}
	return names
}

// direct is the baseline without a wait: the thread knows where the token
// is and passes it on, one read and one write. What a mechanism's rate falls
// short of it is what its wait costs; what direct itself loses as N grows is
// the cost of touching N pipes' kernel state in turn (caches), which no wait
// mechanism can avoid.
type direct struct{ pr *tokenRing }

func openDirect(pr *tokenRing) (stepper, error) { return &direct{pr}, nil }

func (d *direct) step() (int, error) {
	ok, err := d.pr.pass(d.pr.at)
	if err != nil || !ok {
		return 0, err
	}
	return 1, nil
}

func (d *direct) close() {}

// poll(2): the whole array goes to the kernel and back on every call, and
// user space scans it to find the one descriptor that is ready.
type pollWait struct {
	pr  *tokenRing
	fds []unix.PollFd
}

func openPoll(pr *tokenRing) (stepper, error) {
	p := &pollWait{pr: pr, fds: make([]unix.PollFd, len(pr.r))}
	for i, fd := range pr.r {
		p.fds[i] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	}
	return p, nil
}

func (p *pollWait) step() (int, error) {
	k, err := unix.Poll(p.fds, -1)
	if err == unix.EINTR {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("poll: %w", err)
	}
	passed := 0
	for i := 0; i < len(p.fds) && k > 0; i++ {
		if p.fds[i].Revents == 0 {
			continue
		}
		k--
		ok, err := p.pr.pass(i)
		if err != nil {
			return passed, err
		}
		if ok {
			passed++
		}
	}
	return passed, nil
}

func (p *pollWait) close() {}

// fdSetSize is FD_SETSIZE, the size of select's bitmap.
const fdSetSize = 1024

// select(2): a bitmap rebuilt on every call, limited to descriptors below
// FD_SETSIZE (1024); the kernel and user space both walk it up to the highest.
type selectWait struct {
	pr  *tokenRing
	all unix.FdSet
	nfd int
	set unix.FdSet
}

func openSelect(pr *tokenRing) (stepper, error) {
	s := &selectWait{pr: pr}
	for _, fd := range pr.r {
		if fd >= fdSetSize {
			return nil, fmt.Errorf("%w: descriptor %d is past FD_SETSIZE %d", errSkip, fd, fdSetSize)
		}
		s.all.Set(fd)
		if fd+1 > s.nfd {
			s.nfd = fd + 1
		}
	}
	return s, nil
}

func (s *selectWait) step() (int, error) {
	s.set = s.all
	k, err := unix.Select(s.nfd, &s.set, nil, nil, nil)
	if err == unix.EINTR {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("select: %w", err)
	}
	passed := 0
	for i := 0; i < len(s.pr.r) && k > 0; i++ {
		if !s.set.IsSet(s.pr.r[i]) {
			continue
		}
		k--
		ok, err := s.pr.pass(i)
		if err != nil {
			return passed, err
		}
		if ok {
			passed++
		}
	}
	return passed, nil
}

func (s *selectWait) close() {}

// epoll: the interest set is registered once; each wait returns the ready
// descriptor only, and its data is the pipe's index. "epoll" is
// edge-triggered, as the only mode of the 2002 epoll was: the read in pass
// drains the pipe (it asks for more than the one byte there is), so no event
// is lost. "epoll-lt" is level-triggered: the kernel re-queues the item after
// reporting it and re-polls the emptied pipe on the next wait, one more
// file poll per pass.
type epollWait struct {
	pr  *tokenRing
	ep  *epoll.Instance
	evs []epoll.Event
}

func openEpoll(pr *tokenRing, ev epoll.Events) (stepper, error) {
	ep, err := epoll.New()
	if err != nil {
		return nil, err
	}
	for i, fd := range pr.r {
		if err := ep.Add(fd, ev, uint64(i)); err != nil {
			ep.Close()
			return nil, addError(i, err)
		}
	}
	return &epollWait{pr: pr, ep: ep, evs: make([]epoll.Event, 64)}, nil
}

// addError explains a failed registration of pipe i. ENOSPC is the
// per-user cap on epoll registrations (/proc/sys/fs/epoll/max_user_watches,
// sized from memory), which a large ring on a small machine can reach: the
// mechanism is then skipped at this N, with the reason, rather than the
// whole experiment failing.
func addError(i int, err error) error {
	if errors.Is(err, unix.ENOSPC) {
		return fmt.Errorf("%w: epoll refused registration %d with ENOSPC: the fs.epoll.max_user_watches limit", errSkip, i+1)
	}
	return fmt.Errorf("pipe %d: %w", i, err)
}

func (e *epollWait) step() (int, error) {
	k, err := e.ep.Wait(e.evs, -1)
	if err != nil {
		return 0, err
	}
	return e.pr.passEvents(e.evs[:k])
}

func (e *epollWait) close() { e.ep.Close() }

// The ring: readiness read from an io_uring completion queue shared with the
// kernel (the 2019 proposal of seed 002), so a pass that finds the token's
// event already in the ring makes no system call to wait. Registrations are
// edge-triggered; pass drains the pipe, as the rule requires.
type ringWait struct {
	pr  *tokenRing
	r   *ring.Ring
	evs []epoll.Event
}

func openRing(pr *tokenRing) (stepper, error) {
	r, err := ring.New(len(pr.r))
	if errors.Is(err, errors.ErrUnsupported) {
		return nil, fmt.Errorf("%w: %v", errSkip, err)
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
	return &ringWait{pr: pr, r: r, evs: make([]epoll.Event, 64)}, nil
}

func (w *ringWait) step() (int, error) {
	k, err := w.r.Wait(w.evs, -1)
	if err != nil {
		return 0, err
	}
	return w.pr.passEvents(w.evs[:k])
}

func (w *ringWait) close() { w.r.Close() }
