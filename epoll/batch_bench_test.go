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
			if errno := ctlRaw(ep.fd.Sysfd(), unix.EPOLL_CTL_ADD, fd, In, uint64(i)); errno != 0 {
				b.Fatal(errno)
			}
		}
		for i, fd := range fds {
			if errno := ctlRaw(ep.fd.Sysfd(), unix.EPOLL_CTL_MOD, fd, Out, uint64(i)); errno != 0 {
				b.Fatal(errno)
			}
		}
		for _, fd := range fds {
			if errno := ctlRaw(ep.fd.Sysfd(), unix.EPOLL_CTL_DEL, fd, 0, 0); errno != 0 {
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
	fds := eventfds(b, batchBenchFds)
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
			ctlRaw(ep.fd.Sysfd(), unix.EPOLL_CTL_ADD, c.Fd, c.Events, c.Data)
		}
		for _, c := range mod {
			ctlRaw(ep.fd.Sysfd(), unix.EPOLL_CTL_MOD, c.Fd, c.Events, c.Data)
		}
		for _, c := range del {
			ctlRaw(ep.fd.Sysfd(), unix.EPOLL_CTL_DEL, c.Fd, 0, 0)
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
// measurement behind autoRingMinBatch.
func BenchmarkBatchSize(b *testing.B) {
	batchBench(b, true, []int{1, 2, 4, 8, 16, 32, 64})
}

// BenchmarkBatchAllSize is BenchmarkBatchSize in continue mode.
func BenchmarkBatchAllSize(b *testing.B) {
	batchBench(b, false, []int{1, 2, 4, 8, 16, 32, 64})
}
