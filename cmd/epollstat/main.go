// Command epollstat shows what the epoll instances of processes watch, and
// which of their registrations are stale.
//
// Usage:
//
//	epollstat [-stale] [-json] [-watch D] [PID...]
//
// With no PID it reads every process it may (every one as root, the user's
// own otherwise) except itself, and lists those that hold an epoll
// instance. For each instance it prints the process, the descriptor and the
// number of registrations, then one line per registration: the number the
// file was added under (tfd), the events as the kernel holds them (EPOLLERR
// and EPOLLHUP are always added; "(disarmed)" marks an EPOLLONESHOT
// registration that has fired), the user data in hexadecimal, and what the
// file is: a socket with its addresses and state from /proc/PID/net (tcp,
// tcp6, udp, udp6, udplite, raw, unix, netlink), a pipe or FIFO, an eventfd,
// a timerfd with its clock, a signalfd with its signals, an inotify instance
// with its number of watches, a pidfd with its process, an io_uring, or
// another epoll instance, whose registrations are shown under it as a tree.
// A summary ends the list: each user's registrations against
// fs.epoll.max_user_watches, the limit past which EPOLL_CTL_ADD fails with
// ENOSPC.
//
// Everything comes from /proc/PID/fd and /proc/PID/fdinfo (see package
// internal/epollinfo for the kernel's format). The look is not atomic: a
// process that changes its descriptors meanwhile may be shown half before,
// half after.
//
// # Stale registrations
//
// epoll keys a registration by the open file, not by the descriptor number.
// After close(2) the registration stays while any other descriptor holds
// the file (a dup, a forked child, a descriptor in flight in a unix socket
// message), and the kernel keeps reporting the file's events with the old
// data, for a file the program no longer names, or names by a number that
// by now belongs to another file. A registration is STALE when
//
//   - closed: its number is not open in the process, or
//   - reused: its number is open but names another file.
//
// The test is kcmp(2) with KCMP_EPOLL_TFD, which compares the registered
// file itself (Linux 4.13 with CONFIG_KCMP). Where kcmp is missing or
// refused, epollstat compares the inode and device that fdinfo gives since
// Linux 4.13 with stat(2) of the number: that cannot tell two anonymous
// files apart (every eventfd, timerfd, signalfd and epoll instance lives on
// one inode), and the summary says so. Before Linux 4.13 only a closed number
// is caught. For each stale registration epollstat names the descriptors
// that still hold the file: in the process itself, in the processes that
// share the instance, or failing those in any process it can read. A file
// held by none of them is in flight in a unix socket message, or held by
// the kernel (an io_uring's registered files).
//
// # Flags
//
//	-stale    list only the stale registrations (no tree, no summary)
//	-json     print the snapshot as JSON (schema below) instead of text
//	-watch D  look again every D (at least 100ms) until interrupted, or until
//	          every PID named has exited
//
// # Permissions
//
// A process's descriptors can be read by whoever may ptrace(2) it for
// reading: its own user, or root. Processes that cannot be read are named
// on standard error, one line per cause (with -json, in "unreadable"), and
// left out; kernel threads, which hold no descriptors, are skipped. A user
// with processes that could not be read has the count against
// max_user_watches marked "at least"; so has every user when PIDs are
// named, since the other processes were not counted.
//
// # Exit status
//
// 0 when no stale registration was found, 1 when at least one was, 2 on a
// usage error, when /proc cannot be read, or when a named process could not
// be read (2 wins over 1). With -watch, the status of the last look.
//
// # JSON
//
// -json prints one document per look (with -watch, one after another):
//
//	{
//	  "time": "2026-12-02T13:37:00.123456789Z",  // RFC 3339
//	  "max_user_watches": 5491378,               // -1 if unreadable
//	  "processes": [{
//	    "pid": 812, "comm": "server", "uid": 1000,
//	    "instances": [{
//	      "fd": 3,
//	      "nested": false,                        // registered in another instance of the process
//	      "shared_with": [{"pid": 813, "fd": 3}], // the same instance elsewhere (omitted if none)
//	      "registrations": [{
//	        "tfd": 5,                             // the number the file was added under
//	        "events": "IN|ERR|HUP|ET", "events_mask": 2147483673,
//	        "data": "0x5",                        // hexadecimal string: 64 bits do not fit a JSON number
//	        "disarmed": false,                    // EPOLLONESHOT that has fired
//	        "ino": 64866, "dev": "0:9",           // the registered file (omitted before Linux 4.13)
//	        "kind": "socket",                     // socket pipe fifo eventfd timerfd signalfd inotify fanotify
//	                                              // pidfd io_uring epoll anon_inode device file unknown
//	        "target": "socket:[64866]",           // readlink of a descriptor of the file, "" if none
//	        "detail": "tcp 127.0.0.1:8080 LISTEN",
//	        "socket": {"proto": "tcp", "local": "127.0.0.1:8080", "state": "LISTEN"}, // sockets only;
//	                                              // also "type" (unix, netlink) and "peer" (connected)
//	        "nested_fd": 7,                       // kind epoll: that instance's fd here (omitted otherwise)
//	        "check": "kcmp",                      // how tfd was matched to the file: kcmp, inode or open
//	        "stale": null                         // or {"reason": "closed"|"reused", "why": "...",
//	                                              //     "now": "pipe:[9]" (reused: what tfd names now),
//	                                              //     "held_as": [{"pid": 812, "fd": 11}]}
//	      }]
//	    }]
//	  }],
//	  "unreadable": [{"pid": 1, "comm": "systemd", "uid": 0, "error": "permission denied"}],
//	  "watches": [{"uid": 1000, "user": "ana", "instances": 4, "registrations": 37,
//	               "limit": 5491378, "lower_bound": true}],
//	  "stale": 1,                                 // stale registrations found
//	  "kcmp": "kcmp(2): function not implemented" // why kcmp was not used (omitted when it was)
//	}
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// self is our own pid, left out when every process is read.
var self = os.Getpid()

// minWatch is the shortest -watch period: a shorter one would spend the
// machine on reading /proc.
const minWatch = 100 * time.Millisecond

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the parsed command line.
type options struct {
	cfg       config
	staleOnly bool
	json      bool
	watch     time.Duration
}

// run is main without the exit: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args, stderr)
	if err == flag.ErrHelp {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "epollstat:", err)
		return 2
	}
	tick := time.NewTicker(max(o.watch, minWatch))
	defer tick.Stop()
	for {
		code := once(o, stdout, stderr)
		if o.watch == 0 || code == 2 && len(o.cfg.pids) > 0 && allGone(o) {
			return code
		}
		select {
		case <-ctx.Done():
			return code
		case <-tick.C:
		}
	}
}

func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("epollstat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.staleOnly, "stale", false, "list only stale registrations; exit status 1 if any")
	fs.BoolVar(&o.json, "json", false, "print JSON instead of text")
	fs.DurationVar(&o.watch, "watch", 0, "look again every `D` until interrupted")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: epollstat [-stale] [-json] [-watch D] [PID...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.watch != 0 && o.watch < minWatch {
		return o, fmt.Errorf("-watch %v: the period must be at least %v", o.watch, minWatch)
	}
	for _, a := range fs.Args() {
		pid, err := strconv.Atoi(a)
		if err != nil || pid <= 0 {
			return o, fmt.Errorf("%q is not a process id", a)
		}
		o.cfg.pids = append(o.cfg.pids, pid)
	}
	return o, nil
}

// once takes one look and prints it; it returns the exit status.
func once(o options, stdout, stderr io.Writer) int {
	s, err := collect(o.cfg)
	if err != nil {
		fmt.Fprintln(stderr, "epollstat:", err)
		return 2
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // "->" in a socket's detail, not "-\u003e"
		err = enc.Encode(s)
	} else {
		if o.watch != 0 {
			startPage(stdout, s.Time)
		}
		err = writeText(stdout, s, o.staleOnly)
		writeUnreadable(stderr, s)
	}
	if err != nil {
		fmt.Fprintln(stderr, "epollstat:", err)
		return 2
	}
	return status(o, s)
}

// status is the exit status of a snapshot: 2 if a named process could not
// be read, else 1 if anything is stale, else 0.
func status(o options, s *Snapshot) int {
	if o.cfg.pids != nil && len(s.Unreadable) > 0 {
		return 2
	}
	if s.Stale > 0 {
		return 1
	}
	return 0
}

// allGone is a stop for -watch: every named process has exited, so no
// later look can show anything.
func allGone(o options) bool {
	for _, pid := range o.cfg.pids {
		if _, err := os.Stat(procPath(pid)); err == nil {
			return false
		}
	}
	return true
}

// startPage begins a -watch look: on a terminal it clears the screen; in
// any case it writes a line with the time, which tells the looks apart.
func startPage(w io.Writer, t time.Time) {
	if f, ok := w.(*os.File); ok {
		if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			fmt.Fprint(w, "\x1b[H\x1b[2J")
		}
	}
	fmt.Fprintf(w, "# %s\n", t.Format("2006-01-02T15:04:05.000Z07:00"))
}
