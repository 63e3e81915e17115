package epoll

import (
	"errors"
	"fmt"
	"github.com/eventpoll/eventpoll/internal/errs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/internal/uring"
	"golang.org/x/sys/unix"
)

// The workload of perf bench epoll ctl, per thread: 64 batchEventfds, then in a
// loop ADD all, MOD all, DEL all. Every benchmark reports ns/ctl and ctl/s,
// one ctl being one changesInterest change, so the figures compare across modes.

const batchBenchFds = 64

func batchBenchSetup(b *testing.B, opts ...Option) (*Instance, []int) {
	b.Helper()
	ep := newBatchInstance(b, opts...)
	return ep, batchEventfds(b, batchBenchFds)
}

// batchCPUNow returns the process's CPU time (user + system). On a machine
// shared with other work, ctl per CPU-second is steadier than per
// wall-second: time spent waiting for a CPU is not counted.
func batchCPUNow() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type batchCtlClock struct {
	wall time.Time
	cpu  time.Duration
}

func batchStartCtl() batchCtlClock { return batchCtlClock{time.Now(), batchCPUNow()} }

func batchReportCtl(b *testing.B, start batchCtlClock, perIter int) {
	el := time.Since(start.wall)
	cpu := batchCPUNow() - start.cpu
	ops := float64(b.N) * float64(perIter)
	b.ReportMetric(float64(el.Nanoseconds())/ops, "ns/ctl")
	b.ReportMetric(ops/el.Seconds(), "ctl/s")
	b.ReportMetric(ops/cpu.Seconds(), "ctl/cpu-s")
}

// BenchmarkCtlPerOp is the baseline: one epoll_ctl per change.
func BenchmarkCtlPerOp(b *testing.B) {
	ep, fds := batchBenchSetup(b)
	b.ReportAllocs()
	b.ResetTimer()
	start := batchStartCtl()
	for range b.N {
		for i, fd := range fds {
			if err := ep.Add(fd, In, uint64(i)); err != nil {
				b.Fatal(err)
			}
		}
		for i, fd := range fds {
			if err := ep.Modify(fd, Out, uint64(i)); err != nil {
				b.Fatal(err)
			}
		}
		for _, fd := range fds {
			if err := ep.Delete(fd); err != nil {
				b.Fatal(err)
			}
		}
	}
	batchReportCtl(b, start, 3*batchBenchFds)
}

// BenchmarkCtlRaw is BenchmarkCtlPerOp without the Instance around the
// system call (no argument check, no reference on the descriptor): the
// difference between the two is what the safe-Close model costs per call.
func BenchmarkCtlRaw(b *testing.B) {
	ep, fds := batchBenchSetup(b)
	b.ReportAllocs()
	b.ResetTimer()
	start := batchStartCtl()
	for range b.N {
		for i, fd := range fds {
			if errno := ctlRaw(ep.fd, unix.EPOLL_CTL_ADD, fd, In, uint64(i)); errno != 0 {
				b.Fatal(errno)
			}
		}
		for i, fd := range fds {
			if errno := ctlRaw(ep.fd, unix.EPOLL_CTL_MOD, fd, Out, uint64(i)); errno != 0 {
				b.Fatal(errno)
			}
		}
		for _, fd := range fds {
			if errno := ctlRaw(ep.fd, unix.EPOLL_CTL_DEL, fd, 0, 0); errno != 0 {
				b.Fatal(errno)
			}
		}
	}
	batchReportCtl(b, start, 3*batchBenchFds)
}

// BenchmarkCtlModes times single cycles (ADD, MOD, DEL over the 64 fds) of
// every way to apply them, round-robin in one process, and reports each
// mode's fastest and median cycle in ns per ctl. Taking the minimum over
// many short samples filters out the time this goroutine spends waiting for
// a CPU on a shared machine, and round-robin puts every mode under the same
// conditions, so the ratios between modes are meaningful even when the
// absolute figures are not.
func BenchmarkCtlModes(b *testing.B) {
	type mode struct {
		name string
		ep   *Instance
		run  func(ep *Instance, add, mod, del []Cmd)
		ns   []float64
	}
	fds := batchEventfds(b, batchBenchFds)
	perOp := func(ep *Instance, add, mod, del []Cmd) {
		for _, c := range add {
			ep.Add(c.Fd, c.Events, c.Data)
		}
		for _, c := range mod {
			ep.Modify(c.Fd, c.Events, c.Data)
		}
		for _, c := range del {
			ep.Delete(c.Fd)
		}
	}
	batch := func(strict bool) func(ep *Instance, add, mod, del []Cmd) {
		return func(ep *Instance, add, mod, del []Cmd) {
			f := ep.BatchAll
			if strict {
				f = ep.Batch
			}
			f(add)
			f(mod)
			f(del)
		}
	}
	raw := func(ep *Instance, add, mod, del []Cmd) {
		for _, c := range add {
			ctlRaw(ep.fd, unix.EPOLL_CTL_ADD, c.Fd, c.Events, c.Data)
		}
		for _, c := range mod {
			ctlRaw(ep.fd, unix.EPOLL_CTL_MOD, c.Fd, c.Events, c.Data)
		}
		for _, c := range del {
			ctlRaw(ep.fd, unix.EPOLL_CTL_DEL, c.Fd, 0, 0)
		}
	}
	modes := []*mode{
		{name: "perop", run: perOp},
		{name: "raw", run: raw},
		{name: "strict-syscall", run: batch(true)},
		{name: "strict-uring", run: batch(true)},
		{name: "all-syscall", run: batch(false)},
		{name: "all-uring", run: batch(false)},
		{name: "all-auto", run: batch(false)},
	}
	for _, m := range modes {
		var opts []Option
		switch {
		case strings.HasSuffix(m.name, "syscall"):
			opts = append(opts, WithBatchBackend(BatchSyscall))
		case strings.HasSuffix(m.name, "uring"):
			if batchUringOff() {
				m.run = nil
				continue
			}
			opts = append(opts, WithBatchBackend(BatchUring))
		}
		m.ep = newBatchInstance(b, opts...)
	}
	add, mod, del := make([]Cmd, len(fds)), make([]Cmd, len(fds)), make([]Cmd, len(fds))
	for i, fd := range fds {
		add[i] = Cmd{Op: OpAdd, Fd: fd, Events: In, Data: uint64(i)}
		mod[i] = Cmd{Op: OpModify, Fd: fd, Events: Out, Data: uint64(i)}
		del[i] = Cmd{Op: OpDelete, Fd: fd}
	}
	b.ResetTimer()
	for range b.N {
		for _, m := range modes {
			if m.run == nil {
				continue
			}
			t0 := time.Now()
			m.run(m.ep, add, mod, del)
			m.ns = append(m.ns, float64(time.Since(t0).Nanoseconds())/float64(3*len(fds)))
		}
	}
	b.StopTimer()
	for _, m := range modes {
		if len(m.ns) == 0 {
			continue
		}
		sort.Float64s(m.ns)
		b.ReportMetric(m.ns[0], m.name+"-min-ns/ctl")
		b.ReportMetric(m.ns[len(m.ns)/2], m.name+"-med-ns/ctl")
	}
}

// BenchmarkBatchCrossover is the measurement behind AutoRingMinBatch:
// BatchAll in batches of k commands on each backend, round-robin in one
// process as in BenchmarkCtlModes, reporting the median ns per ctl.
func BenchmarkBatchCrossover(b *testing.B) {
	if batchUringOff() {
		b.Skip("io_uring unavailable: nothing to compare")
	}
	fds := batchEventfds(b, batchBenchFds)
	sizes := []int{1, 2, 4, 8, 16, 32, 64}
	type mode struct {
		name string
		ep   *Instance
		k    int
		ns   []float64
	}
	var modes []*mode
	for _, be := range []BatchBackend{BatchSyscall, BatchUring} {
		ep := newBatchInstance(b, WithBatchBackend(be))
		for _, k := range sizes {
			modes = append(modes, &mode{name: be.String() + "-" + strconv.Itoa(k), ep: ep, k: k})
		}
	}
	phases := make([][]Cmd, 3)
	for i, fd := range fds {
		phases[0] = append(phases[0], Cmd{Op: OpAdd, Fd: fd, Events: In, Data: uint64(i)})
		phases[1] = append(phases[1], Cmd{Op: OpModify, Fd: fd, Events: Out, Data: uint64(i)})
		phases[2] = append(phases[2], Cmd{Op: OpDelete, Fd: fd})
	}
	b.ResetTimer()
	for range b.N {
		for _, m := range modes {
			t0 := time.Now()
			for _, ph := range phases {
				for off := 0; off < len(ph); off += m.k {
					m.ep.BatchAll(ph[off:min(len(ph), off+m.k)])
				}
			}
			m.ns = append(m.ns, float64(time.Since(t0).Nanoseconds())/float64(3*len(fds)))
		}
	}
	b.StopTimer()
	for _, m := range modes {
		sort.Float64s(m.ns)
		b.ReportMetric(m.ns[len(m.ns)/2], m.name+"-med-ns/ctl")
	}
}

// BenchmarkCtlPerOpInterleaved is the exact order of perf bench epoll
// ctl's worker: for each fd, ADD, MOD, DEL (without its nanosleep).
func BenchmarkCtlPerOpInterleaved(b *testing.B) {
	ep, fds := batchBenchSetup(b)
	b.ReportAllocs()
	b.ResetTimer()
	start := batchStartCtl()
	for range b.N {
		for i, fd := range fds {
			if err := ep.Add(fd, In, uint64(i)); err != nil {
				b.Fatal(err)
			}
			if err := ep.Modify(fd, Out, uint64(i)); err != nil {
				b.Fatal(err)
			}
			if err := ep.Delete(fd); err != nil {
				b.Fatal(err)
			}
		}
	}
	batchReportCtl(b, start, 3*batchBenchFds)
}

// BenchmarkBatchInterleaved sends perf's order as one batch of 192
// commands, three per fd: the ring must keep them in order (hard links).
func BenchmarkBatchInterleaved(b *testing.B) {
	for _, strict := range []bool{true, false} {
		for _, be := range batchBenchBackends {
			name := "all/" + be.String()
			if strict {
				name = "strict/" + be.String()
			}
			b.Run(name, func(b *testing.B) {
				skipNoRing(b, be)
				ep, fds := batchBenchSetup(b, WithBatchBackend(be))
				f := ep.BatchAll
				if strict {
					f = ep.Batch
				}
				var cmds []Cmd
				for i, fd := range fds {
					cmds = append(cmds, Cmd{Op: OpAdd, Fd: fd, Events: In, Data: uint64(i)},
						Cmd{Op: OpModify, Fd: fd, Events: Out, Data: uint64(i)}, Cmd{Op: OpDelete, Fd: fd})
				}
				b.ReportAllocs()
				b.ResetTimer()
				start := batchStartCtl()
				for range b.N {
					if n, err := f(cmds); n != len(cmds) || err != nil {
						b.Fatalf("batch = %d, %v", n, err)
					}
				}
				batchReportCtl(b, start, len(cmds))
			})
		}
	}
}

func batchBenchCycle(b *testing.B, ep *Instance, fds []int, size int, batch func([]Cmd) (int, error)) {
	add := make([]Cmd, len(fds))
	mod := make([]Cmd, len(fds))
	del := make([]Cmd, len(fds))
	for i, fd := range fds {
		add[i] = Cmd{Op: OpAdd, Fd: fd, Events: In, Data: uint64(i)}
		mod[i] = Cmd{Op: OpModify, Fd: fd, Events: Out, Data: uint64(i)}
		del[i] = Cmd{Op: OpDelete, Fd: fd}
	}
	run := func(cmds []Cmd) {
		for len(cmds) > 0 {
			k := min(size, len(cmds))
			if n, err := batch(cmds[:k]); err != nil || n != k {
				b.Fatalf("batch = %d, %v", n, err)
			}
			cmds = cmds[k:]
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := batchStartCtl()
	for range b.N {
		run(add)
		run(mod)
		run(del)
	}
	batchReportCtl(b, start, 3*len(fds))
}

var batchBenchBackends = []BatchBackend{BatchUring, BatchSyscall, BatchAuto}

func batchBench(b *testing.B, strict bool, sizes []int) {
	for _, be := range batchBenchBackends {
		for _, size := range sizes {
			name := be.String()
			if len(sizes) > 1 {
				name += "/" + strconv.Itoa(size)
			}
			b.Run(name, func(b *testing.B) {
				skipNoRing(b, be)
				ep, fds := batchBenchSetup(b, WithBatchBackend(be))
				f := ep.BatchAll
				if strict {
					f = ep.Batch
				}
				batchBenchCycle(b, ep, fds, size, f)
			})
		}
	}
}

// BenchmarkBatchStrict64 applies each phase as one Batch of 64.
func BenchmarkBatchStrict64(b *testing.B) { batchBench(b, true, []int{64}) }

// BenchmarkBatchAll64 applies each phase as one BatchAll of 64.
func BenchmarkBatchAll64(b *testing.B) { batchBench(b, false, []int{64}) }

// BenchmarkBatchSize finds where the ring starts to beat epoll_ctl: the
// measurement behind AutoRingMinBatch.
func BenchmarkBatchSize(b *testing.B) {
	batchBench(b, true, []int{1, 2, 4, 8, 16, 32, 64})
}

// BenchmarkBatchAllSize is BenchmarkBatchSize in continue mode.
func BenchmarkBatchAllSize(b *testing.B) {
	batchBench(b, false, []int{1, 2, 4, 8, 16, 32, 64})
}

// newBatchInstance returns an instance closed when the test ends.
func newBatchInstance(t testing.TB, opts ...Option) *Instance {
	t.Helper()
	ep, err := New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { ep.Close() })
	return ep
}

// batchEventfds returns n non-blocking batchEventfds closed when the test ends.
func batchEventfds(t testing.TB, n int) []int {
	t.Helper()
	fds := make([]int, n)
	for i := range fds {
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			t.Fatalf("eventfd: %v", err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		fds[i] = fd
	}
	return fds
}

// skipNoRing skips a test of the io_uring backend where io_uring is off.
func skipNoRing(t testing.TB, be BatchBackend) {
	t.Helper()
	if be != BatchUring {
		return
	}
	if err := uring.Supported(); err != nil {
		t.Skipf("io_uring backend not testable: %v", err)
	}
	if !uring.OpSupported(uring.OpEpollCtl) {
		t.Skip("io_uring backend not testable: no IORING_OP_EPOLL_CTL (Linux 5.6)")
	}
}

// ---- conformance: every sentence of the epoll_ctl_batch manual, on every backend ----

// batchEnv is what one scenario runs against: a fresh instance and fresh
// files, so the backends see identical worlds.
type batchEnv struct {
	ep     *Instance
	fds    []int // batchEventfds; command Data is index+1
	file   int   // a regular file: epoll refuses it (EPERM)
	closed int   // a descriptor number that is not open
	outer  int   // an epoll instance that already watches ep (for ELOOP)
}

func newBatchEnv(t testing.TB, be BatchBackend, nfds int) *batchEnv {
	t.Helper()
	e := &batchEnv{ep: newBatchInstance(t, WithBatchBackend(be)), fds: batchEventfds(t, nfds)}
	f, err := os.CreateTemp(t.TempDir(), "regular")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	e.file = int(f.Fd())
	outer := newBatchInstance(t)
	if err := outer.Add(e.ep.Fd(), In, 0); err != nil {
		t.Fatal(err)
	}
	e.outer = outer.Fd()
	// Last, so that no open reuses the number: BatchBackend makes the
	// ring (a descriptor) now rather than inside the batch under test.
	e.ep.BatchBackend()
	e.closed = batchEventfds(t, 1)[0]
	unix.Close(e.closed) // the cleanup's second close fails harmlessly
	return e
}

// state is the changesInterest set as the kernel reports it: every eventfd is
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
	state string // changesInterest set afterwards ("" = don't care)
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
		rule: "ncmds above the maximum is EINVAL and nothing is processed",
		cmds: func(e *batchEnv) []Cmd {
			c := make([]Cmd, MaxBatch+1)
			for i := range c {
				c[i] = cmdAdd(e, 0, In)
			}
			return c
		},
		want:  "n=0 err=EINVAL [-*1025]",
		state: "{}",
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
// the changesInterest set afterwards.
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
					t.Errorf("%s: changesInterest set %s, want %s", r.name, st, c.state)
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

func batchUringOff() bool {
	return uring.Supported() != nil || !uring.OpSupported(uring.OpEpollCtl)
}

// eachBatchBackend runs f on every backend available here.
func eachBatchBackend(t *testing.T, f func(t *testing.T, be BatchBackend)) {
	for _, be := range []BatchBackend{BatchSyscall, BatchUring, BatchAuto} {
		t.Run(be.String(), func(t *testing.T) {
			skipNoRing(t, be)
			f(t, be)
		})
	}
}

func TestBatchStopsAtFirstFailure(t *testing.T) {
	eachBatchBackend(t, func(t *testing.T, be BatchBackend) {
		ep := newBatchInstance(t, WithBatchBackend(be))
		fds := batchEventfds(t, 3)
		cmds := []Cmd{
			{Op: OpAdd, Fd: fds[0], Events: In},
			{Op: OpAdd, Fd: fds[0], Events: In}, // EEXIST
			{Op: OpAdd, Fd: fds[1], Events: In}, // must never run
			{Op: OpAdd, Fd: fds[2], Events: In}, // must never run
		}
		n, err := ep.Batch(cmds)
		if n != 1 {
			t.Fatalf("Batch = %d, want 1 (the index of the failing command)", n)
		}
		if !errors.Is(err, unix.EEXIST) || !errors.Is(cmds[1].Result, unix.EEXIST) {
			t.Fatalf("err %v, Result %v; want both EEXIST", err, cmds[1].Result)
		}
		var bErr *BatchError
		if !errors.As(err, &bErr) || bErr.Index != 1 {
			t.Fatalf("err %v is not a *BatchError with Index 1", err)
		}
		if cmds[0].Result != nil || cmds[2].Result != ErrNotProcessed || cmds[3].Result != ErrNotProcessed {
			t.Fatalf("Results %v %v %v, want nil, ErrNotProcessed, ErrNotProcessed",
				cmds[0].Result, cmds[2].Result, cmds[3].Result)
		}
		for _, fd := range fds[1:] {
			if err := ep.Delete(fd); !errors.Is(err, unix.ENOENT) {
				t.Fatalf("Delete(%d) = %v: a command after the failure ran", fd, err)
			}
		}
		if !strings.Contains(err.Error(), "epoll_ctl_batch: command 1: epoll_ctl(ADD) fd") {
			t.Errorf("message %q does not name the batch, the command and the call", err)
		}
	})
}

func TestBatchBadArgumentsProcessNothing(t *testing.T) {
	eachBatchBackend(t, func(t *testing.T, be BatchBackend) {
		ep := newBatchInstance(t, WithBatchBackend(be))
		fd := batchEventfds(t, 1)[0]
		bad := map[string]Cmd{
			"unknown op":            {Op: 0, Fd: fd},
			"unknown bits":          {Op: OpAdd, Fd: fd, Events: 1 << 20},
			"exclusive|oneshot":     {Op: OpAdd, Fd: fd, Events: In | Exclusive | OneShot},
			"modify with exclusive": {Op: OpModify, Fd: fd, Events: In | Exclusive},
			"negative fd":           {Op: OpAdd, Fd: -3, Events: In},
		}
		for name, b := range bad {
			for _, f := range []func([]Cmd) (int, error){ep.Batch, ep.BatchAll} {
				cmds := []Cmd{{Op: OpAdd, Fd: fd, Events: In}, b}
				n, err := f(cmds)
				var bErr *BatchError
				if n != 0 || err == nil || errors.As(err, &bErr) {
					t.Fatalf("%s: = %d, %v; want 0 and an argument error", name, n, err)
				}
				if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EBADF) {
					t.Fatalf("%s: %v does not wrap EINVAL or EBADF", name, err)
				}
				if cmds[0].Result != nil || cmds[1].Result != nil {
					t.Fatalf("%s: Results touched: %v %v", name, cmds[0].Result, cmds[1].Result)
				}
				if err := ep.Delete(fd); !errors.Is(err, unix.ENOENT) {
					t.Fatalf("%s: the valid first command ran (Delete = %v)", name, err)
				}
				if !strings.Contains(err.Error(), "epoll_ctl_batch") || !strings.Contains(err.Error(), "command 1") {
					t.Errorf("%s: message %q does not name the call and the command", name, err)
				}
			}
		}
		for _, cmds := range [][]Cmd{nil, {}, make([]Cmd, MaxBatch+1)} {
			if n, err := ep.Batch(cmds); n != 0 || !errors.Is(err, unix.EINVAL) {
				t.Fatalf("Batch(len %d) = %d, %v; want 0, EINVAL", len(cmds), n, err)
			}
		}
	})
}

func TestBatchFirstCommandFailureIsDistinguishableFromBadArguments(t *testing.T) {
	eachBatchBackend(t, func(t *testing.T, be BatchBackend) {
		ep := newBatchInstance(t, WithBatchBackend(be))
		fd := batchEventfds(t, 1)[0]
		cmds := []Cmd{{Op: OpModify, Fd: fd, Events: In}}
		n, err := ep.Batch(cmds)
		var bErr *BatchError
		if n != 0 || !errors.As(err, &bErr) || bErr.Index != 0 || !errors.Is(cmds[0].Result, unix.ENOENT) {
			t.Fatalf("= %d, %v, Result %v; want 0, *BatchError{0}, ENOENT", n, err, cmds[0].Result)
		}
	})
}

func TestBatchOnClosedInstanceReturnsErrClosed(t *testing.T) {
	eachBatchBackend(t, func(t *testing.T, be BatchBackend) {
		ep := newBatchInstance(t, WithBatchBackend(be))
		fd := batchEventfds(t, 1)[0]
		if _, err := ep.Batch([]Cmd{{Op: OpAdd, Fd: fd, Events: In}}); err != nil {
			t.Fatal(err)
		}
		ep.Close()
		cmds := []Cmd{{Op: OpDelete, Fd: fd}}
		if n, err := ep.BatchAll(cmds); n != 0 || !errors.Is(err, ErrClosed) || cmds[0].Result != nil {
			t.Fatalf("BatchAll after Close = %d, %v, Result %v; want 0, ErrClosed, untouched", n, err, cmds[0].Result)
		}
	})
}

func TestBatchAllContinuesAfterFailure(t *testing.T) {
	eachBatchBackend(t, func(t *testing.T, be BatchBackend) {
		ep := newBatchInstance(t, WithBatchBackend(be))
		fds := batchEventfds(t, 3)
		cmds := []Cmd{
			{Op: OpDelete, Fd: fds[0]},                       // ENOENT
			{Op: OpAdd, Fd: fds[1], Events: In, Data: 7},     // ok
			{Op: OpModify, Fd: fds[2], Events: In},           // ENOENT
			{Op: OpModify, Fd: fds[1], Events: Out, Data: 8}, // ok, after the ADD
		}
		n, err := ep.BatchAll(cmds)
		var bErr *BatchError
		if n != 2 || !errors.As(err, &bErr) || bErr.Index != 0 || !errors.Is(err, unix.ENOENT) {
			t.Fatalf("BatchAll = %d, %v; want 2 and the first failure (index 0, ENOENT)", n, err)
		}
		if !errors.Is(cmds[2].Result, unix.ENOENT) || cmds[1].Result != nil || cmds[3].Result != nil {
			t.Fatalf("Results %v", cmds)
		}
		evs := make([]Event, 4)
		if n, err := ep.Wait(evs, 0); n != 1 || err != nil || evs[0].Data() != 8 || evs[0].Events != Out {
			t.Fatalf("Wait = %d, %v, %+v; want fds[1] writable with data 8", n, err, evs[0])
		}
	})
}

// TestBatchAllocatesNothing proves a successful batch allocates nothing on
// either backend, strict and continue.
func TestBatchAllocatesNothing(t *testing.T) {
	eachBatchBackend(t, func(t *testing.T, be BatchBackend) {
		ep := newBatchInstance(t, WithBatchBackend(be))
		fds := batchEventfds(t, 64)
		add, del := make([]Cmd, len(fds)), make([]Cmd, len(fds))
		for i, fd := range fds {
			add[i] = Cmd{Op: OpAdd, Fd: fd, Events: In | Edge, Data: uint64(i)}
			del[i] = Cmd{Op: OpDelete, Fd: fd}
		}
		for name, f := range map[string]func([]Cmd) (int, error){"Batch": ep.Batch, "BatchAll": ep.BatchAll} {
			allocs := testing.AllocsPerRun(50, func() {
				if n, err := f(add); n != len(add) || err != nil {
					t.Fatalf("%s add = %d, %v", name, n, err)
				}
				if n, err := f(del); n != len(del) || err != nil {
					t.Fatalf("%s del = %d, %v", name, n, err)
				}
			})
			if allocs != 0 {
				t.Errorf("%s on %v: %v allocations per run, want 0", name, be, allocs)
			}
		}
	})
}

func TestBatchBackendFollowsProbeAndOption(t *testing.T) {
	if ep := newBatchInstance(t, WithBatchBackend(BatchSyscall)); ep.BatchBackend() != BatchSyscall {
		t.Errorf("WithBatchBackend(BatchSyscall) gives %v", ep.BatchBackend())
	}
	func() {
		defer uring.ForceUnsupported()()
		ep := newBatchInstance(t)
		if got := ep.BatchBackend(); got != BatchSyscall {
			t.Errorf("BatchAuto with io_uring forced off resolved to %v, want syscall", got)
		}
		forced := newBatchInstance(t, WithBatchBackend(BatchUring))
		fd := batchEventfds(t, 1)[0]
		cmds := []Cmd{{Op: OpAdd, Fd: fd, Events: In}}
		n, err := forced.Batch(cmds)
		if n != 0 || !errors.Is(err, ErrUnsupported) || !errors.Is(err, uring.ErrUnsupported) || cmds[0].Result != nil {
			t.Errorf("forced BatchUring with io_uring off = %d, %v; want 0, ErrUnsupported, nothing processed", n, err)
		}
		if err := forced.Delete(fd); !errors.Is(err, unix.ENOENT) {
			t.Errorf("the refused batch ran: Delete = %v", err)
		}
	}()
	ep := newBatchInstance(t)
	want := BatchUring
	if batchUringOff() {
		want = BatchSyscall
	}
	if got := ep.BatchBackend(); got != want {
		t.Errorf("BatchAuto resolved to %v here, want %v", got, want)
	}
	if os.Getenv(uring.EnvNoUring) != "" && os.Getenv(uring.EnvNoUring) != "0" && want != BatchSyscall {
		t.Errorf("%s is set but BatchAuto chose %v", uring.EnvNoUring, want)
	}
}

func batchOpenFds(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		link, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		out = append(out, e.Name()+"->"+link)
	}
	sort.Strings(out)
	return out
}

// TestBatchCloseReleasesRing checks, from /proc/self/fd, that Close takes
// the io_uring ring with the instance.
func TestBatchCloseReleasesRing(t *testing.T) {
	skipNoRing(t, BatchUring)
	fds := batchEventfds(t, 8)
	before := batchOpenFds(t)
	for range 5 {
		ep, err := New(WithBatchBackend(BatchUring))
		if err != nil {
			t.Fatal(err)
		}
		cmds := make([]Cmd, len(fds))
		for i, fd := range fds {
			cmds[i] = Cmd{Op: OpAdd, Fd: fd, Events: In}
		}
		if _, err := ep.Batch(cmds); err != nil {
			t.Fatal(err)
		}
		if err := ep.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if after := batchOpenFds(t); strings.Join(before, " ") != strings.Join(after, " ") {
		t.Fatalf("descriptors leaked:\nbefore %v\nafter  %v", before, after)
	}
}

// TestBatchRacesCloseSafely runs batches on every backend while Close
// runs: each call either completes or returns ErrClosed, and the race
// detector sees the ring handed over cleanly.
func TestBatchRacesCloseSafely(t *testing.T) {
	eachBatchBackend(t, func(t *testing.T, be BatchBackend) {
		fds := batchEventfds(t, 16)
		for range 20 {
			ep, err := New(WithBatchBackend(be))
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for g := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					cmds := make([]Cmd, 2*len(fds))
					for i, fd := range fds {
						cmds[2*i] = Cmd{Op: OpAdd, Fd: fd, Events: In, Data: uint64(g)}
						cmds[2*i+1] = Cmd{Op: OpDelete, Fd: fd}
					}
					for range 50 {
						_, err := ep.BatchAll(cmds)
						if errors.Is(err, ErrClosed) {
							return
						}
					}
				}()
			}
			ep.Close()
			wg.Wait()
		}
	})
}

// TestBatchAllKeepsOrderUnderConcurrentWait applies changes while another
// goroutine keeps the instance busy delivering events, so the kernel's
// epoll mutex is contended and the ring must defer requests to workers
// (-EAGAIN): order and results must not change.
func TestBatchAllKeepsOrderUnderConcurrentWait(t *testing.T) {
	eachBatchBackend(t, func(t *testing.T, be BatchBackend) {
		ep := newBatchInstance(t, WithBatchBackend(be))
		hot := batchEventfds(t, 8)
		for i, fd := range hot {
			one := [8]byte{1}
			unix.Write(fd, one[:])
			if err := ep.Add(fd, In, uint64(1000+i)); err != nil {
				t.Fatal(err)
			}
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			evs := make([]Event, 16)
			for {
				select {
				case <-stop:
					return
				default:
				}
				ep.Wait(evs, 0)
			}
		}()
		fds := batchEventfds(t, 32)
		deadline := time.Now().Add(2 * time.Second)
		for round := 0; round < 300 && time.Now().Before(deadline); round++ {
			var cmds []Cmd
			for i, fd := range fds {
				cmds = append(cmds, Cmd{Op: OpAdd, Fd: fd, Events: In, Data: uint64(i)})
			}
			for i, fd := range fds {
				cmds = append(cmds, Cmd{Op: OpModify, Fd: fd, Events: Out, Data: uint64(i)})
			}
			for _, fd := range fds {
				cmds = append(cmds, Cmd{Op: OpDelete, Fd: fd})
			}
			if n, err := ep.BatchAll(cmds); n != len(cmds) || err != nil {
				close(stop)
				wg.Wait()
				t.Fatalf("round %d: BatchAll = %d/%d, %v", round, n, len(cmds), err)
			}
			if n, err := ep.Batch(cmds); n != len(cmds) || err != nil {
				close(stop)
				wg.Wait()
				t.Fatalf("round %d: Batch = %d/%d, %v", round, n, len(cmds), err)
			}
		}
		close(stop)
		wg.Wait()
	})
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
			ep := newBatchInstance(t, WithBatchBackend(be))
			fds := batchEventfds(t, 4)
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
