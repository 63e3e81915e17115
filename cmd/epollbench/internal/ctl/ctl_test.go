package ctl

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/cref"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness/harnesstest"
	"github.com/eventpoll/eventpoll/epoll"
	"github.com/eventpoll/eventpoll/internal/fdtest"
)

func quick() config {
	c := defaultConfig()
	c.Threads, c.Fds, c.Runtime = 2, 8, 150*time.Millisecond
	return c
}

// In a non-random run every thread ADDs, MODs and DELs its own fds in turn,
// so all three succeed every time: the counts must be equal and non-zero,
// whatever path (one epoll_ctl each, or a batch) took them to the kernel.
func TestCtlRoundsSucceedEqually(t *testing.T) {
	cases := []struct {
		name          string
		mode, backend string
		batch         int
	}{
		{"per-op", "op", "auto", 64},
		{"batch-syscall", "batch", "syscall", 64},
		{"batchall-syscall", "batchall", "syscall", 64},
		{"batch-uring", "batch", "uring", 64},
		{"batchall-uring", "batchall", "uring", 64},
		{"batchall-odd-size", "batchall", "auto", 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fdtest.Check(t)
			c := quick()
			c.Mode, c.Backend, c.BatchSize = tc.mode, tc.backend, tc.batch
			res, err := run(c)
			if tc.backend == "uring" && errors.Is(err, errors.ErrUnsupported) {
				t.Skipf("io_uring unavailable: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Ops) != c.Threads {
				t.Fatalf("%d threads reported, want %d", len(res.Ops), c.Threads)
			}
			for i, ops := range res.Ops {
				if ops[0] == 0 || ops[0] != ops[1] || ops[1] != ops[2] {
					t.Errorf("thread %d: add/mod/del = %v, want equal and non-zero", i, ops)
				}
				// Whole rounds only in per-op and strict modes: each round
				// is nfds of each.
				if tc.mode == "op" && ops[0]%uint64(c.Fds) != 0 {
					t.Errorf("thread %d: %d adds is not whole rounds of %d fds", i, ops[0], c.Fds)
				}
			}
			if res.Avg <= 0 {
				t.Errorf("avg = %v", res.Avg)
			}
		})
	}
}

// A random run fails many operations (ENOENT, EEXIST); only the successful
// ones count, and each kind must have succeeded some of the time.
func TestCtlRandomCountsOnlySuccesses(t *testing.T) {
	for _, mode := range []string{"op", "batch", "batchall"} {
		t.Run(mode, func(t *testing.T) {
			c := quick()
			c.Randomize, c.Mode, c.Backend, c.Nested = true, mode, "syscall", 1
			res, err := run(c)
			if err != nil {
				t.Fatal(err)
			}
			var sum [3]uint64
			for _, ops := range res.Ops {
				for k := range sum {
					sum[k] += ops[k]
				}
			}
			for k, name := range []string{"add", "mod", "del"} {
				if sum[k] == 0 {
					t.Errorf("no successful %s in %v", name, res.Ops)
				}
			}
			// A registered fd can be deleted once per add, plus the half
			// registered beforehand.
			if sum[2] > sum[0]+uint64(c.Threads*c.Fds/2) {
				t.Errorf("%d deletes after %d adds", sum[2], sum[0])
			}
		})
	}
}

func TestCtlRejectsBadSettings(t *testing.T) {
	for name, f := range map[string]func(*config){
		"-t":       func(c *config) { c.Threads = -1 },
		"-f":       func(c *config) { c.Fds = 0 },
		"-b":       func(c *config) { c.BatchSize = epoll.MaxBatch + 1 },
		"-mode":    func(c *config) { c.Mode = "fast" },
		"-backend": func(c *config) { c.Backend = "aio" },
	} {
		c := quick()
		f(&c)
		if _, err := run(c); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err = %v, want an error naming the flag", name, err)
		}
	}
}

func TestCtlRunPrintsPerfFormat(t *testing.T) {
	out, p := harnesstest.Parses(t, Experiment, cref.ParseCtl, "-t", "1", "-f", "1", "-r", "100ms", "--randomize")
	if len(p.PerThread) != 1 || !strings.Contains(out, "Averaged") || !strings.Contains(out, "DEL operations") {
		t.Errorf("unexpected output:\n%s", out)
	}
}

func TestReportQuickComparesEveryBatchModeWithPerOp(t *testing.T) {
	fdtest.Check(t)
	sec := harnesstest.Quick(t, Experiment)
	var batchRows int
	for _, r := range sec.Rows {
		if r.RefName == "our per-op" {
			batchRows++
		}
	}
	// Batch and BatchAll on the syscall and auto backends at least; the
	// uring backend where io_uring is usable.
	if batchRows < 4 {
		t.Errorf("%d batch rows against per-op, want at least 4:\n%+v", batchRows, sec.Rows)
	}
}

func TestStreamNamesEachFdOncePerPhase(t *testing.T) {
	fds := []int{7, 8}
	ops := func(cmds []epoll.Cmd) (s string) {
		for _, c := range cmds {
			s += fmt.Sprintf("%v%d ", c.Op, c.Fd)
		}
		return s
	}
	turn, phase := ops(stream(fds, false)), ops(stream(fds, true))
	a, m, d := epoll.OpAdd, epoll.OpModify, epoll.OpDelete
	if want := fmt.Sprintf("%v7 %v7 %v7 %v8 %v8 %v8 ", a, m, d, a, m, d); turn != want {
		t.Errorf("perf's round: %s, want %s", turn, want)
	}
	if want := fmt.Sprintf("%v7 %v8 %v7 %v8 %v7 %v8 ", a, a, m, m, d, d); phase != want {
		t.Errorf("phase round: %s, want %s", phase, want)
	}
}
