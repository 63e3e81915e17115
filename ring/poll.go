package ring

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/uring"
	"golang.org/x/sys/unix"
)

// Preallocated so that the hot paths allocate nothing.
var (
	errWaitClosed = fmt.Errorf("ring: Wait: %w", ErrClosed)
	errWaitEmpty  = fmt.Errorf("ring: Wait: %w", errArg("empty event slice"))
)

// Poll copies ready events into evs and returns how many it copied, at
// most len(evs). It never blocks and, in steady state, makes no system
// call: with EngineMultishot the events are the completions the kernel has
// written into the completion queue, read from shared memory. Completions
// for deleted registrations are dropped, and several completions for one
// registration found in the same call are merged into one Event.
//
// Two rare cases enter the kernel: after the completion queue overflowed,
// one io_uring_enter brings in the completions the kernel held back; and a
// multishot request the kernel ended is re-armed by a submission. With
// EngineEpollWait, Poll submits the next epoll_wait request when it has
// consumed the previous one's batch: one io_uring_enter per batch.
//
// Poll returns 0 on a closed ring and when evs is empty. A failed system
// call in those rare cases is not lost: the work is retried by the next
// Poll or Wait, and Wait reports the error.
func (r *Ring) Poll(evs []epoll.Event) int {
	if len(evs) == 0 {
		return 0
	}
	r.mu.Lock()
	n := 0
	if !r.closed.Load() {
		n, _ = r.pollLocked(evs)
	}
	r.mu.Unlock()
	return n
}

// Wait is Poll, and when the ring holds no event it sleeps in the kernel
// until one arrives or timeout passes: timeout < 0 waits without bound, 0
// returns at once (Poll), > 0 waits at most that long with nanosecond
// resolution (io_uring_enter with IORING_ENTER_EXT_ARG, measured on
// CLOCK_MONOTONIC). A timed Wait never returns 0 before its timeout has
// passed; it may return later by the timer slack and scheduling delay.
// Signals (EINTR) and completions that turn out stale restart the sleep
// with the time that remains. While Wait sleeps it holds no lock that
// Add, Modify or Delete need. Concurrent Waits are serialised.
//
// It returns the number of events stored in evs, and 0 with a nil error on
// timeout. Errors: EINVAL when evs is empty; ErrClosed when the ring was
// closed before or during the wait; an io_uring_enter errno. Wait
// allocates nothing.
func (r *Ring) Wait(evs []epoll.Event, timeout time.Duration) (int, error) {
	if len(evs) == 0 {
		return 0, errWaitEmpty
	}
	// waitMu serialises waiters (they share r.wa); fdLock keeps Close from
	// releasing the descriptor while this goroutine is in the kernel.
	r.waitMu.Lock()
	defer r.waitMu.Unlock()
	r.fdLock.RLock()
	defer r.fdLock.RUnlock()
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		r.mu.Lock()
		if r.closed.Load() {
			r.mu.Unlock()
			return 0, errWaitClosed
		}
		n, err := r.pollLocked(evs)
		if n > 0 || timeout == 0 {
			r.mu.Unlock()
			return n, nil
		}
		if err != nil {
			r.mu.Unlock()
			return 0, fmt.Errorf("ring: Wait: %w", err)
		}
		r.mu.Unlock()

		left := time.Duration(-1)
		if timeout > 0 {
			if left = time.Until(deadline); left <= 0 {
				return 0, nil
			}
		}
		if r.spin > 0 && r.spinForCompletion(left) {
			continue
		}
		// Between the unlock and this call a completion may land, or
		// Close may queue its wake-up: either is in the CQ by then, and the
		// kernel returns at once when it already holds one.
		r.waits.Add(1)
		if err := r.u.WaitCompletions(1, left, &r.wa); err != nil && !errors.Is(err, unix.ETIME) {
			if errors.Is(err, uring.ErrClosed) {
				return 0, errWaitClosed
			}
			return 0, fmt.Errorf("ring: Wait: %w", err)
		}
	}
}

// pollLocked fills evs from the engine. r.mu is held.
func (r *Ring) pollLocked(evs []epoll.Event) (int, error) {
	r.pass++
	if r.engine == EngineEpollWait {
		return r.pollEpoll(evs)
	}
	n := 0
	var err error
	for n < len(evs) {
		// Never take more completions than evs has room for: a completion
		// taken is a completion delivered.
		want := min(len(evs)-n, len(r.cqes))
		var k int
		k, err = r.u.Reap(r.cqes[:want])
		for i := range k {
			n = r.complete(&r.cqes[i], evs, n)
		}
		if err != nil || k < want {
			break
		}
	}
	if len(r.rearm) > 0 || len(r.removes) > 0 || r.u.SQSpace() != r.u.SQEntries() {
		if e := r.flushRearm(); err == nil {
			err = e
		}
	}
	return n, err
}

// complete turns one completion into an event in evs[n] (or merges it into
// the event already emitted for its registration in this pass) and
// returns the new count.
func (r *Ring) complete(c *uring.CQE, evs []epoll.Event, n int) int {
	if c.UserData&tagInternal != 0 {
		return n // POLL_REMOVE results; a wake-up before close
	}
	idx, gen := splitTag(c.UserData)
	if int(idx) >= len(r.slots) {
		return n
	}
	s := &r.slots[idx]
	if !s.live || s.gen != gen {
		r.stats.Stale++
		return n
	}
	if c.Flags&uring.CQEFMore == 0 {
		// The request's last completion. A OneShot one has done its job;
		// a multishot one was ended by the kernel and must be re-armed:
		// the CQ was full when it wanted to post (it then ends the request
		// with its last readiness in res), or something other than the ring
		// cancelled it (-ECANCELED; the ring's own cancellations move the
		// generation on, so their completions never get here).
		s.armed = false
		// A OneShot request cancelled before it fired is re-armed too: our
		// own cancellations always move the generation on, so this one
		// was not asked for.
		if c.Res == -int32(unix.ECANCELED) || (c.Res >= 0 && s.events&epoll.OneShot == 0) {
			r.rearm = append(r.rearm, tagged{idx, gen})
			r.stats.Rearmed++
		}
	}
	var got epoll.Events
	switch {
	case c.Res == -int32(unix.ECANCELED):
		return n
	case c.Res < 0:
		// The kernel could not poll the file (it was closed before the
		// request reached it, say): report it as an error condition.
		got = epoll.Err
	default:
		got = epoll.Events(uint32(c.Res)) & (s.events&pollBits | epoll.Err | epoll.Hup)
	}
	if got == 0 {
		return n
	}
	return r.emit(s, got, evs, n)
}

// emit stores an event for s, merging it with one already stored in this
// pass: epoll reports a ready file once per epoll_wait, and so does Poll.
func (r *Ring) emit(s *slot, got epoll.Events, evs []epoll.Event, n int) int {
	if s.pass == r.pass {
		evs[s.out].Events |= got
		return n
	}
	s.pass, s.out = r.pass, n
	evs[n].Events = got
	evs[n].SetData(s.data)
	r.stats.Delivered++
	return n + 1
}

// flushRearm re-arms the multishot requests the kernel ended, with the
// same tag: the slot is still the same registration. The new request
// checks the file's readiness as it is armed and reports at once if the
// file is ready, which covers any change that happened in the gap.
func (r *Ring) flushRearm() error {
	for len(r.removes) > 0 {
		sqe := r.getSQE()
		if sqe == nil {
			return errSQFull
		}
		sqe.PrepPollRemove(r.removes[len(r.removes)-1])
		sqe.UserData = tagRemove
		r.removes = r.removes[:len(r.removes)-1]
	}
	for i, t := range r.rearm {
		s := &r.slots[t.idx]
		if !s.live || s.gen != t.gen || s.armed {
			continue
		}
		if err := r.queueArm(t.idx); err != nil {
			r.rearm = r.rearm[:copy(r.rearm, r.rearm[i:])]
			return err
		}
	}
	r.rearm = r.rearm[:0]
	_, err := r.submit()
	return err
}

// pollEpoll fills evs from EngineEpollWait's batch buffer, taking the next
// batch from the completion queue and submitting the next epoll_wait
// request as each batch is used up.
func (r *Ring) pollEpoll(evs []epoll.Event) (int, error) {
	if r.u.SQSpace() != r.u.SQEntries() {
		// An earlier submission failed and left requests queued; a sleeping
		// Wait submits nothing, so hand them over now.
		if _, err := r.submit(); err != nil {
			return 0, err
		}
	}
	n := 0
	submitted := false
	for n < len(evs) {
		if r.waitPos < r.waitLen {
			e := &r.waitBuf[r.waitPos]
			r.waitPos++
			idx, gen := splitTag(uint64(uint32(e.Fd)) | uint64(uint32(e.Pad))<<32)
			if int(idx) >= len(r.slots) {
				continue
			}
			s := &r.slots[idx]
			if !s.live || s.gen != gen {
				r.stats.Stale++
				continue
			}
			if got := epoll.Events(e.Events) & pollBits; got != 0 {
				n = r.emit(s, got, evs, n)
			}
			continue
		}
		if r.waitInFlight {
			k, err := r.u.Reap(r.cqes[:1])
			if k == 0 {
				return n, err
			}
			if c := r.cqes[0]; c.UserData == tagEpollWait {
				// The kernel has written c.Res events into waitBuf; an error
				// (EINTR, say) just means try again.
				r.waitInFlight = false
				r.waitPos, r.waitLen = 0, max(int(c.Res), 0)
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
	if !r.waitInFlight && r.waitPos >= r.waitLen {
		return n, r.armEpollWait()
	}
	return n, nil
}

// armEpollWait submits the EPOLL_WAIT request that fills waitBuf.
func (r *Ring) armEpollWait() error {
	sqe := r.getSQE()
	if sqe == nil {
		return errSQFull
	}
	sqe.PrepEpollWait(r.ep.Fd(), r.waitBuf)
	sqe.UserData = tagEpollWait
	r.waitInFlight = true
	_, err := r.submit()
	return err
}

// spinForCompletion watches the completion queue's tail in shared memory
// for up to r.spin (or limit, if shorter and not negative) and reports
// whether a completion arrived. It reads only the CQ indices, which no
// other method writes, and runs under fdLock like the kernel wait, so Close
// cannot unmap the queue beneath it.
func (r *Ring) spinForCompletion(limit time.Duration) bool {
	d := r.spin
	if limit >= 0 && limit < d {
		d = limit
	}
	end := time.Now().Add(d)
	for {
		if r.u.Ready() > 0 {
			return true
		}
		if !time.Now().Before(end) {
			return false
		}
		runtime.Gosched()
	}
}
