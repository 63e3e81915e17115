package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/eventpoll/eventpoll/cmd/epollstat/internal/epollinfo"
)

// fileRef is a descriptor through which a registered file can be seen.
type fileRef struct {
	proc *rawProcess
	fd   int
}

// How a registration's number was matched to its file (Registration.Check).
const (
	checkKcmp  = "kcmp"  // kcmp(2) KCMP_EPOLL_TFD: the same open file, exactly
	checkInode = "inode" // stat(2) of the number against fdinfo's ino and sdev
	checkOpen  = "open"  // only whether the number is open (before Linux 4.13)
)

// judge decides whether a registration is stale. The kernel keys a
// registration by the open file and the number it was added under, and
// never updates the number: after close(2) of that number the registration
// lives on while any other descriptor holds the file (a dup, a forked
// child, a message in flight), and events keep coming for a file the
// program no longer names, or names by a number that now means another
// file. Seed 003 calls this epoll's broken close semantics.
func (c *collector) judge(in *rawInstance, r epollinfo.Registration, toff int) *Registration {
	p := in.proc
	reg := &Registration{
		Tfd: r.Fd, Events: r.Events.String(), Mask: uint32(r.Events),
		Data: fmt.Sprintf("%#x", r.Data), Disarmed: r.Disarmed(),
		Kind: "unknown",
	}
	if r.HasFile {
		reg.Ino, reg.Dev = r.Ino, r.Dev.String()
	}
	link, open := p.fds[r.Fd]
	if open {
		same, check := c.sameAsRegistered(in, r, toff)
		reg.Check = check
		if same {
			reg.file = &fileRef{p, r.Fd}
			return reg
		}
		reg.Stale = &Stale{Reason: "reused", Now: link}
	} else {
		reg.Check = checkOpen
		reg.Stale = &Stale{Reason: "closed"}
	}
	reg.Stale.HeldAs, reg.maybeHeld = c.holders(in, r, toff)
	if len(reg.Stale.HeldAs) == 0 {
		reg.Stale.HeldAs = []PidFd{} // "held_as": [] in JSON, not null
	} else {
		h := reg.Stale.HeldAs[0]
		reg.file = &fileRef{c.proc(h.Pid), h.Fd}
	}
	return reg
}

// sameAsRegistered reports whether the open number r.Fd still names the
// registered file, and how that was told. kcmp is exact; the inode test
// cannot tell apart two files on one inode (every eventfd, timerfd,
// signalfd and epoll instance lives on anon_inodefs's single inode); with
// neither, an open number is taken as the file.
func (c *collector) sameAsRegistered(in *rawInstance, r epollinfo.Registration, toff int) (bool, string) {
	pid := in.proc.pid
	same, err := c.kc.epollTarget(pid, r.Fd, pid, in.fd, r.Fd, toff)
	if err == nil {
		return same, checkKcmp
	}
	if r.HasFile {
		if id := in.proc.id(r.Fd); id.ok {
			return id.ino == r.Ino && id.dev == r.Dev, checkInode
		}
	}
	return true, checkOpen
}

// holders returns the descriptors that still hold a stale registration's
// file: in its own process, then in the processes that share the instance
// (the likely holders after a fork), and only if none is found there, in
// every other process that can be read (a descriptor passed over a unix
// socket). Candidates are the descriptors on the registered inode; kcmp
// confirms each. Without kcmp an inode match is taken unless the inode is
// anon_inodefs's, which every anonymous file shares: such candidates of
// the first two kinds are returned apart, as maybe.
func (c *collector) holders(in *rawInstance, r epollinfo.Registration, toff int) (held, maybe []PidFd) {
	if !r.HasFile {
		return nil, nil
	}
	near := []*rawProcess{in.proc}
	for _, s := range in.out.SharedWith {
		if q := c.byPid[s.Pid]; q != nil && q != in.proc {
			near = append(near, q)
		}
	}
	held, maybe = c.search(in, r, toff, near)
	if len(held) == 0 {
		held, _ = c.search(in, r, toff, c.others())
	}
	return held, maybe
}

// search looks for holders of a registered file among the descriptors of
// procs; see holders.
func (c *collector) search(in *rawInstance, r epollinfo.Registration, toff int, procs []*rawProcess) (held, maybe []PidFd) {
	for _, q := range procs {
		for _, fd := range q.order {
			if q == in.proc && fd == r.Fd {
				continue // judged already: not the registered file
			}
			if id := q.id(fd); !id.ok || id.ino != r.Ino || id.dev != r.Dev {
				continue
			}
			same, err := c.kc.epollTarget(q.pid, fd, in.proc.pid, in.fd, r.Fd, toff)
			if errors.Is(err, errNoKcmp) && strings.HasPrefix(q.fds[fd], "anon_inode:") {
				maybe = append(maybe, PidFd{q.pid, fd})
				continue
			}
			if same || errors.Is(err, errNoKcmp) {
				held = append(held, PidFd{q.pid, fd})
			}
		}
	}
	return held, maybe
}

// staleWhy says in a sentence what is wrong with a stale registration and
// what it costs.
func staleWhy(reg *Registration, pid int) string {
	st := reg.Stale
	var b strings.Builder
	if st.Reason == "closed" {
		fmt.Fprintf(&b, "fd %d is closed", reg.Tfd)
	} else {
		now := reg.nowIs
		if now == "" {
			now = st.Now
		}
		fmt.Fprintf(&b, "fd %d now names another file (%s", reg.Tfd, now)
		if reg.Check == checkInode {
			fmt.Fprintf(&b, "; inode %d on %s was registered", reg.Ino, reg.Dev)
		}
		b.WriteString(")")
	}
	switch {
	case len(st.HeldAs) == 0 && len(reg.maybeHeld) > 0:
		b.WriteString(", but the registered file is still open; without kcmp it cannot be told which of " +
			pidFds(reg.maybeHeld, pid) + " (one anonymous inode) holds it")
	case len(st.HeldAs) == 0:
		b.WriteString(", but the registered file is open elsewhere (another process, a message in flight, the kernel)")
	case st.HeldAs[0].Pid == pid:
		fmt.Fprintf(&b, ", but the registered file is still open as fd %d", st.HeldAs[0].Fd)
	default:
		fmt.Fprintf(&b, ", but the registered file is still open as fd %d of pid %d", st.HeldAs[0].Fd, st.HeldAs[0].Pid)
	}
	if reg.Disarmed {
		b.WriteString(": it stays registered (disarmed until EPOLL_CTL_MOD)")
	} else {
		fmt.Fprintf(&b, ": it stays registered and its events come with data %s", reg.Data)
	}
	return b.String()
}

// pidFds lists descriptors as "fd 3, fd 5 of pid 812", leaving out the pid
// for those of process pid.
func pidFds(fds []PidFd, pid int) string {
	parts := make([]string, len(fds))
	for i, f := range fds {
		parts[i] = "fd " + strconv.Itoa(f.Fd)
		if f.Pid != pid {
			parts[i] += " of pid " + strconv.Itoa(f.Pid)
		}
	}
	return strings.Join(parts, ", ")
}
