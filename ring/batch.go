package ring

import (
	"strconv"

	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/errs"
)

const batchCall = "BatchAll"

// BatchAll applies every command of cmds in order, with exactly the
// semantics of epoll.Instance.BatchAll: each command is what Add, Modify or
// Delete would do with its arguments, and runs whatever became of the
// commands before it; every Result is set, nil or the error that call
// would have returned. It returns the number of commands that succeeded
// and, when any failed, an *epoll.BatchError for the first failure (its
// Index and error); the others are in their Results only. cmds may be of
// any length.
//
// Bad arguments process nothing: n is 0, no Result is touched, and the
// error is an *epoll.Error naming "ring" and BatchAll (never an
// *epoll.BatchError) satisfying errors.Is(err, unix.EINVAL) when cmds is
// empty or a command has an unknown Op, unknown event bits, or Exclusive
// where Add or Modify refuses it; errors.Is(err, unix.EBADF) when a
// command's fd is outside [0, 2^31-1]; errors.Is(err, ErrClosed) when the
// ring was closed. Every command is checked before the first is applied.
//
// With EngineMultishot each command makes its epoll_ctl on the epoll
// instance behind the ring (see Add), and the poll requests of all of them
// go to the kernel in one io_uring_enter per full submission queue. With
// EngineEpollWait the commands go to that epoll instance's own BatchAll,
// translated to the ring's tags, in runs of distinct fds. BatchAll
// allocates nothing unless a command fails.
func (r *Ring) BatchAll(cmds []epoll.Cmd) (int, error) {
	if err := r.checkBatch(cmds); err != nil {
		return 0, err
	}
	if !r.fd.Acquire() {
		return 0, r.closedError(batchCall)
	}
	defer r.fd.Release()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.engine == EngineEpollWait {
		r.batchEpoll(cmds)
	} else {
		for i := range cmds {
			cmds[i].Result = r.apply(&cmds[i])
		}
		r.submitQueued()
	}
	ok := 0
	var first error
	for i := range cmds {
		if cmds[i].Result == nil {
			ok++
		} else if first == nil {
			first = &epoll.BatchError{Index: i, Err: cmds[i].Result}
		}
	}
	return ok, first
}

// checkBatch validates every argument before any command runs.
func (r *Ring) checkBatch(cmds []epoll.Cmd) error {
	if len(cmds) == 0 {
		return errs.Invalid(pkg, batchCall, -1, "empty command list")
	}
	for i := range cmds {
		c := &cmds[i]
		switch c.Op {
		case epoll.OpAdd, epoll.OpModify, epoll.OpDelete:
		default:
			return errs.Invalid(pkg, batchCall, -1, "command "+strconv.Itoa(i)+": unknown op "+c.Op.String())
		}
		if err := r.checkCmd(ctlCalls[c.Op], c); err != nil {
			e := err.(*errs.Error)
			return batchArgError(i, c.Fd, e.Err)
		}
	}
	return nil
}

func isBatchError(err error) bool {
	_, ok := err.(*epoll.BatchError)
	return ok
}

// batchScratch holds BatchAll's translation for EngineEpollWait, reused
// from call to call.
type batchScratch struct {
	kcmds   []epoll.Cmd // the commands sent to the epoll instance, with the ring's tags
	changes []change    // per command of the run
	seen    [1 << 15 / 64]uint64
}

// batchEpoll applies cmds through the epoll instance's BatchAll, in runs:
// a run ends before a command whose fd may repeat one in it, at
// epoll.MaxBatch commands, and before an Add that finds the table full
// while the run may still free a slot. Within a run every command acts on
// its own fd and has its slot, so preparing all of them against the state
// before the run is what applying them one after another would do.
func (r *Ring) batchEpoll(cmds []epoll.Cmd) {
	b := &r.batch
	if cap(b.changes) == 0 {
		n := min(len(cmds), epoll.MaxBatch)
		b.changes = make([]change, 0, n)
		b.kcmds = make([]epoll.Cmd, 0, n)
	}
	start := 0
	for i := 0; i < len(cmds); i++ {
		c := &cmds[i]
		w, bit := fdBit(c.Fd)
		full := c.Op == epoll.OpAdd && r.regs.Len() == r.regs.Cap()
		if i > start && (b.seen[w]&bit != 0 || i-start == epoll.MaxBatch || full) {
			r.runEpoll(cmds[start:i])
			start = i
		}
		b.seen[w] |= bit
		b.changes = append(b.changes, r.prepare(c))
		if ch := &b.changes[len(b.changes)-1]; ch.sent {
			b.kcmds = append(b.kcmds, r.kernelCmd(c, ch))
		}
	}
	r.runEpoll(cmds[start:])
}

// fdBit locates fd in batchScratch.seen: exactly for fds below 1<<15,
// conservatively above (numbers equal modulo 1<<15 count as a repeat).
func fdBit(fd int) (int, uint64) {
	return int(uint32(fd)&(1<<15-1)) / 64, uint64(1) << (uint32(fd) % 64)
}

// runEpoll sends a prepared run to the epoll instance and finishes each
// command with the kernel's answer.
func (r *Ring) runEpoll(run []epoll.Cmd) {
	b := &r.batch
	for i := range run {
		w, _ := fdBit(run[i].Fd)
		b.seen[w] = 0
	}
	if len(b.kcmds) > 0 {
		if _, err := r.ep.BatchAll(b.kcmds); err != nil && !isBatchError(err) {
			// Refused as a whole (the arguments were checked, so only
			// something the ring did not foresee): each command failed.
			for k := range b.kcmds {
				b.kcmds[k].Result = err
			}
		}
	}
	k := 0
	for i := range run {
		ch := &b.changes[i]
		if !ch.sent {
			run[i].Result = ch.err
			continue
		}
		run[i].Result = r.finish(&run[i], ch, b.kcmds[k].Result)
		b.kcmds[k] = epoll.Cmd{}
		k++
	}
	b.changes = b.changes[:0]
	b.kcmds = b.kcmds[:0]
}
