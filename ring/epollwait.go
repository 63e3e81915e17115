package ring

import (
	"errors"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/token"
	"golang.org/x/sys/unix"
)

// epollWait is EngineEpollWait's state: the batch the kernel writes ready
// events into (outside the Go heap, in the ring's scratch mapping) when the
// EPOLL_WAIT request completes, and what it takes to recognise a
// registration Delete could not remove.
//
// The kernel's trap: an epoll registration belongs to the open file, and
// EPOLL_CTL_DEL finds it by file and number. Once the number is closed
// while a duplicate keeps the file open, DEL answers EBADF (or ENOENT once
// the number is reused) and the registration lives on, reporting with the
// tag of a slot the ring has freed. The ring drops those events as stale,
// but a level-triggered one comes back in every batch, and Wait would spin.
// So every change of a slot is stamped with a counter, and so is each
// EPOLL_WAIT request as it is armed: a stale event in a batch armed after
// its slot's last change cannot be left over from before the change, and
// only such a lost registration can have sent it. The ring then rebuilds
// the epoll instance from its live registrations, and the lost one is
// gone with the old instance.
type epollWait struct {
	buf      []unix.EpollEvent
	pos, n   int
	inFlight bool

	ctl      uint64   // counts changes of slots
	epochs   []uint64 // per slot index: ctl at its last change
	armEpoch uint64   // ctl when the request in flight was armed
	batch    uint64   // ctl when the batch being read was armed
	orphan   bool     // a lost registration reported: rebuild before the next request
}

func (e *epollWait) init(buf []unix.EpollEvent, maxItems int) {
	e.buf = buf
	e.epochs = make([]uint64, maxItems)
}

// changed stamps a change of tok's slot. It does nothing with
// EngineMultishot, whose epoll instance is never waited on.
func (e *epollWait) changed(tok token.Token) {
	if e.epochs == nil {
		return
	}
	e.ctl++
	e.epochs[tok.Index()] = e.ctl
}

// pollEpoll fills evs from EngineEpollWait's batch buffer, taking the next
// batch from the completion queue and submitting the next epoll_wait
// request as each batch is used up.
func (r *Ring) pollEpoll(evs []epoll.Event, n int) (int, error) {
	if r.u.SQSpace() != r.u.SQEntries() {
		// An earlier submission failed and left requests queued; a sleeping
		// Wait submits nothing, so hand them over now.
		if _, err := r.submit(); err != nil {
			return n, err
		}
	}
	e := &r.ew
	submitted := false
	for n < len(evs) {
		if e.pos < e.n {
			n = r.batchEvent(&e.buf[e.pos], evs, n)
			e.pos++
			continue
		}
		if e.inFlight {
			k, err := r.u.Reap(r.cqes[:1])
			if k == 0 {
				return n, err
			}
			if c := r.cqes[0]; c.UserData == tagEpollWait {
				// The kernel has written c.Res events into the buffer; an
				// error (EINTR, say) just means try again.
				e.inFlight = false
				e.pos, e.n, e.batch = 0, max(int(c.Res), 0), e.armEpoch
			}
			continue
		}
		if submitted {
			break
		}
		if err := r.armEpollWait(); err != nil {
			return n, err
		}
		submitted = true
	}
	// A request must be in flight whenever the batch is used up, or a Wait
	// that sleeps next would have nothing to wake it (a request that
	// completed with no events, say).
	if !e.inFlight && e.pos >= e.n {
		return n, r.armEpollWait()
	}
	return n, nil
}

// batchEvent turns one event of the batch into an event in evs[n], or
// drops it, and returns the new count.
func (r *Ring) batchEvent(ev *unix.EpollEvent, evs []epoll.Event, n int) int {
	tok := token.Token(uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32)
	s := r.regs.Get(tok)
	if s == nil || s.dead {
		r.stats.Stale++
		if i := tok.Index(); int(i) < len(r.ew.epochs) && r.ew.batch >= r.ew.epochs[i] {
			r.ew.orphan = true
		}
		return n
	}
	if s.events&epoll.OneShot != 0 {
		// After a rebuild a fired OneShot registration is armed again in
		// the new instance; its first report is not the user's to see.
		if s.fired {
			r.stats.Stale++
			return n
		}
		s.fired = true
	}
	if got := epoll.Events(ev.Events) & pollBits; got != 0 {
		n = r.emit(s, got, evs, n)
	}
	return n
}

// armEpollWait submits the EPOLL_WAIT request that fills the batch buffer,
// rebuilding the epoll instance first when a lost registration reported.
func (r *Ring) armEpollWait() error {
	if r.ew.orphan {
		if err := r.rebuild(); err != nil {
			return err
		}
	}
	sqe, err := r.getSQE()
	if err != nil {
		return err
	}
	sqe.PrepEpollWait(r.ep.Fd(), r.ew.buf)
	sqe.UserData = tagEpollWait
	r.ew.inFlight = true
	r.ew.armEpoch = r.ew.ctl
	_, err = r.submit()
	return err
}

// rebuild replaces the epoll instance behind the ring by a new one holding
// the ring's live registrations, which sheds a registration the ring could
// not remove (see epollWait). No EPOLL_WAIT request is in flight.
//
// A registration is carried over only if its number still names the file
// registered: the old instance is asked by adding the number again, which
// it refuses with EEXIST exactly when that file is registered under it. A
// registration that fails this (closed, or reused without Delete, while a
// duplicate kept the file open) is lost: it is reported once with Err, and
// Modify or Delete then answer for its number as the kernel does.
// Level-triggered registrations report again if ready, as they would have;
// an edge-triggered one that is ready reports once more (a spurious event).
func (r *Ring) rebuild() error {
	ep, err := epoll.New()
	if err != nil {
		return err
	}
	old := r.ep
	r.regs.Range(func(tok token.Token, s *slot) bool {
		if s.dead {
			return true
		}
		if err := old.Add(int(s.fd), s.events, uint64(tok)); !errors.Is(err, unix.EEXIST) {
			r.markLost(tok, s)
			return true
		}
		if ep.Add(int(s.fd), s.events, uint64(tok)) != nil {
			r.markLost(tok, s)
		}
		return true
	})
	r.ep = ep
	r.ew.orphan = false
	r.stats.Rebuilt++
	old.Close()
	return nil
}
