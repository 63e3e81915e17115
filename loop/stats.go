package loop

import "sync/atomic"

// Stats counts what a loop did. Stats may be read from any goroutine; the
// loop publishes its counters before it goes to sleep, every 64 iterations
// while it is busy, and when Run returns.
type Stats struct {
	Iterations uint64 // waits the loop made
	Events     uint64 // events handed to handlers
	Stale      uint64 // events dropped because their Token was no longer live
	Wakeups    uint64 // times the loop was woken by Post, a timer change, ctx or Close
	Posts      uint64 // posted functions run
	Timers     uint64 // timer functions run
	Changes    uint64 // interest changes applied in batches (after merging)
	Batches    uint64 // batches applied
	Faults     uint64 // panics and refused deferred changes
	Panics     uint64 // of which panics
}

// statCounters are the loop goroutine's counters, written without atomics
// and published with them once per iteration.
type statCounters struct {
	iterations, events, stale, wakeups, posts, timers, changes, batches, faults, panics uint64
	pub                                                                                 [10]atomic.Uint64
}

// publishIfIdle publishes before the loop blocks, unless nothing changed
// since the last publication.
func (s *statCounters) publishIfIdle() {
	if s.pub[0].Load() != s.iterations {
		s.publish()
	}
}

func (s *statCounters) publish() {
	for i, v := range [...]uint64{s.iterations, s.events, s.stale, s.wakeups, s.posts, s.timers, s.changes, s.batches, s.faults, s.panics} {
		s.pub[i].Store(v)
	}
}

// Stats returns the loop's counters as last published.
func (l *Loop) Stats() Stats {
	p := &l.st.pub
	return Stats{
		Iterations: p[0].Load(), Events: p[1].Load(), Stale: p[2].Load(), Wakeups: p[3].Load(),
		Posts: p[4].Load(), Timers: p[5].Load(), Changes: p[6].Load(), Batches: p[7].Load(),
		Faults: p[8].Load(), Panics: p[9].Load(),
	}
}

// Len returns the number of live registrations. Call it on the loop's
// goroutine (or while Run does not run).
func (l *Loop) Len() int { return l.regs.Len() }

// PendingTimers returns the number of timers waiting to fire.
func (l *Loop) PendingTimers() int { return l.timers.Len() }
