package main

import (
	"os"
	"strconv"
	"strings"

	"github.com/eventpoll/eventpoll/cmd/epollstat/internal/epollinfo"
	"golang.org/x/sys/unix"
)

// describe fills in what a registered file is: through a descriptor that
// holds it when there is one, else from the socket tables by its inode.
func (c *collector) describe(in *rawInstance, reg *Registration) {
	switch {
	case reg.file != nil:
		q, fd := reg.file.proc, reg.file.fd
		reg.Target = q.fds[fd]
		reg.Kind, reg.Detail, reg.Socket = c.what(q, fd, reg.Target)
	case reg.Ino != 0:
		if s, ok := c.socket(in.proc, reg.Ino); ok {
			reg.Kind, reg.Target, reg.Detail = "socket", "socket:["+strconv.FormatUint(reg.Ino, 10)+"]", s.String()
			reg.Socket = socketInfo(s)
		} else {
			reg.Detail = "inode " + strconv.FormatUint(reg.Ino, 10) + " on " + reg.Dev
		}
	}
	if reg.Stale != nil {
		if reg.Stale.Reason == "reused" {
			kind, detail, _ := c.what(in.proc, reg.Tfd, reg.Stale.Now)
			reg.nowIs = strings.TrimSpace(kind + " " + detail)
		}
		reg.Stale.Why = staleWhy(reg, in.proc.pid)
	}
}

// anonKinds maps readlink(2) text of anonymous files to their kind.
var anonKinds = map[string]string{
	"anon_inode:[eventfd]":   "eventfd",
	"anon_inode:[timerfd]":   "timerfd",
	"anon_inode:[signalfd]":  "signalfd",
	"anon_inode:inotify":     "inotify",
	"anon_inode:[fanotify]":  "fanotify",
	"anon_inode:[pidfd]":     "pidfd",
	"anon_inode:[io_uring]":  "io_uring",
	"anon_inode:[eventpoll]": "epoll",
}

// what tells a file's kind and a detail from its readlink(2) text, its
// stat(2) and its fdinfo.
func (c *collector) what(q *rawProcess, fd int, link string) (kind, detail string, sock *SocketInfo) {
	if k, ok := anonKinds[link]; ok {
		return k, c.anonDetail(q, fd, k), nil
	}
	switch {
	case strings.HasPrefix(link, "socket:["):
		ino, err := strconv.ParseUint(strings.TrimSuffix(link[len("socket:["):], "]"), 10, 64)
		if s, ok := c.socket(q, ino); err == nil && ok {
			return "socket", s.String(), socketInfo(s)
		}
		return "socket", "", nil // a family /proc/net does not list (packet, vsock, ...)
	case strings.HasPrefix(link, "pipe:["):
		return "pipe", "", nil
	case strings.HasPrefix(link, "pidfd:"): // pidfs names (Linux 6.9 and later)
		return "pidfd", c.anonDetail(q, fd, "pidfd"), nil
	case strings.HasPrefix(link, "anon_inode:"):
		return "anon_inode", strings.Trim(link[len("anon_inode:"):], "[]"), nil
	case strings.HasPrefix(link, "/"):
		switch q.id(fd).mode & unix.S_IFMT {
		case unix.S_IFIFO:
			return "fifo", link, nil
		case unix.S_IFCHR, unix.S_IFBLK:
			return "device", link, nil
		}
		return "file", link, nil
	}
	return "unknown", link, nil
}

// anonDetail reads the fdinfo lines that tell one anonymous file from
// another of its kind.
func (c *collector) anonDetail(q *rawProcess, fd int, kind string) string {
	if kind == "epoll" || kind == "eventfd" || kind == "io_uring" {
		return "" // epoll: nest fills it in; the others say nothing useful
	}
	info := q.fdinfo(fd)
	if info == nil {
		return ""
	}
	switch kind {
	case "timerfd":
		id, _ := info.Field("clockid")
		d := clockName(id)
		if v, ok := info.Field("it_value"); ok && v != "(0, 0)" {
			d += ", armed"
		}
		return d
	case "signalfd":
		mask, _ := info.Field("sigmask")
		return signalNames(mask)
	case "inotify":
		return plural(info.Count("inotify wd"), "watch")
	case "fanotify":
		return plural(info.Count("fanotify ino"), "mark")
	case "pidfd":
		if pid, ok := info.Field("Pid"); ok {
			if pid == "-1" {
				return "process reaped"
			}
			return "pid " + pid
		}
	}
	return ""
}

// clockName names a clockid_t as timerfd's fdinfo prints it.
func clockName(id string) string {
	names := map[string]string{
		"0": "CLOCK_REALTIME", "1": "CLOCK_MONOTONIC", "7": "CLOCK_BOOTTIME",
		"8": "CLOCK_REALTIME_ALARM", "9": "CLOCK_BOOTTIME_ALARM",
	}
	if n, ok := names[id]; ok {
		return n
	}
	return "clock " + id
}

// signalNames turns a signalfd sigmask (hexadecimal, bit n-1 for signal n)
// into "SIGINT,SIGTERM".
func signalNames(mask string) string {
	m, err := strconv.ParseUint(mask, 16, 64)
	if err != nil {
		return "sigmask " + mask
	}
	var names []string
	for sig := 1; sig <= 64; sig++ {
		if m&(1<<(sig-1)) == 0 {
			continue
		}
		name := unix.SignalName(unix.Signal(sig))
		if name == "" {
			name = "SIG" + strconv.Itoa(sig)
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return "no signals"
	}
	return strings.Join(names, ",")
}

// socket looks up a socket inode in the tables of q's network namespace,
// read once per namespace.
func (c *collector) socket(q *rawProcess, ino uint64) (epollinfo.Socket, bool) {
	ns := q.netns()
	if ns == "" {
		ns = "pid " + strconv.Itoa(q.pid) // unreadable namespace link: read this process's own view
	}
	tab, ok := c.nets[ns]
	if !ok {
		tab = map[uint64]epollinfo.Socket{}
		for _, name := range epollinfo.NetTables {
			b, err := os.ReadFile(procPath(q.pid, "net", name))
			if err != nil {
				continue // a table the kernel lacks (no IPv6, no udplite)
			}
			socks, err := epollinfo.ParseNet(name, b)
			if err != nil {
				continue
			}
			for _, s := range socks {
				if s.Ino != 0 {
					tab[s.Ino] = s
				}
			}
		}
		c.nets[ns] = tab
	}
	s, ok := tab[ino]
	return s, ok
}

func socketInfo(s epollinfo.Socket) *SocketInfo {
	return &SocketInfo{Proto: s.Proto, Type: s.Type, Local: s.Local, Peer: s.Peer, State: s.State}
}
