package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// maxNest bounds the tree's depth. The kernel refuses nesting deeper than
// 5 instances (EP_MAX_NESTS) and any loop, but a snapshot is not atomic.
const maxNest = 8

// writeText renders a snapshot as the text output: one block per root
// instance with its registrations as a tree, then the watch summary. With
// staleOnly, only stale registrations and their instances are shown, and no
// summary.
func writeText(w io.Writer, s *Snapshot, staleOnly bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, p := range s.Processes {
		name := "pid " + strconv.Itoa(p.Pid) + " (" + p.Comm + ")"
		if len(p.Instances) == 0 && !staleOnly {
			fmt.Fprintf(tw, "%s: no epoll instances\n", name)
		}
		for _, in := range p.Instances {
			if staleOnly {
				writeStale(tw, name, in)
			} else if !in.Nested {
				fmt.Fprintf(tw, "%s epoll fd %d: %s%s\n", name, in.Fd, plural(len(in.Registrations), "registration"), shared(in))
				writeTree(tw, in, "", 0)
			}
		}
	}
	if !staleOnly {
		writeSummary(tw, s)
	}
	return tw.Flush()
}

// writeTree writes an instance's registrations, each nested instance's
// under its registration.
func writeTree(w io.Writer, in *Instance, indent string, depth int) {
	for i, r := range in.Registrations {
		branch, next := "├─ ", "│  "
		if i == len(in.Registrations)-1 {
			branch, next = "└─ ", "   "
		}
		writeRow(w, indent+branch, indent+next, r)
		if r.nested != nil && depth < maxNest {
			writeTree(w, r.nested, indent+next, depth+1)
		}
	}
}

// writeStale writes the stale registrations of an instance under its
// header, without the tree.
func writeStale(w io.Writer, name string, in *Instance) {
	n := 0
	for _, r := range in.Registrations {
		if r.Stale != nil {
			n++
		}
	}
	if n == 0 {
		return
	}
	fmt.Fprintf(w, "%s epoll fd %d: %s, %d stale%s\n", name, in.Fd, plural(len(in.Registrations), "registration"), n, shared(in))
	for _, r := range in.Registrations {
		if r.Stale != nil {
			writeRow(w, "   ", "   ", r)
		}
	}
}

// writeRow writes one registration: number, events, data, kind and what
// is known of the file; for a stale one, a second line (begun with cont,
// the tree's continuation) says why, in the column of what.
func writeRow(w io.Writer, prefix, cont string, r *Registration) {
	events := r.Events
	if r.Disarmed {
		events += " (disarmed)"
	}
	what := r.Detail
	if what == "" && !strings.HasPrefix(r.Target, "anon_inode:") {
		what = r.Target // pipe:[N] tells which pipe; anon_inode:[eventfd] only repeats the kind
	}
	fmt.Fprintf(w, "%sfd %d\t%s\tdata %s\t%s", prefix, r.Tfd, events, r.Data, r.Kind)
	if what != "" {
		// Only a cell ended by a tab is padded: without what, the line
		// ends at the kind, with no trailing blanks.
		fmt.Fprintf(w, "\t%s", what)
	}
	fmt.Fprintln(w)
	if r.Stale != nil {
		fmt.Fprintf(w, "%s\t\t\t\tSTALE %s: %s\n", cont, r.Stale.Reason, r.Stale.Why)
	}
}

// shared notes the other descriptors that hold the same instance.
func shared(in *Instance) string {
	if len(in.SharedWith) == 0 {
		return ""
	}
	var parts []string
	for _, o := range in.SharedWith {
		parts = append(parts, "fd "+strconv.Itoa(o.Fd)+" of pid "+strconv.Itoa(o.Pid))
	}
	return " (also " + strings.Join(parts, ", ") + ")"
}

// writeSummary writes each user's use of fs.epoll.max_user_watches, and
// how numbers were matched to files when kcmp(2) could not be used.
func writeSummary(w io.Writer, s *Snapshot) {
	if len(s.Processes) > 0 {
		fmt.Fprintln(w)
	}
	for _, u := range s.Watches {
		who := "uid " + strconv.Itoa(u.Uid)
		if u.User != "" {
			who += " (" + u.User + ")"
		}
		least := ""
		if u.LowerBound {
			least = "at least "
		}
		use := ""
		if s.MaxUserWatches > 0 {
			use = fmt.Sprintf(" of fs.epoll.max_user_watches %d (%s)", s.MaxUserWatches, percent(u.Registrations, s.MaxUserWatches))
		}
		fmt.Fprintf(w, "%s: %s%s in %s%s\n", who, least, plural(u.Registrations, "registration"), plural(u.Instances, "instance"), use)
	}
	if s.Kcmp != "" {
		fmt.Fprintf(w, "kcmp unavailable (%s): numbers matched to files by inode and device, which cannot tell two eventfds, timerfds, signalfds or epoll instances apart\n", s.Kcmp)
	}
}

// writeUnreadable writes one line per cause naming the processes that
// could not be read, up to ten of each.
func writeUnreadable(w io.Writer, s *Snapshot) {
	byWhy := map[string][]string{}
	var order []string
	for _, u := range s.Unreadable {
		if _, ok := byWhy[u.Error]; !ok {
			order = append(order, u.Error)
		}
		name := strconv.Itoa(u.Pid)
		if u.Comm != "" {
			name += " (" + u.Comm + ")"
		}
		byWhy[u.Error] = append(byWhy[u.Error], name)
	}
	for _, why := range order {
		names := byWhy[why]
		more := ""
		if len(names) > 10 {
			more = fmt.Sprintf(" and %d more", len(names)-10)
			names = names[:10]
		}
		fmt.Fprintf(w, "epollstat: could not read %s: %s: %s%s\n", plural(len(byWhy[why]), "process"), why, strings.Join(names, ", "), more)
	}
}

// percent returns part/whole as "12.34%", or "<0.01%" for a use too small
// to show but not nothing.
func percent(part int, whole int64) string {
	p := 100 * float64(part) / float64(whole)
	if p > 0 && p < 0.01 {
		return "<0.01%"
	}
	return fmt.Sprintf("%.2f%%", p)
}
