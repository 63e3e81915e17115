package ring_test

import (
	"errors"
	"testing"

	"github.com/eventpoll/eventpoll/ring/internal/waitload"
)

// BenchmarkRingWaitWorkload runs the `perf bench epoll wait` workload (one
// writer goroutine writing to eventfds, a consumer that waits and then
// reads the eventfd of each event) until the consumer has done b.N
// operations, with the writer never sleeping, so that the consumer is
// saturated. ns/op is the wall time per operation; enters/op are the
// io_uring_enter calls the ring itself counted (ring/bench.sh counts them
// from outside with perf stat). The read per event is part of the work.
//
//	go test -run '^$' -bench RingWaitWorkload -benchtime 2000000x ./ring
func BenchmarkRingWaitWorkload(b *testing.B) {
	for _, c := range []string{"ring", "ring-epoll", "epoll"} {
		b.Run(c, func(b *testing.B) {
			res, err := waitload.Run(waitload.Config{
				Consumer: c, Threads: 1, Fds: 256, Ops: int64(b.N),
			})
			if errors.Is(err, errors.ErrUnsupported) {
				b.Skip(err)
			}
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(res.Elapsed.Nanoseconds())/float64(res.Ops), "ns/op")
			if c != "epoll" {
				st := res.RingStats
				b.ReportMetric(float64(st.Submits+st.Waits)/float64(res.Ops), "enters/op")
			}
			b.ReportMetric(res.OpsPerSec(), "ops/s")
		})
	}
}
