package ring

import (
	"errors"
	"runtime"
	"time"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/token"
	"github.com/eventpoll/eventpoll/internal/uring"
	"golang.org/x/sys/unix"
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
// Poll returns 0 on a closed ring, on a Ring New did not make, and when
// evs is empty. A failed system call in those rare cases is not lost: the
// work is retried by the next Poll or Wait, and Wait reports the error.
func (r *Ring) Poll(evs []epoll.Event) int {
	if len(evs) == 0 || !r.fd.Acquire() {
		return 0
	}
	r.mu.Lock()
	n := 0
	// Once Close has begun, its wake-up completion must stay in the ring
	// for the waiters still asleep.
	if !r.fd.Closing() {
		n, _ = r.pollLocked(evs)
	}
	r.mu.Unlock()
	r.fd.Release()
	return n
}

// Wait is Poll, and when the ring holds no event it sleeps in the kernel
// until one arrives or timeout passes: timeout < 0 waits without bound, 0
// returns at once (Poll), > 0 waits at most that long with nanosecond
// resolution (io_uring_enter with IORING_ENTER_EXT_ARG, measured on
// CLOCK_MONOTONIC). A timed Wait never returns 0 before its timeout has
// passed; it may return later by the timer slack and scheduling delay.
// Signals (EINTR) and completions that turn out stale restart the sleep
// with the time that remains.
//
// Waits in several goroutines sleep side by side, each with its own
// timeout, and each event goes to one of them: a Wait(evs, 0) returns at
// once and a timed Wait within its time whatever other goroutines do, also
// while one sleeps in Wait(evs, -1). While Wait sleeps it holds no lock
// that Add, Modify or Delete need.
//
// It returns the number of events stored in evs, and 0 with a nil error on
// timeout. Errors: EINVAL when evs is empty; ErrClosed when the ring was
// closed before or during the wait; an io_uring_enter errno; with
// EngineEpollWait, EMFILE or ENFILE when the ring must rebuild its epoll
// instance to shed a registration Delete could not remove (see the package
// documentation) and cannot make one now, which the next Poll or Wait
// retries. Wait allocates nothing.
func (r *Ring) Wait(evs []epoll.Event, timeout time.Duration) (int, error) {
	if len(evs) == 0 {
		return 0, errWaitEmpty
	}
	if !r.fd.Acquire() {
		return 0, r.closedError("Wait")
	}
	defer r.fd.Release()
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	var wa *uring.WaitArg // a timed sleep's own, taken at the first sleep
	for {
		n, err := r.pollOrSleep(evs, timeout, &wa)
		if n > 0 || err != nil || timeout == 0 {
			return n, err
		}
		left := time.Duration(-1)
		if timeout > 0 {
			if left = time.Until(deadline); left <= 0 {
				r.mu.Lock()
				r.putWaitArg(wa)
				r.mu.Unlock()
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
		if err := r.u.WaitCompletions(1, left, wa); err != nil && !errors.Is(err, unix.ETIME) {
			r.mu.Lock()
			r.putWaitArg(wa)
			r.mu.Unlock()
			return 0, callError("Wait", err)
		}
	}
}

// pollOrSleep polls under r.mu. It returns the events, or the error that
// ends the Wait, giving back *wa; or 0 and nil when the caller is to sleep,
// with a WaitArg in *wa for a timed sleep.
func (r *Ring) pollOrSleep(evs []epoll.Event, timeout time.Duration, wa **uring.WaitArg) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fd.Closing() {
		r.putWaitArg(*wa)
		return 0, errWaitClosed
	}
	n, err := r.pollLocked(evs)
	if n > 0 || timeout == 0 {
		r.putWaitArg(*wa)
		return n, nil
	}
	if err != nil {
		r.putWaitArg(*wa)
		return 0, callError("Wait", err)
	}
	if timeout > 0 && *wa == nil {
		*wa = r.getWaitArg()
	}
	return 0, nil
}

// pollLocked fills evs from the engine. r.mu is held.
func (r *Ring) pollLocked(evs []epoll.Event) (int, error) {
	r.pass++
	n := 0
	if len(r.lost) > 0 {
		n = r.reportLost(evs)
	}
	if r.engine == EngineEpollWait {
		return r.pollEpoll(evs, n)
	}
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
	if c.UserData&uint64(token.Internal) != 0 {
		return n // POLL_REMOVE results; a wake-up before close
	}
	tok := token.Token(c.UserData)
	s := r.regs.Get(tok)
	if s == nil {
		r.stats.Stale++
		return n
	}
	if c.Flags&uring.CQEFMore == 0 {
		// The request's last completion. A OneShot one has done its job;
		// a multishot one was ended by the kernel and must be re-armed:
		// the CQ was full when it wanted to post (it then ends the request
		// with its last readiness in res), or something other than the ring
		// cancelled it (-ECANCELED; the ring's own cancellations move the
		// generation on, so their completions never get here, and a OneShot
		// request cancelled before it fired is re-armed too).
		s.armed = false
		if c.Res == -int32(unix.ECANCELED) || (c.Res >= 0 && s.events&epoll.OneShot == 0) {
			r.rearm = append(r.rearm, tok)
		}
	}
	var got epoll.Events
	switch {
	case c.Res == -int32(unix.ECANCELED):
		return n
	case c.Res < 0:
		// The kernel could not poll the file: report it as an error
		// condition.
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

// markLost records that tok's registration can no longer be reached by its
// number: it reports nothing more except one Err event (reportLost), and
// stays in the ring until Modify, Delete or an Add of its number.
func (r *Ring) markLost(tok token.Token, s *slot) {
	s.dead, s.armed = true, false
	r.lost = append(r.lost, tok)
	r.stats.Lost++
}

// reportLost emits the Err event of each lost registration, as many as evs
// holds; the rest wait for the next pass.
func (r *Ring) reportLost(evs []epoll.Event) int {
	n, i := 0, 0
	for ; i < len(r.lost) && n < len(evs); i++ {
		if s := r.regs.Get(r.lost[i]); s != nil && s.dead {
			n = r.emit(s, epoll.Err, evs, n)
		}
	}
	r.lost = r.lost[:copy(r.lost, r.lost[i:])]
	return n
}

// flushRearm re-arms the multishot requests the kernel ended, with the
// same tag: the slot is still the same registration. The new request
// checks the file's readiness as it is armed and reports at once if the
// file is ready, which covers any change that happened in the gap.
//
// A request is armed on a number, and the kernel resolves it when the
// request is submitted: if the number was closed and reused since Add, a
// re-arm would watch the new file and report its readiness with the old
// data. A file the ring holds a duplicate of is re-armed on the duplicate;
// for any other the ring first checks that the number still names it
// (file.go), and if not, the registration is lost.
func (r *Ring) flushRearm() error {
	for len(r.removes) > 0 {
		sqe, err := r.getSQE()
		if err != nil {
			return err
		}
		sqe.PrepPollRemove(r.removes[len(r.removes)-1])
		sqe.UserData = tagRemove
		r.removes = r.removes[:len(r.removes)-1]
	}
	for i, tok := range r.rearm {
		s := r.regs.Get(tok)
		if s == nil || s.armed || s.dead {
			continue
		}
		if !s.file.hasOwn && sameFile(int(s.fd), &s.file) != nil {
			r.markLost(tok, s)
			continue
		}
		if err := r.queueArm(tok, s); err != nil {
			r.rearm = r.rearm[:copy(r.rearm, r.rearm[i:])]
			return err
		}
		r.stats.Rearmed++
	}
	r.rearm = r.rearm[:0]
	_, err := r.submit()
	return err
}

// spinForCompletion watches the completion queue's tail in shared memory
// for up to r.spin (or limit, if shorter and not negative) and reports
// whether a completion arrived. It reads only the CQ indices, which no
// other method writes, and runs under the caller's reference like the
// kernel wait, so Close cannot unmap the queue beneath it.
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
