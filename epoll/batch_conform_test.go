package epoll

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/eventpoll/eventpoll/internal/errs"
	"github.com/eventpoll/eventpoll/internal/uring"
	"golang.org/x/sys/unix"
)

// batchEnv is what one scenario runs against: a fresh instance and fresh
// files, so the backends see identical worlds.
type batchEnv struct {
	ep     *Instance
	fds    []int // eventfds; command Data is index+1
	file   int   // a regular file: epoll refuses it (EPERM)
	closed int   // a descriptor number that is not open
	outer  int   // an epoll instance that already watches ep (for ELOOP)
}

func newBatchEnv(t testing.TB, be BatchBackend, nfds int) *batchEnv {
	t.Helper()
	e := &batchEnv{ep: newInstance(t, WithBatchBackend(be)), fds: eventfds(t, nfds)}
	f, err := os.CreateTemp(t.TempDir(), "regular")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	e.file = int(f.Fd())
	outer := newInstance(t)
	if err := outer.Add(e.ep.Fd(), In, 0); err != nil {
		t.Fatal(err)
	}
	e.outer = outer.Fd()
	// Last, so that no open reuses the number: BatchBackend makes the
	// ring (a descriptor) now rather than inside the batch under test.
	e.ep.BatchBackend()
	e.closed = eventfds(t, 1)[0]
	unix.Close(e.closed) // the cleanup's second close fails harmlessly
	return e
}

// state is the interest set as the kernel reports it: every eventfd is
// made readable (and is always writable), and a level-triggered Wait lists
// each registration's data and the events its mask lets through.
func (e *batchEnv) state(t testing.TB) string {
	t.Helper()
	one := [8]byte{1}
	for _, fd := range e.fds {
		unix.Write(fd, one[:])
	}
	evs := make([]Event, len(e.fds)+4)
	n, err := e.ep.Wait(evs, 0)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	var out []string
	for _, ev := range evs[:n] {
		out = append(out, fmt.Sprintf("%d:%v", ev.Data(), ev.Events))
	}
	sort.Strings(out)
	var b [8]byte
	for _, fd := range e.fds {
		unix.Read(fd, b[:])
	}
	return "{" + strings.Join(out, " ") + "}"
}

var errBatchUntouched = errors.New("untouched")

// batchResultName classifies one Result for comparison across backends.
func batchResultName(err error) string {
	var errno unix.Errno
	var ae *errs.ArgError
	switch {
	case err == nil:
		return "ok"
	case err == errBatchUntouched:
		return "-"
	case err == ErrNotProcessed:
		return "skip"
	case errors.As(err, &ae):
		return "arg"
	case errors.As(err, &errno):
		return unix.ErrnoName(errno)
	}
	return "?" + err.Error()
}

// batchOutcome renders everything a caller can observe of one call.
func batchOutcome(n int, err error, cmds []Cmd) string {
	var names []string
	for _, c := range cmds {
		names = append(names, batchResultName(c.Result))
	}
	kind := "nil"
	var be *BatchError
	var errno unix.Errno
	switch {
	case err == nil:
	case errors.As(err, &be):
		kind = "cmd" + strconv.Itoa(be.Index)
		if errors.As(err, &errno) {
			kind += ":" + unix.ErrnoName(errno)
		}
	case errors.Is(err, ErrClosed):
		kind = "closed"
	case errors.Is(err, unix.EINVAL):
		kind = "EINVAL"
	case errors.Is(err, unix.EBADF):
		kind = "EBADF"
	default:
		kind = "?" + err.Error()
	}
	if len(names) > 12 {
		// Long batches: summarise runs so the expectation stays readable.
		var b []string
		for i := 0; i < len(names); {
			j := i
			for j < len(names) && names[j] == names[i] {
				j++
			}
			b = append(b, fmt.Sprintf("%s*%d", names[i], j-i))
			i = j
		}
		names = b
	}
	return fmt.Sprintf("n=%d err=%s [%s]", n, kind, strings.Join(names, " "))
}

type batchCase struct {
	rule  string // the manual's sentence, or the rule of this package
	all   bool   // BatchAll instead of Batch
	setup func(e *batchEnv) error
	cmds  func(e *batchEnv) []Cmd
	want  string // batchOutcome
	state string // interest set afterwards ("" = don't care)
}

func cmdAdd(e *batchEnv, i int, ev Events) Cmd {
	return Cmd{Op: OpAdd, Fd: e.fds[i], Events: ev, Data: uint64(i + 1)}
}

func cmdMod(e *batchEnv, i int, ev Events) Cmd {
	return Cmd{Op: OpModify, Fd: e.fds[i], Events: ev, Data: uint64(i + 1)}
}

func cmdDel(e *batchEnv, i int) Cmd { return Cmd{Op: OpDelete, Fd: e.fds[i]} }

var batchCases = []batchCase{
	{
		rule: "all entries in cmds are executed in the provided order",
		cmds: func(e *batchEnv) []Cmd {
			return []Cmd{cmdAdd(e, 0, In), cmdMod(e, 0, Out), cmdAdd(e, 1, In), cmdDel(e, 1), cmdAdd(e, 1, Out)}
		},
		want:  "n=5 err=nil [ok ok ok ok ok]",
		state: "{1:OUT 2:OUT}",
	},
	{
		rule: "if all entries have been processed the return equals ncmds",
		cmds: func(e *batchEnv) []Cmd {
			return []Cmd{cmdAdd(e, 0, In), cmdAdd(e, 1, In), cmdAdd(e, 2, In|Out)}
		},
		want:  "n=3 err=nil [ok ok ok]",
		state: "{1:IN 2:IN 3:IN|OUT}",
	},
	{
		rule: "if any entry fails no further entries are processed and the number of successful entries is returned",
		cmds: func(e *batchEnv) []Cmd {
			return []Cmd{cmdAdd(e, 0, In), cmdAdd(e, 0, In), cmdAdd(e, 1, In)}
		},
		want:  "n=1 err=cmd1:EEXIST [ok EEXIST skip]",
		state: "{1:IN}",
	},
	{
		rule: "a return value of 0 indicates an error with the very first entry",
		cmds: func(e *batchEnv) []Cmd {
			return []Cmd{cmdMod(e, 0, In), cmdAdd(e, 1, In)}
		},
		want:  "n=0 err=cmd0:ENOENT [ENOENT skip]",
		state: "{}",
	},
	{
		rule:  "the call is not atomic: entries before the failure stay applied",
		setup: func(e *batchEnv) error { return e.ep.Add(e.fds[2], In, 3) },
		cmds: func(e *batchEnv) []Cmd {
			return []Cmd{cmdAdd(e, 0, In), cmdDel(e, 2), cmdDel(e, 2), cmdAdd(e, 1, In)}
		},
		want:  "n=2 err=cmd2:ENOENT [ok ok ENOENT skip]",
		state: "{1:IN}",
	},
	{
		rule: "each operation has the semantics of epoll_ctl: EBADF for a closed fd",
		cmds: func(e *batchEnv) []Cmd {
			return []Cmd{{Op: OpAdd, Fd: e.closed, Events: In}}
		},
		want: "n=0 err=cmd0:EBADF [EBADF]",
	},
	{
		rule: "each operation has the semantics of epoll_ctl: EPERM for a regular file",
		cmds: func(e *batchEnv) []Cmd {
			return []Cmd{cmdAdd(e, 0, In), {Op: OpAdd, Fd: e.file, Events: In}}
		},
		want:  "n=1 err=cmd1:EPERM [ok EPERM]",
		state: "{1:IN}",
	},
	{
		rule: "each operation has the semantics of epoll_ctl: EINVAL for the instance itself",
		cmds: func(e *batchEnv) []Cmd {
			return []Cmd{{Op: OpAdd, Fd: e.ep.Fd(), Events: In}}
		},
		want: "n=0 err=cmd0:EINVAL [EINVAL]",
	},
	{
		rule: "each operation has the semantics of epoll_ctl: ELOOP for a cycle of instances",
		cmds: func(e *batchEnv) []Cmd {
			return []Cmd{{Op: OpAdd, Fd: e.outer, Events: In}, cmdAdd(e, 0, In)}
		},
		want:  "n=0 err=cmd0:ELOOP [ELOOP skip]",
		state: "{}",
	},
	{
		rule:  "each operation has the semantics of epoll_ctl: EINVAL modifying an exclusive registration",
		setup: func(e *batchEnv) error { return e.ep.Add(e.fds[0], In|Exclusive, 1) },
		cmds: func(e *batchEnv) []Cmd {
			return []Cmd{cmdMod(e, 0, Out), cmdAdd(e, 1, In)}
		},
		want:  "n=0 err=cmd0:EINVAL [EINVAL skip]",
		state: "{1:IN}",
	},
	{
		rule: "ncmds must be greater than 0 (EINVAL, nothing processed)",
		cmds: func(e *batchEnv) []Cmd { return []Cmd{} },
		want: "n=0 err=EINVAL []",
	},
	{
		rule: "reserved flags must be 0: unknown event bits are EINVAL and nothing is processed",
		cmds: func(e *batchEnv) []Cmd {
			return []Cmd{cmdAdd(e, 0, In), cmdAdd(e, 1, In|1<<20)}
		},
		want:  "n=0 err=EINVAL [- -]",
		state: "{}",
	},
	{
		rule: "an unknown op is EINVAL and nothing is processed",
		cmds: func(e *batchEnv) []Cmd {
			return []Cmd{cmdAdd(e, 0, In), {Op: 7, Fd: e.fds[1]}}
		},
		want:  "n=0 err=EINVAL [- -]",
		state: "{}",
	},
	{
		rule: "Exclusive with OneShot is EINVAL and nothing is processed",
		cmds: func(e *batchEnv) []Cmd {
			return []Cmd{cmdAdd(e, 0, In), cmdAdd(e, 1, In|Exclusive|OneShot)}
		},
		want:  "n=0 err=EINVAL [- -]",
		state: "{}",
	},
	{
		rule: "a negative fd is EBADF and nothing is processed",
		cmds: func(e *batchEnv) []Cmd {
			return []Cmd{cmdAdd(e, 0, In), {Op: OpDelete, Fd: -1}}
		},
		want:  "n=0 err=EBADF [- -]",
		state: "{}",
	},
	{
		rule:  "a closed instance processes nothing (ErrClosed)",
		setup: func(e *batchEnv) error { return e.ep.Close() },
		cmds: func(e *batchEnv) []Cmd {
			return []Cmd{cmdAdd(e, 0, In)}
		},
		want: "n=0 err=closed [-]",
	},
	{
		rule: "a failure after the first ring chunk stops the batch (chunking is invisible)",
		cmds: func(e *batchEnv) []Cmd {
			var c []Cmd
			for range 140 {
				c = append(c, cmdAdd(e, 0, In), cmdDel(e, 0))
			}
			return append(c, cmdDel(e, 0), cmdAdd(e, 1, In), cmdAdd(e, 2, In))
		},
		want:  "n=280 err=cmd280:ENOENT [ok*280 ENOENT*1 skip*2]",
		state: "{}",
	},
	{
		rule:  "BatchAll applies every entry and sets every result",
		all:   true,
		setup: func(e *batchEnv) error { return e.ep.Add(e.fds[3], In, 4) },
		cmds: func(e *batchEnv) []Cmd {
			return []Cmd{cmdAdd(e, 0, In), cmdAdd(e, 0, In), cmdMod(e, 1, In), cmdAdd(e, 2, Out), cmdDel(e, 3),
				{Op: OpAdd, Fd: e.file, Events: In}}
		},
		want:  "n=3 err=cmd1:EEXIST [ok EEXIST ENOENT ok ok EPERM]",
		state: "{1:IN 3:OUT}",
	},
	{
		rule:  "BatchAll on distinct fds (the unlinked ring path) reports each failure",
		all:   true,
		setup: func(e *batchEnv) error { return e.ep.Add(e.fds[5], In, 6) },
		cmds: func(e *batchEnv) []Cmd {
			c := []Cmd{}
			for i := range 10 {
				c = append(c, cmdAdd(e, i, In))
			}
			c[3] = cmdMod(e, 3, In)
			return c
		},
		want:  "n=8 err=cmd3:ENOENT [ok ok ok ENOENT ok EEXIST ok ok ok ok]",
		state: "{10:IN 1:IN 2:IN 3:IN 5:IN 6:IN 7:IN 8:IN 9:IN}",
	},
	{
		rule: "BatchAll keeps the order of commands on one fd",
		all:  true,
		cmds: func(e *batchEnv) []Cmd {
			var c []Cmd
			for i := range 10 {
				c = append(c, cmdAdd(e, i, In), cmdMod(e, i, Out), cmdDel(e, i), cmdAdd(e, i, In|Out))
			}
			return append(c, cmdDel(e, 9), cmdDel(e, 9))
		},
		want:  "n=41 err=cmd41:ENOENT [ok*41 ENOENT*1]",
		state: "{1:IN|OUT 2:IN|OUT 3:IN|OUT 4:IN|OUT 5:IN|OUT 6:IN|OUT 7:IN|OUT 8:IN|OUT 9:IN|OUT}",
	},
	{
		rule: "BatchAll argument errors process nothing",
		all:  true,
		cmds: func(e *batchEnv) []Cmd {
			return []Cmd{cmdAdd(e, 0, In), {Op: OpModify, Fd: e.fds[1], Events: Exclusive}}
		},
		want:  "n=0 err=EINVAL [- -]",
		state: "{}",
	},
}

// runBatchCase runs one case on one backend and returns the batchOutcome and
// the interest set afterwards.
func runBatchCase(t *testing.T, be BatchBackend, c batchCase) (string, string) {
	e := newBatchEnv(t, be, 12)
	if c.setup != nil {
		if err := c.setup(e); err != nil {
			t.Fatalf("setup: %v", err)
		}
	}
	cmds := c.cmds(e)
	for i := range cmds {
		cmds[i].Result = errBatchUntouched
	}
	f := e.ep.Batch
	if c.all {
		f = e.ep.BatchAll
	}
	n, err := f(cmds)
	got := batchOutcome(n, err, cmds)
	st := ""
	if c.state != "" {
		st = e.state(t)
	}
	return got, st
}

// TestBatchConformsToManualOnEveryBackend runs every applicable sentence
// of the epoll_ctl_batch manual on the epoll_ctl backend, the io_uring
// backend, BatchAuto, and BatchAuto with io_uring forced off, and requires
// the expected batchOutcome, command by command, from each.
func TestBatchConformsToManualOnEveryBackend(t *testing.T) {
	type run struct {
		name  string
		be    BatchBackend
		force bool
	}
	runs := []run{{"syscall", BatchSyscall, false}, {"uring", BatchUring, false},
		{"auto", BatchAuto, false}, {"auto-uring-off", BatchAuto, true}}
	for _, c := range batchCases {
		t.Run(strings.ReplaceAll(c.rule, " ", "_"), func(t *testing.T) {
			seen := map[string]string{}
			for _, r := range runs {
				if r.be == BatchUring && batchUringOff() {
					t.Logf("%s: skipped: io_uring unavailable", r.name)
					continue
				}
				var got, st string
				func() {
					if r.force {
						defer uring.ForceUnsupported()()
					}
					got, st = runBatchCase(t, r.be, c)
				}()
				if got != c.want {
					t.Errorf("%s: got  %s\n want %s", r.name, got, c.want)
				}
				if c.state != "" && st != c.state {
					t.Errorf("%s: interest set %s, want %s", r.name, st, c.state)
				}
				seen[r.name] = got + " " + st
			}
			for name, s := range seen {
				if s != seen["syscall"] {
					t.Errorf("backends disagree: %s %q vs syscall %q", name, s, seen["syscall"])
				}
			}
		})
	}
}

// FuzzBatchArgs feeds arbitrary command lists to Batch and BatchAll on
// both backends and checks the contract: no panic; argument errors process
// nothing; otherwise n and the Results agree with each other and with the
// other backend.
func FuzzBatchArgs(f *testing.F) {
	f.Add([]byte{1, 0, 1, 0, 1, 0, 1, 0, 2, 0, 0, 0}, false)
	f.Add([]byte{3, 1, 4, 0, 1, 1, 1, 0}, true)
	f.Add([]byte{9, 0, 0, 0}, false)
	f.Add([]byte{1, 200, 0xff, 0xff}, true)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, data []byte, all bool) {
		if len(data) > 4*64 {
			data = data[:4*64]
		}
		var outs []string
		for _, be := range []BatchBackend{BatchSyscall, BatchUring} {
			if be == BatchUring && batchUringOff() {
				continue
			}
			ep := newInstance(t, WithBatchBackend(be))
			fds := eventfds(t, 4)
			var cmds []Cmd
			for i := 0; i+4 <= len(data); i += 4 {
				fd := -1
				if k := int(data[i+1]); k < 200 {
					fd = fds[k%len(fds)]
				}
				ev := Events(data[i+2]) | Events(data[i+3])<<24
				cmds = append(cmds, Cmd{Op: Op(data[i]), Fd: fd, Events: ev, Data: uint64(i), Result: errBatchUntouched})
			}
			f := ep.Batch
			if all {
				f = ep.BatchAll
			}
			n, err := f(cmds)
			var bErr *BatchError
			switch {
			case err == nil:
				if n != len(cmds) {
					t.Fatalf("nil error with n=%d of %d", n, len(cmds))
				}
				for i, c := range cmds {
					if c.Result != nil {
						t.Fatalf("nil error but Result[%d] = %v", i, c.Result)
					}
				}
			case errors.As(err, &bErr):
				if bErr.Err != cmds[bErr.Index].Result || cmds[bErr.Index].Result == nil {
					t.Fatalf("BatchError %v does not carry Result[%d] %v", err, bErr.Index, cmds[bErr.Index].Result)
				}
				if !all && n != bErr.Index {
					t.Fatalf("strict: n=%d, failing index %d", n, bErr.Index)
				}
				ok := 0
				for i, c := range cmds {
					switch {
					case c.Result == nil:
						ok++
					case c.Result == errBatchUntouched:
						t.Fatalf("Result[%d] untouched after a processed batch", i)
					case c.Result == ErrNotProcessed && (all || i <= bErr.Index):
						t.Fatalf("Result[%d] ErrNotProcessed in the wrong place", i)
					}
				}
				if ok != n {
					t.Fatalf("n=%d but %d nil Results", n, ok)
				}
			default:
				if n != 0 || (!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EBADF)) {
					t.Fatalf("argument error %v with n=%d", err, n)
				}
				for i, c := range cmds {
					if c.Result != errBatchUntouched {
						t.Fatalf("argument error %v but Result[%d] = %v", err, i, c.Result)
					}
				}
			}
			outs = append(outs, batchOutcome(n, err, cmds))
		}
		if len(outs) == 2 && outs[0] != outs[1] {
			t.Fatalf("backends disagree:\nsyscall %s\nuring   %s", outs[0], outs[1])
		}
	})
}
