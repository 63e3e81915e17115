package perfbench

import (
	"bytes"
	"errors"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/cref"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

func TestArgsAreInPerfsOrderWithTheRuntimeInWholeSeconds(t *testing.T) {
	w := Workload{Threads: 2, Fds: 8, Runtime: 1500 * time.Millisecond, Nested: 3}
	want := []string{"-t", "2", "-f", "8", "-r", "2", "-R", "-n", "-N", "3"}
	if got := w.Args("-R", "-n"); !slices.Equal(got, want) {
		t.Errorf("Args = %q, want %q", got, want)
	}
	w.Nested = 0
	if got := w.Args(); slices.Contains(got, "-N") {
		t.Errorf("Args without nesting = %q, want no -N", got)
	}
}

func TestOpenGivesEachThreadItsOwnNonblockingEventfds(t *testing.T) {
	fdtest.Check(t)
	threads, err := Workload{Threads: 3, Fds: 4, Runtime: time.Second}.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer Close(threads)
	seen := map[int]bool{}
	for i, th := range threads {
		if th.Tid != i || len(th.Fdmap) != 4 {
			t.Fatalf("thread %d: tid %d, %d fds; want tid %d and 4 fds", i, th.Tid, len(th.Fdmap), i)
		}
		for _, fd := range th.Fdmap {
			var buf [8]byte
			if seen[fd] {
				t.Fatalf("fd %d is in two maps", fd)
			}
			seen[fd] = true
			if _, err := unix.Read(fd, buf[:]); err != unix.EAGAIN {
				t.Errorf("read of a fresh eventfd %d = %v, want EAGAIN (non-blocking, count 0)", fd, err)
			}
		}
	}
}

func TestStartRecordsEachThreadsFirstErrorAndItsTime(t *testing.T) {
	threads := []*Thread{{Tid: 0}, {Tid: 1}, {Tid: 2}}
	unpinned, broke := errors.New("not pinned"), errors.New("broke")
	worked := make([]bool, len(threads))
	_, done := Start(threads, 20*time.Millisecond,
		func(i int) error {
			if i == 1 {
				return unpinned
			}
			return nil
		},
		func(i int, clock *harness.Clock) error {
			worked[i] = true
			for !clock.Expired(true) {
				time.Sleep(time.Millisecond)
			}
			if i == 2 {
				return broke
			}
			return nil
		})
	<-done
	if threads[0].Err != nil || threads[1].Err != unpinned || threads[2].Err != broke {
		t.Errorf("errors %v, %v, %v; want nil, the prepare's, the work's", threads[0].Err, threads[1].Err, threads[2].Err)
	}
	if worked[1] {
		t.Error("a thread whose prepare failed worked")
	}
	if threads[0].Elapsed < 20*time.Millisecond {
		t.Errorf("a thread that worked to the end ran %v, want at least the runtime", threads[0].Elapsed)
	}
}

func TestTallyPrintsPerfsLinePerThread(t *testing.T) {
	var ty Tally
	ty.Count(&Thread{Fdmap: []int{7}, Elapsed: 2 * time.Second}, 100)
	ty.Count(&Thread{Fdmap: []int{8, 9, 10}, Elapsed: time.Second}, 150)
	if ty.Elapsed != 2 || !slices.Equal(ty.PerThread, []float64{50, 150}) || ty.Avg != 100 {
		t.Errorf("tally %+v: want the longest time, each thread's rate over its own time and their mean", ty)
	}
	var out bytes.Buffer
	ty.PrintThreads(&out, func(i int, one bool) string {
		if one {
			return "one"
		}
		return "many"
	})
	re := regexp.MustCompile(`^\[thread  0\] fdmap: 0x[0-9a-f]+ \[ one \]\n\[thread  1\] fdmap: 0x[0-9a-f]+ \.\.\. 0x[0-9a-f]+ \[ many \]\n$`)
	if !re.MatchString(out.String()) {
		t.Errorf("printed %q, want perf's fdmap lines", out.String())
	}
}

func TestReferenceDoesNotRunWherePlanSaysWhy(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	p := NewPlan(harness.Options{})
	if p.Runs() || p.Note != cref.PerfMissing {
		t.Errorf("plan without perf = %+v, want no run and the reason", p)
	}
	ref := NewReference(p, "wait", "default", 1, []string{"-t", "1"}, func(string) (int, float64, error) { return 0, 0, nil })
	if ref.Run != nil || ref.Args != "" || ref.Note != cref.PerfMissing {
		t.Errorf("reference %+v, want no run, no flags and the plan's reason", ref)
	}
}
