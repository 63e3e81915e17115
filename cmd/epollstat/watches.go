package main

import (
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
)

// maxUserWatchesPath holds fs.epoll.max_user_watches: how many
// registrations, in all its instances together, the kernel lets one user
// hold; EPOLL_CTL_ADD fails with ENOSPC past it.
const maxUserWatchesPath = "/proc/sys/fs/epoll/max_user_watches"

// maxUserWatches returns the limit, or -1 when it cannot be read.
func maxUserWatches() int64 {
	b, err := os.ReadFile(maxUserWatchesPath)
	if err != nil {
		return -1
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return -1
	}
	return v
}

// watches counts each user's registrations against the limit. The kernel
// charges an instance's registrations to the real uid of the process that
// created it; the process holding it now stands in for that. An instance
// held by several descriptors (dup, fork) counts once. The count is a
// lower bound for a user with processes that could not be read, and for
// every user when processes were named.
func (c *collector) watches(s *Snapshot) []*WatchUse {
	me := os.Getuid()
	byUid := map[int]*WatchUse{me: {Uid: me}}
	seen := map[PidFd]bool{}
	for _, p := range c.procs {
		for _, in := range p.instances {
			if seen[PidFd{p.pid, in.fd}] {
				continue
			}
			for _, o := range in.out.SharedWith {
				seen[o] = true
			}
			w := byUid[p.uid]
			if w == nil {
				w = &WatchUse{Uid: p.uid}
				byUid[p.uid] = w
			}
			w.Instances++
			w.Registrations += len(in.info.Registrations)
		}
	}
	for _, u := range s.Unreadable {
		if u.Error == "no such process" {
			continue
		}
		for uid, w := range byUid {
			if u.Uid == uid || u.Uid < 0 {
				w.LowerBound = true
			}
		}
	}
	// With processes named, the others were not counted at all.
	if c.cfg.pids != nil {
		for _, w := range byUid {
			w.LowerBound = true
		}
	}
	var out []*WatchUse
	for _, w := range byUid {
		w.Limit = s.MaxUserWatches
		if u, err := user.LookupId(strconv.Itoa(w.Uid)); err == nil {
			w.User = u.Username
		}
		out = append(out, w)
	}
	// The user running epollstat first, then by uid.
	slices.SortFunc(out, func(a, b *WatchUse) int {
		if (a.Uid == me) != (b.Uid == me) {
			if a.Uid == me {
				return -1
			}
			return 1
		}
		return a.Uid - b.Uid
	})
	return out
}
