package loop

import (
	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/errs"
	"github.com/eventpoll/eventpoll/internal/token"
)

// The iteration's interest changes are merged per registration, not per
// descriptor number: the registration already holds what the kernel is to
// watch (reg.ev), so the loop keeps no table indexed by descriptor, whose
// size would follow the process's highest descriptor in every loop.
//
// Two bits of reg.ev that no epoll event uses (Check refuses them from
// callers) say that the registration has a command in the iteration's
// list, an Add or a Modify, whose events are read from reg.ev when the list
// is applied: a Modify of such a registration changes reg.ev and queues
// nothing; an Unregister of a registration whose Add is still queued
// queues nothing either, and the Add, whose token is then stale, is
// dropped when the list is applied.
const (
	queuedAdd epoll.Events = 1 << 27
	queuedMod epoll.Events = 1 << 26
	queued                 = queuedAdd | queuedMod
)

// checkCmd refuses, at once, what epoll would refuse for the arguments
// alone, and what the engine cannot honour.
func (l *Loop) checkCmd(call string, op epoll.Op, fd int, ev epoll.Events) error {
	cmd := epoll.Cmd{Op: op, Fd: fd, Events: ev}
	if err := cmd.Check(); err != nil {
		return errs.Call(pkg, call, fd, err)
	}
	if op == epoll.OpDelete {
		return nil
	}
	return l.checkEvents(call, fd, ev)
}

// queueAdd queues the registration r, just made under t.
func (l *Loop) queueAdd(t Token, r *reg) {
	r.ev |= queuedAdd
	l.cmds = append(l.cmds, epoll.Cmd{Op: epoll.OpAdd, Fd: int(r.fd), Data: uint64(t)})
}

// queueModify makes ev r's events, queuing a Modify unless r already has a
// command queued (which will carry ev) or the change is none: the same
// events on a level-triggered registration. A Modify with Edge or OneShot
// is kept even when the events are the same: it re-arms a OneShot
// registration and makes the kernel poll the file again, which programs use
// to get a fresh edge.
func (l *Loop) queueModify(t Token, r *reg, ev epoll.Events) {
	switch {
	case r.ev&queued != 0:
		r.ev = ev | r.ev&queued
	case r.ev == ev && ev&(epoll.Edge|epoll.OneShot) == 0:
	default:
		r.ev = ev | queuedMod
		l.cmds = append(l.cmds, epoll.Cmd{Op: epoll.OpModify, Fd: int(r.fd), Data: uint64(t)})
	}
}

// queueDelete queues the removal of r's registration, which the caller
// frees: none when r's Add is still queued (the kernel never saw it).
func (l *Loop) queueDelete(r *reg) {
	if r.ev&queuedAdd == 0 {
		l.cmds = append(l.cmds, epoll.Cmd{Op: epoll.OpDelete, Fd: int(r.fd)})
	}
}

// applyChanges applies the queued commands with one BatchAll and returns
// them with their Results (valid until the next change is queued). An Add
// or a Modify takes its registration's events as they are now, and is
// dropped when the registration is gone. An empty list makes no system
// call. The error is BatchAll's: a *epoll.BatchError when some command
// failed; any other means none was applied.
func (l *Loop) applyChanges() ([]epoll.Cmd, error) {
	out := l.cmds[:0]
	for _, c := range l.cmds {
		if c.Op != epoll.OpDelete {
			r := l.regs.Get(token.Token(c.Data))
			if r == nil {
				continue
			}
			c.Events = r.ev &^ queued
			r.ev &^= queued
		}
		c.Result = nil
		out = append(out, c)
	}
	clear(l.cmds[len(out):])
	l.cmds = l.cmds[:0]
	if len(out) == 0 {
		return nil, nil
	}
	_, err := l.p.BatchAll(out)
	return out, err
}
