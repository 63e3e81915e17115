package epoll

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/eventpoll/eventpoll/internal/errs"
)

// Changes collects the interest changes an event loop makes during one
// iteration and applies them with one BatchAll of its Poller (an Instance,
// or a ring.Ring) before the next wait, after
// merging the ones that cancel or supersede each other: the cheapest
// epoll_ctl is the one never made. Every Add, Modify and Delete checks its
// arguments at once (the same errors as Instance.Add, Modify and Delete,
// returned immediately and never queued); the kernel sees the surviving
// commands at Flush.
//
// Changes keeps, per fd, what it has applied (registered or not, with which
// events and data) and merges only where the result is certain to be the
// same as applying every call in order, as long as it is the only path by
// which its fds are added to and removed from the instance. The merges,
// given a pending command for the same fd:
//
//   - Add, then Modify: the Add takes the Modify's events and data, when the
//     Add is expected to succeed (the fd is not registered as far as Changes
//     knows, or the Add follows a pending Delete) and is not Exclusive. Add
//     followed by a successful Modify is the same as an Add of the final
//     mask; the Modify could only behave differently if the Add failed with
//     EEXIST, which the knowledge excludes. (The kernel refuses Modify on an
//     Exclusive registration, so that pair is left for it to refuse.)
//   - Add, then Delete: both are dropped under the same condition, because
//     they leave the fd unregistered whatever happens. The errors the pair
//     would have reported (EPERM for a regular file, EBADF) go with it.
//   - Modify, then Modify: the last one wins. Both succeed or both fail on
//     the same registration, and the second overwrites the first.
//   - Modify, then Delete: the Delete replaces the Modify, which Delete
//     would undo anyway.
//   - A Modify that leaves a level-triggered registration as it is (same
//     events, same data, no Edge, no OneShot) is dropped. It is kept with
//     OneShot, because a Modify is how a fired OneShot registration is
//     re-armed, and with Edge, because a Modify makes the kernel poll the
//     file again and report it if it is ready, which programs use to get a
//     fresh edge.
//
// Delete, then Add is not merged into a Modify: between the two the program
// may have closed the fd and opened another file that got the same number.
// The kernel keys a registration by the open file, not by the number, so a
// Modify would fail with ENOENT where Delete and Add succeed, and Changes
// cannot tell without a system call. Both commands are kept, in order.
// Other sequences (Add after Add, Delete after Delete, Modify after Delete)
// are kept as they are, so the kernel reports the error it would have.
//
// A Changes is for one goroutine: it is not safe for concurrent use. Its
// steady state allocates nothing: the command list and the per-fd table are
// reused. The table is indexed by fd, 16 bytes an entry, so it grows to
// the largest fd seen, as the kernel's and the Go runtime's fd tables do,
// up to 1<<20 entries (fs.nr_open's default: the largest table a process
// has unless root raised it); what Changes knows of larger numbers is kept in a map, which costs an
// allocation the first time each such fd is seen.
type Changes struct {
	p       Poller
	cmds    []Cmd
	prev    []int32 // prev[i]: 1 + index of the previous live command for cmds[i].Fd, or 0
	fds     []fdState
	far     map[int]*fdState // fds from denseFds on
	live    int              // commands in cmds that are not dropped
	flushed bool             // cmds holds the last Flush's commands, for the caller to read
}

// denseFds bounds the table indexed by fd: 16 MiB at most (16 bytes an entry).
const denseFds = 1 << 20

// fdState is what Changes knows about one fd, in 16 bytes: an event loop
// has one per descriptor number up to its highest.
type fdState struct {
	data uint64
	ev   Events
	// pr holds, in its low 30 bits, 1 + the index in cmds of the last live
	// command for this fd, or 0; in its top two, regNo, regYes (ev and data
	// known) or regUnknown (registered, mask unknown).
	pr uint32
}

// pendMask is fdState.pr's index part.
const pendMask = 1<<30 - 1

// maxQueued bounds the commands queued between two Flushes, so that an
// index fits fdState.pr: a billion commands, 24 GiB of them, before it
// matters. A variable for the tests.
var maxQueued = pendMask

func (st *fdState) pending() int32     { return int32(st.pr & pendMask) }
func (st *fdState) setPending(p int32) { st.pr = st.pr&^pendMask | uint32(p) }
func (st *fdState) reg() uint8         { return uint8(st.pr >> 30) }

// know sets what is applied for the fd.
func (st *fdState) know(reg uint8, ev Events, data uint64) {
	st.pr = st.pr&pendMask | uint32(reg)<<30
	st.ev, st.data = ev, data
}

const (
	regNo uint8 = iota
	regYes
	regUnknown
)

// opDropped marks a command removed by a merge; Flush compacts them away.
const opDropped Op = 0

// NewChanges returns an empty change set for p, which Flush applies with
// p.BatchAll.
func NewChanges(p Poller) *Changes { return &Changes{p: p} }

// Len returns how many commands Flush would send now, after merging.
func (c *Changes) Len() int {
	if c.flushed {
		return 0
	}
	return c.live
}

// Add queues the registration of fd for ev with data (Instance.Add).
// It returns an argument error at once, queuing nothing: EBADF for a number
// no descriptor can have (negative, or above the int32 range), EINVAL for
// bad events; ENOSPC when a billion commands (1<<30 - 1) are queued since
// the last Flush, as Modify and Delete do.
func (c *Changes) Add(fd int, ev Events, data uint64) error {
	if err := c.check(int(OpAdd), fd, ev); err != nil {
		return err
	}
	c.push(Cmd{Op: OpAdd, Fd: fd, Events: ev, Data: data})
	return nil
}

// Modify queues a change of fd's events and data (Instance.Modify), merged
// or dropped as the type's documentation describes. Argument errors are
// returned at once, as for Add.
func (c *Changes) Modify(fd int, ev Events, data uint64) error {
	if err := c.check(int(OpModify), fd, ev); err != nil {
		return err
	}
	st := c.state(fd)
	if st.pending() == 0 {
		if st.reg() == regYes && st.ev == ev && st.data == data && ev&(Edge|OneShot) == 0 {
			return nil
		}
		c.push(Cmd{Op: OpModify, Fd: fd, Events: ev, Data: data})
		return nil
	}
	i := st.pending() - 1
	p := &c.cmds[i]
	switch {
	case p.Op == OpAdd && p.Events&Exclusive == 0 && c.addExpectedToSucceed(i):
		p.Events, p.Data = ev, data
	case p.Op == OpModify:
		p.Events, p.Data = ev, data
		if c.prev[i] == 0 && st.reg() == regYes && st.ev == ev && st.data == data && ev&(Edge|OneShot) == 0 {
			c.drop(i)
		}
	default:
		c.push(Cmd{Op: OpModify, Fd: fd, Events: ev, Data: data})
	}
	return nil
}

// Delete queues the removal of fd's registration (Instance.Delete), merged
// as the type's documentation describes. Delete before closing fd: the
// registration belongs to the open file and outlives the number. A number
// no descriptor can have is refused at once with EBADF.
func (c *Changes) Delete(fd int) error {
	if err := c.check(int(OpDelete), fd, 0); err != nil {
		return err
	}
	st := c.state(fd)
	if st.pending() != 0 {
		i := st.pending() - 1
		p := &c.cmds[i]
		switch {
		case p.Op == OpAdd && c.addExpectedToSucceed(i):
			c.drop(i)
			return nil
		case p.Op == OpModify:
			p.Op, p.Events, p.Data = OpDelete, 0, 0
			return nil
		}
	}
	c.push(Cmd{Op: OpDelete, Fd: fd})
	return nil
}

// Forget tells Changes that fd was closed without a Delete, or that its
// registration was changed behind Changes' back: what it knew about fd is
// dropped, pending commands for fd stay queued. The kernel removes the
// registration of a closed file by itself (unless a dup keeps the file
// open), so after a close the fd counts as unregistered. A loop calls it
// when it closes a descriptor without a Delete; without it, Changes would
// take the next file that gets the number for the old one: a Modify to the
// old events and data would be dropped as a no-op where the kernel answers
// ENOENT, and an Add and a Delete would not cancel out.
func (c *Changes) Forget(fd int) {
	if st := c.known(fd); st != nil {
		st.know(regNo, 0, 0)
	}
}

// Flush applies the queued commands with one BatchAll, in the order they
// were queued, and returns them with every Result set, so that a loop can
// act on each failure (a command for an fd the peer closed typically fails
// with EBADF or ENOENT and is simply dropped). The returned slice is valid
// until the next call on c.
//
// The error is nil when every command succeeded, else a *BatchError for the
// first failure (Index into the returned slice). When the Poller processed
// nothing (ErrClosed when it was closed, or another error of BatchAll's own)
// that error is returned and the queued commands are discarded. An empty
// Flush makes no system call.
func (c *Changes) Flush() ([]Cmd, error) {
	if c.flushed || c.live == 0 {
		c.begin()
		return nil, nil
	}
	cmds := c.compact()
	c.flushed = true
	_, err := c.p.BatchAll(cmds)
	if err != nil && !isBatchError(err) {
		c.forgetPending(cmds)
		return nil, err
	}
	c.learn(cmds)
	return cmds, err
}

// begin clears the previous Flush's commands before new ones are queued.
// check checks a call's arguments, as the Instance's call would, and that
// there is room for one more command: ENOSPC once maxQueued are queued.
// It starts a new list after a Flush.
func (c *Changes) check(op, fd int, ev Events) error {
	if err := checkCtl(op, fd, ev); err != nil {
		return err
	}
	c.begin()
	if len(c.cmds) >= maxQueued {
		return errs.Call(pkg, ctlCalls[op], fd, unix.ENOSPC)
	}
	return nil
}

func (c *Changes) begin() {
	if c.flushed {
		c.cmds, c.prev, c.live, c.flushed = c.cmds[:0], c.prev[:0], 0, false
	}
}

// state returns what Changes knows of fd, a valid descriptor number,
// making room for it. The table doubles up to denseFds, from an fd below
// denseFds, so the doubling cannot overflow.
func (c *Changes) state(fd int) *fdState {
	if fd < len(c.fds) {
		return &c.fds[fd]
	}
	if fd >= denseFds {
		st := c.far[fd]
		if st == nil {
			if c.far == nil {
				c.far = make(map[int]*fdState)
			}
			st = new(fdState)
			c.far[fd] = st
		}
		return st
	}
	n := max(64, 2*len(c.fds))
	for n <= fd {
		n *= 2
	}
	c.fds = append(c.fds, make([]fdState, min(n, denseFds)-len(c.fds))...)
	return &c.fds[fd]
}

// known returns what Changes knows of fd, or nil when it has never seen it.
func (c *Changes) known(fd int) *fdState {
	switch {
	case fd >= 0 && fd < len(c.fds):
		return &c.fds[fd]
	case fd >= denseFds:
		return c.far[fd]
	}
	return nil
}

func (c *Changes) push(cmd Cmd) {
	st := c.state(cmd.Fd)
	c.cmds = append(c.cmds, cmd)
	c.prev = append(c.prev, st.pending())
	st.setPending(int32(len(c.cmds)))
	c.live++
}

// drop removes the last live command for its fd.
func (c *Changes) drop(i int32) {
	st := c.state(c.cmds[i].Fd)
	st.setPending(c.prev[i])
	c.cmds[i].Op = opDropped
	c.live--
}

// addExpectedToSucceed: the Add at i finds fd unregistered, because a
// Delete precedes it or, with nothing before it, Changes knows the fd is
// not registered.
func (c *Changes) addExpectedToSucceed(i int32) bool {
	if p := c.prev[i]; p != 0 {
		return c.cmds[p-1].Op == OpDelete
	}
	return c.state(c.cmds[i].Fd).reg() == regNo
}

// compact removes dropped commands in place.
func (c *Changes) compact() []Cmd {
	out := c.cmds[:0]
	for _, cmd := range c.cmds {
		if cmd.Op != opDropped {
			cmd.Result = nil
			out = append(out, cmd)
		}
	}
	c.cmds = out
	return out
}

// learn updates the per-fd knowledge from the Results, in order.
func (c *Changes) learn(cmds []Cmd) {
	for i := range cmds {
		cmd := &cmds[i]
		st := c.state(cmd.Fd)
		st.setPending(0)
		switch errno := resultErrno(cmd.Result); {
		case cmd.Result == nil && cmd.Op != OpDelete:
			st.know(regYes, cmd.Events, cmd.Data)
		case cmd.Result == nil, errno == unix.ENOENT, errno == unix.EBADF:
			st.know(regNo, 0, 0)
		case errno == unix.EEXIST:
			st.know(regUnknown, st.ev, st.data)
		}
		if cmd.Fd >= denseFds && st.reg() == regNo {
			delete(c.far, cmd.Fd) // nothing to know: the map keeps only what is
		}
	}
}

// resultErrno returns the errno inside a failed command's Result, or 0. It
// is a function of its own so that the target of errors.As escapes to the
// heap only on the failure path.
func resultErrno(err error) unix.Errno {
	if err == nil {
		return 0
	}
	var errno unix.Errno
	errors.As(err, &errno)
	return errno
}

// isBatchError reports whether err says commands were processed. As
// resultErrno, a function of its own so that errors.As's target escapes
// only on the failure path.
func isBatchError(err error) bool {
	var be *BatchError
	return errors.As(err, &be)
}

func (c *Changes) forgetPending(cmds []Cmd) {
	for i := range cmds {
		c.state(cmds[i].Fd).setPending(0)
	}
	c.cmds, c.prev, c.live, c.flushed = c.cmds[:0], c.prev[:0], 0, false
}
