package main

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/eventpoll/eventpoll/cmd/epollstat/internal/epollinfo"
	"golang.org/x/sys/unix"
)

// procRoot is where the proc file system is mounted.
const procRoot = "/proc"

// epollLink is what readlink(2) of an epoll descriptor shows.
const epollLink = "anon_inode:[eventpoll]"

// errGone means the process exited before or while it was read.
var errGone = errors.New("no such process")

// rawProcess is one process as read from /proc, before judging.
type rawProcess struct {
	pid       int
	comm      string
	uid       int
	fds       map[int]string // open descriptors: number to readlink(2) text
	order     []int          // the numbers of fds, in order
	ids       map[int]fileID // stat(2) of descriptors, filled as asked
	instances []*rawInstance
}

// rawInstance is one epoll descriptor with its parsed fdinfo.
type rawInstance struct {
	proc *rawProcess
	fd   int
	info *epollinfo.Fdinfo
	out  *Instance
}

// fileID is what stat(2) of /proc/PID/fd/N says of the file.
type fileID struct {
	ino  uint64
	dev  epollinfo.Dev
	mode uint32
	ok   bool // false: the stat failed (the descriptor was closed meanwhile)
}

func procPath(pid int, parts ...string) string {
	return procRoot + "/" + strconv.Itoa(pid) + "/" + strings.Join(parts, "/")
}

// readProcess reads a process's name, real uid, open descriptors and the
// fdinfo of each epoll descriptor. It fails with errGone when the process
// does not exist (or exits meanwhile), and with an error matching
// fs.ErrPermission when its descriptors are not ours to read: fdinfo and
// the fd directory need the access ptrace(2) would (PTRACE_MODE_READ).
func readProcess(pid int) (*rawProcess, error) {
	p := &rawProcess{pid: pid, uid: -1, fds: map[int]string{}, ids: map[int]fileID{}}
	comm, err := os.ReadFile(procPath(pid, "comm"))
	if err != nil {
		return p, gone(err)
	}
	p.comm = strings.TrimSuffix(string(comm), "\n")
	p.uid = readUid(pid)
	ents, err := os.ReadDir(procPath(pid, "fd"))
	if err != nil {
		return p, gone(err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// A descriptor closed since the listing is simply not open.
		if link, err := os.Readlink(procPath(pid, "fd", e.Name())); err == nil {
			p.fds[fd] = link
		}
	}
	p.order = slices.Sorted(maps.Keys(p.fds))
	for _, fd := range p.order {
		if p.fds[fd] != epollLink {
			continue
		}
		b, err := os.ReadFile(procPath(pid, "fdinfo", strconv.Itoa(fd)))
		if errors.Is(err, fs.ErrNotExist) {
			continue // closed since the listing
		}
		if err != nil {
			return p, gone(err)
		}
		info, err := epollinfo.ParseFdinfo(b)
		if err != nil {
			return p, err
		}
		p.instances = append(p.instances, &rawInstance{proc: p, fd: fd, info: info})
	}
	return p, nil
}

// gone turns ENOENT and ESRCH on a process's files into errGone.
func gone(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return errGone
	}
	return err
}

// readUid returns the process's real uid, the user the kernel charges for
// the epoll instances it creates (ep->user), or -1 if unknown.
func readUid(pid int) int {
	b, err := os.ReadFile(procPath(pid, "status"))
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Uid:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				if uid, err := strconv.Atoi(f[0]); err == nil {
					return uid
				}
			}
		}
	}
	return -1
}

// id returns stat(2) of descriptor fd, read once.
func (p *rawProcess) id(fd int) fileID {
	if id, ok := p.ids[fd]; ok {
		return id
	}
	var id fileID
	var st unix.Stat_t
	if err := unix.Stat(procPath(p.pid, "fd", strconv.Itoa(fd)), &st); err == nil {
		id = fileID{ino: st.Ino, dev: epollinfo.DevFromStat(uint64(st.Dev)), mode: st.Mode, ok: true}
	}
	p.ids[fd] = id
	return id
}

// fdinfo returns the parsed fdinfo of descriptor fd, or nil.
func (p *rawProcess) fdinfo(fd int) *epollinfo.Fdinfo {
	b, err := os.ReadFile(procPath(p.pid, "fdinfo", strconv.Itoa(fd)))
	if err != nil {
		return nil
	}
	info, err := epollinfo.ParseFdinfo(b)
	if err != nil {
		return nil
	}
	return info
}

// netns returns the name of the process's network namespace ("net:[N]"),
// or "" when it cannot be read.
func (p *rawProcess) netns() string {
	link, err := os.Readlink(procPath(p.pid, "ns", "net"))
	if err != nil {
		return ""
	}
	return link
}

// listPids returns the numeric entries of /proc, every process, in
// numeric order.
func listPids() ([]int, error) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids, nil
}

// pfKthread is PF_KTHREAD of include/linux/sched.h.
const pfKthread = 0x00200000

// isKernelThread reports whether pid is a kernel thread, which holds no
// descriptors: its fd directory is closed to other users, and it is no
// process epollstat failed to read.
func isKernelThread(pid int) bool {
	b, err := os.ReadFile(procPath(pid, "stat"))
	if err != nil {
		return false
	}
	// pid (comm) state ppid pgrp session tty_nr tpgid flags ...; comm may
	// hold blanks and parentheses, so count from the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 7 {
		return false
	}
	flags, err := strconv.ParseUint(f[6], 10, 32)
	return err == nil && flags&pfKthread != 0
}
