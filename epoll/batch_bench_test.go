package epoll

import (
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The workload of perf bench epoll ctl, per thread: 64 eventfds, then in a
// loop ADD all, MOD all, DEL all. Every benchmark reports ns/ctl and ctl/s,
// one ctl being one interest change, so the figures compare across modes.

const batchBenchFds = 64

func batchBenchSetup(b *testing.B, opts ...Option) (*Instance, []int) {
	b.Helper()
	ep := newInstance(b, opts...)
	return ep, eventfds(b, batchBenchFds)
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

// batchTimed runs iter b.N times and reports the time per interest
// change, perIter being the changes one iteration makes.
func batchTimed(b *testing.B, perIter int, iter func()) {
	b.ReportAllocs()
	b.ResetTimer()
	start := batchStartCtl()
	for range b.N {
		iter()
	}
	batchReportCtl(b, start, perIter)
}

// batchPhases are perf's three phases over fds as commands: ADD of every
// fd (data its index), MOD of every fd to Out, DEL of every fd.
func batchPhases(fds []int) (add, mod, del []Cmd) {
	for i, fd := range fds {
		add = append(add, Cmd{Op: OpAdd, Fd: fd, Events: In, Data: uint64(i)})
		mod = append(mod, Cmd{Op: OpModify, Fd: fd, Events: Out, Data: uint64(i)})
		del = append(del, Cmd{Op: OpDelete, Fd: fd})
	}
	return add, mod, del
}

// ctlEach makes each command with one Add, Modify or Delete, in order, and
// stops at the first that fails.
func ctlEach(ep *Instance, cmds []Cmd) error {
	for _, c := range cmds {
		var err error
		switch c.Op {
		case OpAdd:
			err = ep.Add(c.Fd, c.Events, c.Data)
		case OpModify:
			err = ep.Modify(c.Fd, c.Events, c.Data)
		case OpDelete:
			err = ep.Delete(c.Fd)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// ctlEachRaw is ctlEach with raw epoll_ctl calls on ep's descriptor.
func ctlEachRaw(ep *Instance, cmds []Cmd) error {
	ops := [...]int{OpAdd: unix.EPOLL_CTL_ADD, OpModify: unix.EPOLL_CTL_MOD, OpDelete: unix.EPOLL_CTL_DEL}
	for _, c := range cmds {
		if errno := ctlRaw(ep.fd.Sysfd(), ops[c.Op], c.Fd, c.Events, c.Data); errno != 0 {
			return errno
		}
	}
	return nil
}

// batchPerOp times ctl's phases applied by apply, one call per command.
func batchPerOp(b *testing.B, apply func(*Instance, []Cmd) error) {
	ep, fds := batchBenchSetup(b)
	add, mod, del := batchPhases(fds)
	batchTimed(b, 3*len(fds), func() {
		for _, ph := range [][]Cmd{add, mod, del} {
			if err := apply(ep, ph); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCtlPerOp is the baseline: one epoll_ctl per change.
func BenchmarkCtlPerOp(b *testing.B) { batchPerOp(b, ctlEach) }

// BenchmarkCtlRaw is BenchmarkCtlPerOp without the Instance around the
// system call (no argument check, no reference on the descriptor): the
// difference between the two is what the safe-Close model costs per call.
func BenchmarkCtlRaw(b *testing.B) { batchPerOp(b, ctlEachRaw) }

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
	fds := eventfds(b, batchBenchFds)
	each := func(apply func(*Instance, []Cmd) error) func(ep *Instance, add, mod, del []Cmd) {
		return func(ep *Instance, add, mod, del []Cmd) {
			apply(ep, add)
			apply(ep, mod)
			apply(ep, del)
		}
	}
	perOp, raw := each(ctlEach), each(ctlEachRaw)
	batch := func(strict bool) func(ep *Instance, add, mod, del []Cmd) {
		return func(ep *Instance, add, mod, del []Cmd) {
			f := batchOf(ep, strict)
			f(add)
			f(mod)
			f(del)
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
		m.ep = newInstance(b, opts...)
	}
	add, mod, del := batchPhases(fds)
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

// BenchmarkBatchCrossover is the measurement behind autoRingMinBatch:
// BatchAll in batches of k commands on each backend, round-robin in one
// process as in BenchmarkCtlModes, reporting the median ns per ctl.
func BenchmarkBatchCrossover(b *testing.B) {
	if batchUringOff() {
		b.Skip("io_uring unavailable: nothing to compare")
	}
	fds := eventfds(b, batchBenchFds)
	sizes := []int{1, 2, 4, 8, 16, 32, 64}
	type mode struct {
		name string
		ep   *Instance
		k    int
		ns   []float64
	}
	var modes []*mode
	for _, be := range []BatchBackend{BatchSyscall, BatchUring} {
		ep := newInstance(b, WithBatchBackend(be))
		for _, k := range sizes {
			modes = append(modes, &mode{name: be.String() + "-" + strconv.Itoa(k), ep: ep, k: k})
		}
	}
	add, mod, del := batchPhases(fds)
	phases := [][]Cmd{add, mod, del}
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
	cmds := batchInterleaved(fds)
	batchTimed(b, len(cmds), func() {
		if err := ctlEach(ep, cmds); err != nil {
			b.Fatal(err)
		}
	})
}

// batchInterleaved is perf's order over fds as commands: ADD, MOD, DEL of
// each fd in turn.
func batchInterleaved(fds []int) []Cmd {
	add, mod, del := batchPhases(fds)
	var cmds []Cmd
	for i := range fds {
		cmds = append(cmds, add[i], mod[i], del[i])
	}
	return cmds
}

// batchOf is ep's Batch when strict, else its BatchAll.
func batchOf(ep *Instance, strict bool) func([]Cmd) (int, error) {
	if strict {
		return ep.Batch
	}
	return ep.BatchAll
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
				batchBenchCycle(b, batchOf(ep, strict), len(fds)*3, batchInterleaved(fds))
			})
		}
	}
}

// batchBenchCycle times phases, each sent through batch in calls of up to
// size commands.
func batchBenchCycle(b *testing.B, batch func([]Cmd) (int, error), size int, phases ...[]Cmd) {
	perIter := 0
	for _, ph := range phases {
		perIter += len(ph)
	}
	batchTimed(b, perIter, func() {
		for _, cmds := range phases {
			for len(cmds) > 0 {
				k := min(size, len(cmds))
				if n, err := batch(cmds[:k]); err != nil || n != k {
					b.Fatalf("batch = %d, %v", n, err)
				}
				cmds = cmds[k:]
			}
		}
	})
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
				add, mod, del := batchPhases(fds)
				batchBenchCycle(b, batchOf(ep, strict), size, add, mod, del)
			})
		}
	}
}

// BenchmarkBatchStrict64 applies each phase as one Batch of 64.
func BenchmarkBatchStrict64(b *testing.B) { batchBench(b, true, []int{64}) }

// BenchmarkBatchAll64 applies each phase as one BatchAll of 64.
func BenchmarkBatchAll64(b *testing.B) { batchBench(b, false, []int{64}) }

// BenchmarkBatchSize finds where the ring starts to beat epoll_ctl: the
// measurement behind autoRingMinBatch.
func BenchmarkBatchSize(b *testing.B) {
	batchBench(b, true, []int{1, 2, 4, 8, 16, 32, 64})
}

// BenchmarkBatchAllSize is BenchmarkBatchSize in continue mode.
func BenchmarkBatchAllSize(b *testing.B) {
	batchBench(b, false, []int{1, 2, 4, 8, 16, 32, 64})
}
