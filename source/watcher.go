package source

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/eventpoll/eventpoll/internal/bitnames"
	"github.com/eventpoll/eventpoll/internal/fdlife"
	"golang.org/x/sys/unix"
)

// WatchOp is a set of inotify(7) event bits: what to watch for in
// Watcher.Add, and what happened in WatchEvent.Op. The constants have the
// values of the kernel's IN_* macros; their names all begin with Watch, so
// none can be mistaken for an epoll flag or command (WatchOneShot is
// IN_ONESHOT, not epoll.OneShot; WatchDelete is IN_DELETE, not
// epoll.OpDelete).
type WatchOp uint32

// Events that can be watched for and are reported.
const (
	WatchAccess       WatchOp = unix.IN_ACCESS        // file read
	WatchModify       WatchOp = unix.IN_MODIFY        // file written
	WatchAttrib       WatchOp = unix.IN_ATTRIB        // metadata changed (mode, owner, times, links)
	WatchCloseWrite   WatchOp = unix.IN_CLOSE_WRITE   // file opened for writing closed
	WatchCloseNoWrite WatchOp = unix.IN_CLOSE_NOWRITE // file not opened for writing closed
	WatchOpen         WatchOp = unix.IN_OPEN          // file opened
	WatchMovedFrom    WatchOp = unix.IN_MOVED_FROM    // entry renamed out of a watched directory
	WatchMovedTo      WatchOp = unix.IN_MOVED_TO      // entry renamed into a watched directory
	WatchCreate       WatchOp = unix.IN_CREATE        // entry created in a watched directory
	WatchDelete       WatchOp = unix.IN_DELETE        // entry deleted from a watched directory
	WatchDeleteSelf   WatchOp = unix.IN_DELETE_SELF   // the watched path itself deleted
	WatchMoveSelf     WatchOp = unix.IN_MOVE_SELF     // the watched path itself moved

	WatchAll WatchOp = unix.IN_ALL_EVENTS
)

// Bits only reported, never asked for.
const (
	WatchUnmount  WatchOp = unix.IN_UNMOUNT    // the file system holding the watched path was unmounted
	WatchOverflow WatchOp = unix.IN_Q_OVERFLOW // the kernel's event queue overflowed: events were lost
	WatchIgnored  WatchOp = unix.IN_IGNORED    // the watch was removed (Remove, deletion, unmount)
	WatchIsDir    WatchOp = unix.IN_ISDIR      // the subject of the event is a directory
)

// Flags that change how Add watches.
const (
	WatchOnlyDir    WatchOp = unix.IN_ONLYDIR     // fail with ENOTDIR unless the path is a directory
	WatchDontFollow WatchOp = unix.IN_DONT_FOLLOW // do not follow a final symbolic link
	WatchExclUnlink WatchOp = unix.IN_EXCL_UNLINK // no events for children after they are unlinked
	WatchMaskCreate WatchOp = unix.IN_MASK_CREATE // fail with EEXIST if the path is already watched (Linux 4.18)
	WatchMaskAdd    WatchOp = unix.IN_MASK_ADD    // add to the mask of an existing watch instead of replacing it
	WatchOneShot    WatchOp = unix.IN_ONESHOT     // remove the watch after its first event
)

var opNames = [...]bitnames.Name[WatchOp]{
	{Bit: WatchAccess, Name: "ACCESS"}, {Bit: WatchModify, Name: "MODIFY"}, {Bit: WatchAttrib, Name: "ATTRIB"}, {Bit: WatchCloseWrite, Name: "CLOSE_WRITE"},
	{Bit: WatchCloseNoWrite, Name: "CLOSE_NOWRITE"}, {Bit: WatchOpen, Name: "OPEN"}, {Bit: WatchMovedFrom, Name: "MOVED_FROM"}, {Bit: WatchMovedTo, Name: "MOVED_TO"},
	{Bit: WatchCreate, Name: "CREATE"}, {Bit: WatchDelete, Name: "DELETE"}, {Bit: WatchDeleteSelf, Name: "DELETE_SELF"}, {Bit: WatchMoveSelf, Name: "MOVE_SELF"},
	{Bit: WatchUnmount, Name: "UNMOUNT"}, {Bit: WatchOverflow, Name: "Q_OVERFLOW"}, {Bit: WatchIgnored, Name: "IGNORED"},
	{Bit: WatchOnlyDir, Name: "ONLYDIR"}, {Bit: WatchDontFollow, Name: "DONT_FOLLOW"}, {Bit: WatchExclUnlink, Name: "EXCL_UNLINK"},
	{Bit: WatchMaskCreate, Name: "MASK_CREATE"}, {Bit: WatchMaskAdd, Name: "MASK_ADD"}, {Bit: WatchIsDir, Name: "ISDIR"}, {Bit: WatchOneShot, Name: "ONESHOT"},
}

// String returns the set as kernel names without the IN_ prefix, joined by
// "|": (WatchCreate|WatchIsDir).String() is "CREATE|ISDIR". Unnamed bits
// are printed as one hexadecimal number at the end; the empty set is "0".
func (o WatchOp) String() string {
	return bitnames.Format(o, opNames[:])
}

// ErrOverflow is the Err of the WatchEvent that reports IN_Q_OVERFLOW: the
// kernel's queue for this Watcher was full (see
// /proc/sys/fs/inotify/max_queued_events) and events were dropped. A program
// that keeps a picture of the watched tree must rescan it.
var ErrOverflow = errors.New("inotify event queue overflowed: events were lost")

// WatchEvent is one decoded inotify event.
type WatchEvent struct {
	Watch  int     // the watch descriptor Add returned; -1 for an overflow
	Op     WatchOp // what happened
	Cookie uint32  // pairs a WatchMovedFrom with its WatchMovedTo; 0 otherwise
	Name   string  // the entry's name inside a watched directory; "" for the watched path itself
	Path   string  // the watched path (cleaned, as filepath.Clean) joined with Name; "" if the watch is unknown (removed)
	Err    error   // ErrOverflow for an IN_Q_OVERFLOW event; nil otherwise
}

// Watcher is an inotify(7) instance: a set of watched paths whose changes
// are read as a byte stream of events from one descriptor, readable while
// events are queued.
//
// Watches follow inodes, not names: a watched file that is renamed stays
// watched under its new name, and one that is replaced (written to a
// temporary name and renamed over, as editors do) is not watched any more;
// watch its directory instead. Watching is not recursive: a directory watch
// reports changes to its entries, not inside its subdirectories.
//
// The zero Watcher is not usable: every method returns an error matching
// ErrClosed (ErrNotCreated), Fd returns -1, and no call touches descriptor 0.
type Watcher struct {
	fd fdlife.FD

	mu    sync.Mutex     // guards paths, and buf during Read
	paths map[int]string // watch descriptor -> path
	buf   []byte
}

var errWatcherAgain = wouldBlock("inotify read")

// inotifyHeader is the size of struct inotify_event without its name.
const inotifyHeader = 16

// NewWatcher creates an inotify instance with inotify_init1(IN_NONBLOCK|
// IN_CLOEXEC).
//
// Errors: EMFILE when the per-user limit of inotify instances
// (/proc/sys/fs/inotify/max_user_instances) or of descriptors is reached;
// ENFILE; ENOMEM.
func NewWatcher() (*Watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, callError("inotify_init1", -1, err)
	}
	w := &Watcher{
		paths: map[int]string{},
		// Room for many events per read; the kernel needs at least one
		// header plus NAME_MAX+1 name bytes or it answers EINVAL.
		buf: make([]byte, 16*(inotifyHeader+unix.NAME_MAX+1)),
	}
	w.fd.Init(fd)
	return w, nil
}

// Fd returns the inotify descriptor, to register for epoll.In. It is -1 once
// Close has begun, and on a zero Watcher.
func (w *Watcher) Fd() int { return w.fd.Fd() }

// Add watches path for the events in op (and the flags among them) with
// inotify_add_watch, and returns the watch descriptor that events carry.
// Adding a path already watched returns the same descriptor and replaces
// its mask (or adds to it with WatchMaskAdd).
//
// Errors: ENOENT when the path does not exist; EACCES without read
// permission; ENOTDIR with WatchOnlyDir on a non-directory; EEXIST with
// WatchMaskCreate on a watched path; ENOSPC when the per-user limit of
// watches (/proc/sys/fs/inotify/max_user_watches) is reached; EINVAL (an
// argument error, before the system call) when op has no event bit, a bit
// that cannot be watched for, or both WatchMaskCreate and WatchMaskAdd, or
// the path is empty or holds a NUL; ErrClosed after Close.
func (w *Watcher) Add(path string, op WatchOp) (int, error) {
	call := "inotify_add_watch " + strconv.Quote(path)
	if err := checkWatch(call, path, op); err != nil {
		return -1, err
	}
	if err := acquire(&w.fd, call); err != nil {
		return -1, err
	}
	defer w.fd.Release()
	wd, err := unix.InotifyAddWatch(w.fd.Sysfd(), path, uint32(op))
	if err != nil {
		return -1, callError(call, w.fd.Sysfd(), err)
	}
	w.mu.Lock()
	w.paths[wd] = filepath.Clean(path)
	w.mu.Unlock()
	return wd, nil
}

// checkWatch refuses, before the system call, what inotify_add_watch would
// refuse with EINVAL whatever the path names: a mask the kernel rejects, a
// path it cannot receive.
func checkWatch(call, path string, op WatchOp) error {
	const flags = WatchOnlyDir | WatchDontFollow | WatchExclUnlink | WatchMaskCreate | WatchMaskAdd | WatchOneShot
	switch {
	case path == "" || strings.IndexByte(path, 0) >= 0:
		return invalid(call, "empty path or path containing NUL")
	case op&WatchAll == 0:
		return invalid(call, "no event to watch for in "+op.String())
	case op&^(WatchAll|flags) != 0:
		return invalid(call, "bits that cannot be watched for: "+(op&^(WatchAll|flags)).String())
	case op&WatchMaskCreate != 0 && op&WatchMaskAdd != 0:
		return invalid(call, "MASK_CREATE and MASK_ADD together")
	}
	return nil
}

// Remove removes a watch with inotify_rm_watch. The kernel then queues a
// WatchIgnored event for it, which Read reports.
//
// Errors: EINVAL when wd is not a watch of this Watcher (already removed,
// or removed by the kernel after WatchDeleteSelf or WatchOneShot), and,
// before the system call, when wd is outside the int32 range the kernel
// takes (it would cut 1<<32|wd to wd and remove another watch); ErrClosed
// after Close.
func (w *Watcher) Remove(wd int) error {
	call := "inotify_rm_watch " + strconv.Itoa(wd)
	if wd < 0 || wd > math.MaxInt32 {
		return invalid(call, "watch descriptor out of range")
	}
	if err := acquire(&w.fd, call); err != nil {
		return err
	}
	defer w.fd.Release()
	if _, err := unix.InotifyRmWatch(w.fd.Sysfd(), uint32(wd)); err != nil {
		return callError(call, w.fd.Sysfd(), err)
	}
	return nil
}

// Read reads the queued events, decodes them and appends them to dst. Each
// read system call returns whole events only; one Read takes as many as fit
// in the Watcher's buffer (16 events with the longest names, many more with
// short ones), so call it until it returns EAGAIN.
//
// An IN_Q_OVERFLOW from the kernel is not dropped: it becomes an event with
// Op WatchOverflow, Watch -1 and Err ErrOverflow, and the other events keep
// coming. A WatchIgnored event (the watch is gone) is reported and forgets the
// watch's path.
//
// What it allocates: nothing when no event is queued; for each event, one
// string when the event carries a name (Path, of which Name is the tail) and
// none for an event on a watched path itself; and dst's growth when it has
// no room, so pass it back, emptied, to reuse its array.
//
// Errors: an error matching unix.EAGAIN when no event is queued, with dst
// unchanged; ErrClosed after Close; an error naming "inotify parse" if the
// kernel's bytes cannot be decoded (never seen in practice; the events
// decoded before the fault are still appended).
func (w *Watcher) Read(dst []WatchEvent) ([]WatchEvent, error) {
	if err := acquire(&w.fd, "inotify read"); err != nil {
		return dst, err
	}
	defer w.fd.Release()
	w.mu.Lock()
	defer w.mu.Unlock()
	var n int
	var err error
	for {
		n, err = unix.Read(w.fd.Sysfd(), w.buf)
		if err != unix.EINTR {
			break
		}
	}
	if err == unix.EAGAIN {
		return dst, errWatcherAgain
	}
	if err != nil {
		return dst, callError("inotify read", w.fd.Sysfd(), err)
	}
	perr := parseInotify(w.buf[:n], func(r rawInotify) { dst = append(dst, w.decode(r)) })
	if perr != nil {
		return dst, perr
	}
	return dst, nil
}

// decode makes the WatchEvent of one record, with w.mu held. An event with a
// name costs one string: Path is built in one allocation and Name is its
// tail.
func (w *Watcher) decode(r rawInotify) WatchEvent {
	ev := WatchEvent{Watch: int(r.wd), Op: WatchOp(r.mask), Cookie: r.cookie}
	p, known := w.paths[ev.Watch]
	switch {
	case ev.Op&WatchOverflow != 0:
		ev.Watch = -1
		ev.Err = ErrOverflow
	case !known:
		ev.Name = string(r.name)
	case len(r.name) == 0:
		ev.Path = p
	case p == "/":
		ev.Path = p + string(r.name)
		ev.Name = ev.Path[1:]
	default: // p is clean (see Add): no trailing slash to double
		ev.Path = p + "/" + string(r.name)
		ev.Name = ev.Path[len(p)+1:]
	}
	if ev.Op&WatchIgnored != 0 {
		delete(w.paths, ev.Watch)
	}
	return ev
}

// rawInotify is one struct inotify_event as the kernel lays it out, with the
// name cut at its first NUL (the kernel pads names with NULs to alignment).
type rawInotify struct {
	wd     int32
	mask   uint32
	cookie uint32
	name   []byte // aliases the input
}

// parseInotify decodes a buffer of struct inotify_event records, calling fn
// for each whole one. It never reads past b: a header or name that does not
// fit is an error naming the offset, after fn has seen the records before
// it. The kernel writes whole records only, so the error means corruption.
func parseInotify(b []byte, fn func(rawInotify)) error {
	off := 0
	for off < len(b) {
		if len(b)-off < inotifyHeader {
			return parseError(off, "truncated header: "+strconv.Itoa(len(b)-off)+" bytes")
		}
		h := b[off : off+inotifyHeader]
		r := rawInotify{
			wd:     int32(binary.NativeEndian.Uint32(h[0:])),
			mask:   binary.NativeEndian.Uint32(h[4:]),
			cookie: binary.NativeEndian.Uint32(h[8:]),
		}
		nameLen := uint64(binary.NativeEndian.Uint32(h[12:]))
		if nameLen > uint64(len(b)-off-inotifyHeader) {
			return parseError(off, "name length "+strconv.FormatUint(nameLen, 10)+" runs past the buffer")
		}
		name := b[off+inotifyHeader : off+inotifyHeader+int(nameLen)]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		r.name = name
		fn(r)
		off += inotifyHeader + int(nameLen)
	}
	return nil
}

func parseError(off int, why string) error {
	return callError("inotify parse", -1, errors.New("at byte "+strconv.Itoa(off)+": "+why))
}

// Close closes the inotify instance; the kernel removes all its watches. It
// is idempotent; later calls return nil. On a zero Watcher it returns an
// error matching ErrClosed.
func (w *Watcher) Close() error { return closeFD(&w.fd) }
