package main

import "time"

// Snapshot is what one look at /proc found: the JSON document -json prints
// (its schema is in the package comment) and what the text output renders.
type Snapshot struct {
	Time           time.Time     `json:"time"`
	MaxUserWatches int64         `json:"max_user_watches"` // -1 when /proc/sys/fs/epoll/max_user_watches is unreadable
	Processes      []*Process    `json:"processes"`
	Unreadable     []*Unreadable `json:"unreadable"`
	Watches        []*WatchUse   `json:"watches"`
	Stale          int           `json:"stale"`          // stale registrations in all processes
	Kcmp           string        `json:"kcmp,omitempty"` // why kcmp(2) was not used, "" when it was
}

// Process is one process that holds epoll instances (or was named).
type Process struct {
	Pid       int         `json:"pid"`
	Comm      string      `json:"comm"`
	Uid       int         `json:"uid"`
	Instances []*Instance `json:"instances"`
}

// Instance is one epoll descriptor of a process.
type Instance struct {
	Fd            int             `json:"fd"`
	Registrations []*Registration `json:"registrations"`
	// Nested says this instance is registered in another instance of the
	// same process; the text output shows it under that registration.
	Nested bool `json:"nested"`
	// SharedWith lists the other processes that hold the same instance
	// (after fork, or passed over a unix socket), as kcmp(2) tells.
	SharedWith []PidFd `json:"shared_with,omitempty"`
}

// PidFd names a descriptor of a process.
type PidFd struct {
	Pid int `json:"pid"`
	Fd  int `json:"fd"`
}

// Registration is one file in an instance's interest set.
type Registration struct {
	Tfd      int    `json:"tfd"`         // the number the file was added under
	Events   string `json:"events"`      // the interest set, "IN|ERR|HUP|ET"
	Mask     uint32 `json:"events_mask"` // the same as a number
	Data     string `json:"data"`        // the user data, "0x..."
	Disarmed bool   `json:"disarmed"`    // a ONESHOT registration that has fired
	Ino      uint64 `json:"ino,omitempty"`
	Dev      string `json:"dev,omitempty"` // "major:minor" of the file system; with ino absent before Linux 4.13

	// What the registered file is: Kind is one of socket, pipe, fifo,
	// eventfd, timerfd, signalfd, inotify, fanotify, pidfd, io_uring,
	// epoll, anon_inode, device, file, unknown; Target is what readlink(2)
	// shows for a descriptor of it ("" when none in reach); Detail says more
	// ("tcp 127.0.0.1:80 LISTEN", "CLOCK_MONOTONIC", "pid 812").
	Kind   string      `json:"kind"`
	Target string      `json:"target"`
	Detail string      `json:"detail,omitempty"`
	Socket *SocketInfo `json:"socket,omitempty"`
	Nested *int        `json:"nested_fd,omitempty"` // kind epoll: the fd of that instance in this process
	Check  string      `json:"check"`               // how tfd was matched to the file: kcmp, inode or open
	Stale  *Stale      `json:"stale"`               // null when the registration is not stale

	file      *fileRef  // where the registered file can be seen, nil when nowhere
	nested    *Instance // the instance Nested names, for the text tree
	maybeHeld []PidFd   // without kcmp: descriptors on the registered anonymous inode
	nowIs     string    // reused: what the number names now, as kind and detail
}

// SocketInfo is a socket's entry in its network namespace's /proc/net table.
type SocketInfo struct {
	Proto string `json:"proto"`
	Type  string `json:"type,omitempty"`
	Local string `json:"local"`
	Peer  string `json:"peer,omitempty"`
	State string `json:"state,omitempty"`
}

// Stale says why a registration no longer matches its number.
type Stale struct {
	// Reason is "closed" (tfd is not open in the process) or "reused"
	// (tfd is open but names another file).
	Reason string `json:"reason"`
	Why    string `json:"why"`
	// Now is what tfd names now (reused only): its readlink(2).
	Now string `json:"now,omitempty"`
	// HeldAs lists the descriptors that still hold the registered file:
	// it stays registered, and reported, until the last of them closes.
	HeldAs []PidFd `json:"held_as"`
}

// Unreadable is a process whose descriptors could not be read.
type Unreadable struct {
	Pid   int    `json:"pid"`
	Comm  string `json:"comm,omitempty"`
	Uid   int    `json:"uid"` // -1 when unknown
	Error string `json:"error"`
}

// WatchUse is one user's use of fs.epoll.max_user_watches.
type WatchUse struct {
	Uid           int    `json:"uid"`
	User          string `json:"user,omitempty"`
	Instances     int    `json:"instances"`
	Registrations int    `json:"registrations"`
	Limit         int64  `json:"limit"`
	// LowerBound says some of the user's processes could not be read, so
	// the true use may be higher.
	LowerBound bool `json:"lower_bound"`
}
