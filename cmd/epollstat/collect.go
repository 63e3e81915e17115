package main

import (
	"errors"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollstat/internal/epollinfo"
)

// config says what to look at and how.
type config struct {
	pids   []int // the processes named; nil: every process but ourselves
	noKcmp bool  // judge by inode and device only, as where kcmp(2) is missing
}

// collector builds one Snapshot.
type collector struct {
	cfg   config
	kc    kcmper
	procs []*rawProcess // in pid order
	byPid map[int]*rawProcess
	// rest are the processes read but not shown (no epoll instance), where
	// a stale registration's file may still be held; with PIDs named they
	// are read only when a holder is searched for (restRead).
	rest     []*rawProcess
	restRead bool
	restPid  map[int]*rawProcess
	nets     map[string]map[uint64]epollinfo.Socket // socket tables by network namespace
}

// collect reads /proc once and judges every registration it finds. It
// fails only when /proc cannot be listed; a process that cannot be read is
// an Unreadable entry of the snapshot.
func collect(cfg config) (*Snapshot, error) {
	c := &collector{cfg: cfg, byPid: map[int]*rawProcess{}, restPid: map[int]*rawProcess{},
		nets: map[string]map[uint64]epollinfo.Socket{}}
	if cfg.noKcmp {
		c.kc.off = "turned off"
	}
	s := &Snapshot{Time: time.Now(), MaxUserWatches: maxUserWatches(),
		Processes: []*Process{}, Unreadable: []*Unreadable{}}
	if err := c.read(s); err != nil {
		return nil, err
	}
	c.share()
	for _, p := range c.procs {
		out := &Process{Pid: p.pid, Comm: p.comm, Uid: p.uid, Instances: []*Instance{}}
		for _, in := range p.instances {
			c.judgeInstance(in)
			out.Instances = append(out.Instances, in.out)
		}
		nest(p)
		s.Processes = append(s.Processes, out)
		for _, in := range out.Instances {
			for _, r := range in.Registrations {
				if r.Stale != nil {
					s.Stale++
				}
			}
		}
	}
	s.Watches = c.watches(s)
	s.Kcmp = c.kc.off
	return s, nil
}

// read reads every process asked for. Processes that exit meanwhile are
// skipped unless named; those without epoll instances are left out unless
// named.
func (c *collector) read(s *Snapshot) error {
	pids, named := c.cfg.pids, c.cfg.pids != nil
	c.restRead = !named
	if !named {
		all, err := listPids()
		if err != nil {
			return err
		}
		pids = slices.DeleteFunc(all, func(pid int) bool { return pid == self })
	}
	for _, pid := range pids {
		p, err := readProcess(pid)
		switch {
		case errors.Is(err, errGone) && !named:
			continue
		case errors.Is(err, fs.ErrPermission) && !named && isKernelThread(pid):
			continue
		case err != nil:
			s.Unreadable = append(s.Unreadable, &Unreadable{Pid: pid, Comm: p.comm, Uid: p.uid, Error: why(err)})
			continue
		case len(p.instances) == 0 && !named:
			c.rest = append(c.rest, p)
			c.restPid[pid] = p
			continue
		}
		if _, dup := c.byPid[pid]; dup {
			continue
		}
		for _, in := range p.instances {
			in.out = &Instance{Fd: in.fd, Registrations: []*Registration{}}
		}
		c.procs = append(c.procs, p)
		c.byPid[pid] = p
	}
	return nil
}

// others returns the readable processes that are not shown, reading them
// first if PIDs were named. A process is read once per snapshot.
func (c *collector) others() []*rawProcess {
	if c.restRead {
		return c.rest
	}
	c.restRead = true
	all, err := listPids()
	if err != nil {
		return nil
	}
	for _, pid := range all {
		if _, shown := c.byPid[pid]; shown || pid == self {
			continue
		}
		if p, err := readProcess(pid); err == nil {
			c.rest = append(c.rest, p)
			c.restPid[pid] = p
		}
	}
	return c.rest
}

// proc returns the process read as pid, shown or not.
func (c *collector) proc(pid int) *rawProcess {
	if p := c.byPid[pid]; p != nil {
		return p
	}
	return c.restPid[pid]
}

// why says in a few words why a process could not be read.
func why(err error) string {
	switch {
	case errors.Is(err, errGone):
		return "no such process"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	return err.Error()
}

// judgeInstance judges and describes every registration of an instance.
// The kernel lists registrations in the order kcmp's toff counts them, so
// toff is counted here before the list is sorted by number for display.
func (c *collector) judgeInstance(in *rawInstance) {
	toff := map[int]int{}
	for _, r := range in.info.Registrations {
		reg := c.judge(in, r, toff[r.Fd])
		toff[r.Fd]++
		c.describe(in, reg)
		in.out.Registrations = append(in.out.Registrations, reg)
	}
	slices.SortStableFunc(in.out.Registrations, func(a, b *Registration) int { return a.Tfd - b.Tfd })
}

// nest links each registration of an epoll instance to that instance when
// the process holds it, so the text output can show the tree.
func nest(p *rawProcess) {
	byFd := map[int]*Instance{}
	for _, in := range p.instances {
		byFd[in.fd] = in.out
	}
	for _, in := range p.instances {
		for _, r := range in.out.Registrations {
			if r.Kind != "epoll" || r.file == nil || r.file.proc != p {
				continue
			}
			if child, ok := byFd[r.file.fd]; ok && child != in.out {
				fd := r.file.fd
				r.Nested, r.nested, child.Nested = &fd, child, true
				r.Detail = plural(len(child.Registrations), "registration")
			}
		}
	}
}

// share finds instances held by more than one descriptor (a dup, a fork, a
// descriptor passed over a unix socket): kcmp(2) compares the candidates,
// which are the instances with identical registration lists.
func (c *collector) share() {
	groups := map[string][]*rawInstance{}
	for _, p := range c.procs {
		for _, in := range p.instances {
			k := signature(in.info.Registrations)
			groups[k] = append(groups[k], in)
		}
	}
	for _, g := range groups {
		// Pairs grow as the square; past this many alike instances they
		// are left uncompared (and may be counted twice in the watches).
		if len(g) < 2 || len(g) > 256 {
			continue
		}
		for i, a := range g {
			for _, b := range g[i+1:] {
				if same, err := c.kc.sameFile(a.proc.pid, a.fd, b.proc.pid, b.fd); err == nil && same {
					a.out.SharedWith = append(a.out.SharedWith, PidFd{b.proc.pid, b.fd})
					b.out.SharedWith = append(b.out.SharedWith, PidFd{a.proc.pid, a.fd})
				}
			}
		}
	}
}

// signature is an instance's registration list as one string: two
// descriptors of one instance read at nearly the same time have the same.
func signature(regs []epollinfo.Registration) string {
	b := make([]byte, 0, 48*len(regs))
	for _, r := range regs {
		b = strconv.AppendInt(b, int64(r.Fd), 16)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(r.Events), 16)
		b = append(b, ' ')
		b = strconv.AppendUint(b, r.Data, 16)
		b = append(b, ' ')
		b = strconv.AppendUint(b, r.Ino, 16)
		b = append(b, ' ')
		b = append(b, r.Dev.String()...)
		b = append(b, '\n')
	}
	return string(b)
}

// plural returns "1 registration" or "n registrations" ("watches",
// "processes").
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if strings.HasSuffix(what, "s") || strings.HasSuffix(what, "ch") {
		return strconv.Itoa(n) + " " + what + "es"
	}
	return strconv.Itoa(n) + " " + what + "s"
}
