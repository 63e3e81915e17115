package epoll

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

// The proposal bounds ncmds only by INT_MAX / sizeof(struct epoll_ctl_cmd);
// these tests run lengths around the old limit of 1024 and the io_uring
// backend's chunk of 256, with one failure placed on every chunk border,
// and compare each outcome, command by command, with a model of the
// kernel's interest set.

var batchLengths = []int{1, 1023, 1024, 1025, 5000}

// chunkBorders returns the first and last index of every chunk of n
// commands, and -1 for a batch without a failure.
func chunkBorders(n int) []int {
	out := []int{-1}
	for start := 0; start < n; start += batchRingEntries {
		out = append(out, start, min(start+batchRingEntries, n)-1)
	}
	return slices.Compact(out)
}

// lengthCmds builds n commands over fds. "distinct": an Add of fds[i] for
// command i, so the ring runs them unlinked; "repeat": fds[i%7] in turn
// added, modified and deleted, so commands on one fd depend on their
// order. The command at fail, if any, is replaced by one the kernel
// refuses: a Modify of an unregistered fd, or an Add of a registered one.
func lengthCmds(fds []int, shape string, n, fail int) []Cmd {
	cmds := make([]Cmd, n)
	visits := make(map[int]int)
	for i := range cmds {
		fd := fds[i]
		if shape == "repeat" {
			fd = fds[i%7]
		}
		op := [...]Op{OpAdd, OpModify, OpDelete}[visits[fd]%3]
		if shape == "distinct" {
			op = OpAdd
		}
		if i == fail {
			op = map[Op]Op{OpAdd: OpModify, OpModify: OpAdd, OpDelete: OpAdd}[op]
		}
		visits[fd]++
		cmds[i] = Cmd{Op: op, Fd: fd, Events: In, Data: uint64(i), Result: errBatchUntouched}
	}
	return cmds
}

// modelBatch applies cmds to an empty interest set as the kernel does, one
// epoll_ctl at a time, and returns what Batch (strict) or BatchAll must
// report: the outcome as batchOutcome prints it, and the data of every
// registration left.
func modelBatch(cmds []Cmd, strict bool) (string, []uint64) {
	set := make(map[int]uint64)
	out := slices.Clone(cmds)
	ok, first := 0, -1
	for i := range out {
		c := &out[i]
		_, reg := set[c.Fd]
		var errno unix.Errno
		switch {
		case c.Op == OpAdd && reg:
			errno = unix.EEXIST
		case c.Op != OpAdd && !reg:
			errno = unix.ENOENT
		case c.Op == OpDelete:
			delete(set, c.Fd)
		default:
			set[c.Fd] = c.Data
		}
		if errno == 0 {
			c.Result = nil
			ok++
			continue
		}
		c.Result = errno
		if first < 0 {
			first = i
		}
		if strict {
			markNotProcessed(out[i+1:])
			break
		}
	}
	var err error
	if first >= 0 {
		err = &BatchError{Index: first, Err: out[first].Result}
	}
	var data []uint64
	for _, d := range set {
		data = append(data, d)
	}
	slices.Sort(data)
	return batchOutcome(ok, err, out), data
}

// interestData returns the data of every registration of ep: each fd is a
// readable eventfd, so a level-triggered poll reports them all.
func interestData(t *testing.T, ep *Instance, max int) []uint64 {
	t.Helper()
	evs := make([]Event, max+1)
	n, err := ep.Wait(evs, 0)
	if err != nil {
		t.Fatal(err)
	}
	var data []uint64
	for _, ev := range evs[:n] {
		data = append(data, ev.Data())
	}
	slices.Sort(data)
	return data
}

// TestBatchOfAnyLengthKeepsEveryRuleAcrossChunks: at every length, on
// every backend, Batch stops at the first failure wherever it falls
// (n, the failing Result, ErrNotProcessed after it) and BatchAll goes on,
// exactly as the model of one epoll_ctl per command says. (BatchAuto
// without io_uring is the syscall backend; the EVENTPOLL_NO_URING=1 run
// tests it as such.)
func TestBatchOfAnyLengthKeepsEveryRuleAcrossChunks(t *testing.T) {
	fdtest.RaiseLimit(t, uint64(slices.Max(batchLengths))+1000)
	fds := make([]int, slices.Max(batchLengths))
	for i := range fds {
		fd, err := unix.Eventfd(1, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK) // always readable
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		fds[i] = fd
	}
	eachBatchBackend(t, func(t *testing.T, be BatchBackend) {
		for _, n := range batchLengths {
			for _, fail := range chunkBorders(n) {
				for _, shape := range []string{"distinct", "repeat"} {
					for _, strict := range []bool{true, false} {
						runLengthCase(t, be, fds, shape, n, fail, strict)
					}
				}
			}
		}
	})
}

func runLengthCase(t *testing.T, be BatchBackend, fds []int, shape string, n, fail int, strict bool) {
	t.Helper()
	ep, err := New(WithBatchBackend(be))
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	cmds := lengthCmds(fds, shape, n, fail)
	want, wantData := modelBatch(cmds, strict)
	f := ep.BatchAll
	if strict {
		f = ep.Batch
	}
	k, err := f(cmds)
	name := fmt.Sprintf("%s strict=%v %d commands, failure at %d", shape, strict, n, fail)
	if got := batchOutcome(k, err, cmds); got != want {
		t.Fatalf("%s:\n got  %s\n want %s", name, got, want)
	}
	if got := interestData(t, ep, n); !slices.Equal(got, wantData) {
		t.Fatalf("%s: interest set holds data %v, want %v", name, short(got), short(wantData))
	}
}

func short(d []uint64) string {
	s := fmt.Sprint(d)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return strings.TrimSpace(s)
}

// TestBatchOfAnyLengthAllocatesNothing: 5,000 commands in one call, on
// every backend, allocate nothing.
func TestBatchOfAnyLengthAllocatesNothing(t *testing.T) {
	const n = 5000
	fdtest.RaiseLimit(t, n+1000)
	fds := eventfds(t, n)
	add, del := make([]Cmd, n), make([]Cmd, n)
	for i, fd := range fds {
		add[i] = Cmd{Op: OpAdd, Fd: fd, Events: In, Data: uint64(i)}
		del[i] = Cmd{Op: OpDelete, Fd: fd}
	}
	eachBatchBackend(t, func(t *testing.T, be BatchBackend) {
		ep := newInstance(t, WithBatchBackend(be))
		for name, f := range map[string]func([]Cmd) (int, error){"Batch": ep.Batch, "BatchAll": ep.BatchAll} {
			allocs := testing.AllocsPerRun(5, func() {
				if k, err := f(add); k != n || err != nil {
					t.Fatalf("%s add = %d, %v", name, k, err)
				}
				if k, err := f(del); k != n || err != nil {
					t.Fatalf("%s del = %d, %v", name, k, err)
				}
			})
			if allocs != 0 {
				t.Errorf("%s of %d commands: %v allocations, want 0", name, n, allocs)
			}
		}
	})
}
