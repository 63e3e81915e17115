package source

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// watchNewFile creates an empty file in a new directory and watches it for
// op, returning its path and the watch descriptor.
func watchNewFile(t testing.TB, w *Watcher, op WatchOp) (string, int) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	wd, err := w.Add(f, op)
	if err != nil {
		t.Fatal(err)
	}
	return f, wd
}

// drainWatcher reads until EAGAIN.
func drainWatcher(t testing.TB, w *Watcher) []WatchEvent {
	t.Helper()
	var evs []WatchEvent
	for {
		var err error
		evs, err = w.Read(evs)
		if errors.Is(err, unix.EAGAIN) {
			return evs
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
	}
}

func TestWatcherReportsFileWrittenInDirectory(t *testing.T) {
	fdtest.Check(t)
	ep := newInstance(t)
	w := fdtest.New(t, NewWatcher)
	nb, ce := fdFlags(t, w.Fd())
	if !nb || !ce {
		t.Fatalf("inotify nonblock=%v cloexec=%v, want both", nb, ce)
	}
	dir := t.TempDir()
	wd, err := w.Add(dir, WatchCreate|WatchModify|WatchCloseWrite)
	if err != nil {
		t.Fatal(err)
	}
	watch(t, ep, w, 21)
	expectNoEvent(t, ep)
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ep, 21, 5*time.Second)
	evs := drainWatcher(t, w)
	var ops []WatchOp
	for _, ev := range evs {
		if ev.Watch != wd || ev.Name != "notes.txt" || ev.Path != filepath.Join(dir, "notes.txt") || ev.Err != nil {
			t.Fatalf("event %+v: want watch %d, name notes.txt, path in %s", ev, wd, dir)
		}
		ops = append(ops, ev.Op)
	}
	if len(ops) != 3 || ops[0] != WatchCreate || ops[1] != WatchModify || ops[2] != WatchCloseWrite {
		t.Fatalf("ops %v, want [CREATE MODIFY CLOSE_WRITE]", ops)
	}
	expectNoEvent(t, ep)
}

func TestWatcherReportsQueueOverflowAsErrorEvent(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events")
	if err != nil {
		t.Skip(err)
	}
	var max int
	for _, c := range b {
		if c >= '0' && c <= '9' {
			max = max*10 + int(c-'0')
		}
	}
	if max <= 0 || max > 1<<17 {
		t.Skipf("max_queued_events %d: too large to overflow quickly", max)
	}
	w := fdtest.New(t, NewWatcher)
	f := filepath.Join(t.TempDir(), "f")
	os.WriteFile(f, nil, 0o644)
	if _, err := w.Add(f, WatchOpen|WatchCloseNoWrite); err != nil {
		t.Fatal(err)
	}
	// Open and close alternate, so the kernel cannot merge repeats.
	for i := 0; i < max/2+10; i++ {
		fd, err := unix.Open(f, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
	}
	evs := drainWatcher(t, w)
	last := evs[len(evs)-1]
	if last.Op != WatchOverflow || last.Watch != -1 || !errors.Is(last.Err, ErrOverflow) {
		t.Fatalf("last of %d events is %+v, want the overflow error event", len(evs), last)
	}
	for _, ev := range evs[:len(evs)-1] {
		if ev.Err != nil || ev.Path != f {
			t.Fatalf("event before the overflow: %+v", ev)
		}
	}
	t.Logf("%d events then %v (%v)", len(evs)-1, last.Op, last.Err)
}

func TestWatcherRemoveReportsIgnoredAndForgetsPath(t *testing.T) {
	w := fdtest.New(t, NewWatcher)
	f, wd := watchNewFile(t, w, WatchModify)
	if err := w.Remove(wd); err != nil {
		t.Fatal(err)
	}
	evs := drainWatcher(t, w)
	if len(evs) != 1 || evs[0].Op != WatchIgnored || evs[0].Watch != wd || evs[0].Path != f {
		t.Fatalf("events after Remove: %+v, want one IGNORED for %s", evs, f)
	}
	wantCallError(t, w.Remove(wd), unix.EINVAL, "inotify_rm_watch")
}

func TestWatcherMissingPathFailsWithENOENT(t *testing.T) {
	fdtest.Check(t)
	w := fdtest.New(t, NewWatcher)
	missing := filepath.Join(t.TempDir(), "does-not-exist")
	wd, err := w.Add(missing, WatchCreate)
	if wd != -1 {
		t.Fatalf("Add returned watch %d", wd)
	}
	wantCallError(t, err, unix.ENOENT, "inotify_add_watch")
	wantCallError(t, err, unix.ENOENT, missing)
	for _, op := range []WatchOp{0, WatchIsDir, WatchOverflow, WatchCreate | 1<<27} {
		_, err := w.Add(t.TempDir(), op)
		wantCallError(t, err, unix.EINVAL, "inotify_add_watch")
	}
	_, err = w.Add("", WatchCreate)
	wantCallError(t, err, unix.EINVAL, "inotify_add_watch")
	_, err = w.Add(t.TempDir()+"/a\x00b", WatchCreate)
	wantCallError(t, err, unix.EINVAL, "inotify_add_watch")
}

func TestWatcherCallsAfterCloseReturnErrClosed(t *testing.T) {
	w, err := NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Add(t.TempDir(), WatchCreate); !errors.Is(err, ErrClosed) {
		t.Fatalf("Add after Close = %v", err)
	}
	if _, err := w.Read(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close = %v", err)
	}
}

func TestWatchOpStringNamesKernelBits(t *testing.T) {
	for op, want := range map[WatchOp]string{
		0: "0", WatchCreate | WatchIsDir: "CREATE|ISDIR", WatchOverflow: "Q_OVERFLOW", WatchCloseWrite | 1<<12: "CLOSE_WRITE|0x1000",
	} {
		if got := op.String(); got != want {
			t.Errorf("WatchOp(%#x).String() = %q, want %q", uint32(op), got, want)
		}
	}
}

// TestWatcherRemoveRefusesWatchNumbersBeyondInt32: the kernel takes a
// watch descriptor as an int32, so 1<<32|wd would remove wd; it is refused
// before the system call and the watch stays.
func TestWatcherRemoveRefusesWatchNumbersBeyondInt32(t *testing.T) {
	w := fdtest.New(t, NewWatcher)
	_, wd := watchNewFile(t, w, WatchModify)
	for _, bad := range []int{1<<32 | wd, -1, -1 << 40} {
		wantCallError(t, w.Remove(bad), unix.EINVAL, "inotify_rm_watch")
	}
	if err := w.Remove(wd); err != nil {
		t.Fatalf("Remove(%d) after the refused numbers: %v; the watch was removed by one of them", wd, err)
	}
}

// TestWatcherAddRefusesMaskCreateWithMaskAdd: the kernel refuses the two
// together; so does Add, before the system call, with the reason.
func TestWatcherAddRefusesMaskCreateWithMaskAdd(t *testing.T) {
	w := fdtest.New(t, NewWatcher)
	_, err := w.Add(t.TempDir(), WatchCreate|WatchMaskCreate|WatchMaskAdd)
	wantCallError(t, err, unix.EINVAL, "MASK_CREATE and MASK_ADD")
}
