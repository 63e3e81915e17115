package wait

import (
	"errors"
	"testing"
	"time"
)

// BenchmarkWaitWorkload runs perf bench epoll wait's workload with one
// consumer and 256 eventfds until the consumer has made b.N operations,
// with a writer that never sleeps, so that the consumer, not the writer,
// sets the pace. ns/op is the wall time per operation (an event and the
// read of its eventfd, which is part of the work); enters/op are the
// io_uring_enter calls the ring itself counted (`epollbench wait -rounds`
// counts every engine's system calls from outside with perf stat).
//
//	go test -run '^$' -bench WaitWorkload -benchtime 2000000x ./cmd/epollbench/internal/wait
func BenchmarkWaitWorkload(b *testing.B) {
	for _, engine := range []string{"ring", "ring-epoll", "epoll"} {
		b.Run(engine, func(b *testing.B) {
			c := defaultConfig()
			c.Threads, c.Fds, c.Runtime, c.Engine, c.PauseNs, c.Ops = 1, 256, time.Hour, engine, -1, uint64(b.N)
			if isRing(engine) {
				c.Batch = 64
			}
			res, err := run(c)
			if errors.Is(err, errors.ErrUnsupported) {
				b.Skip(err)
			}
			if err != nil {
				b.Fatal(err)
			}
			ops := float64(res.Ops[0])
			b.ReportMetric(res.Elapsed*1e9/ops, "ns/op")
			if isRing(engine) {
				b.ReportMetric(float64(res.ring.Submits+res.ring.Waits)/ops, "enters/op")
			}
			b.ReportMetric(ops/res.Elapsed, "ops/s")
		})
	}
}
