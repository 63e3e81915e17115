package pipetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness/harnesstest"
	"github.com/eventpoll/eventpoll/internal/fdtest"
	"golang.org/x/sys/unix"
)

func TestRingKeepsExactlyOneToken(t *testing.T) {
	for _, m := range mechanisms {
		t.Run(m.name, func(t *testing.T) {
			pr, err := newTokenRing(5)
			if err != nil {
				t.Fatal(err)
			}
			defer pr.close()
			st, err := m.open(pr)
			if errors.Is(err, errSkip) {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer st.close()
			passes := 0
			for passes < 23 {
				k, err := st.step()
				if err != nil {
					t.Fatal(err)
				}
				passes += k
			}
			// 23 passes around 5 pipes: the token is now in pipe 23 % 5 = 3,
			// and in no other.
			var buf [8]byte
			total := 0
			for i, fd := range pr.r {
				n, err := unix.Read(fd, buf[:])
				if err == unix.EAGAIN {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if i != 3 {
					t.Errorf("token found in pipe %d, want pipe 3", i)
				}
				total += n
			}
			if total != 1 {
				t.Errorf("%d bytes in the ring after %d passes, want the 1-byte token", total, passes)
			}
		})
	}
}

func TestSelectSkipsDescriptorsPastFdSetSize(t *testing.T) {
	pr := &tokenRing{r: []int{3, fdSetSize}, w: []int{4, 5}}
	if _, err := openSelect(pr); err == nil || !strings.Contains(err.Error(), "FD_SETSIZE") {
		t.Fatalf("select on descriptor %d: err = %v, want a skip naming FD_SETSIZE", fdSetSize, err)
	}
}

func TestReportQuickMeasuresEveryMechanismWithoutLeaks(t *testing.T) {
	fdtest.Check(t)
	sec := harnesstest.Quick(t, Experiment)
	res := sec.Raw.(*result)
	for _, n := range res.Ns {
		for _, m := range []string{"poll", "epoll", "epoll-lt"} {
			if res.rate(m, n) <= 0 {
				t.Errorf("%s N=%d: no passes measured", m, n)
			}
		}
	}
	if res.rate("select", 10) <= 0 {
		t.Errorf("select N=10: no passes measured")
	}
	for _, r := range sec.Rows {
		if r.RefName == "target" && (r.Target == nil || r.Target.Verdict == harness.NotJudged) {
			t.Errorf("flatness row %q: target %+v, want it judged", r.Case, r.Target)
		}
	}
	for _, want := range []string{"epoll N=1000 / N=10", "epoll vs poll N=1000", "poll N=10"} {
		found := false
		for _, r := range sec.Rows {
			found = found || r.Case == want
		}
		if !found {
			t.Errorf("no row %q", want)
		}
	}
	// The shape the benchmark exists to show, with a generous margin: poll
	// scans all N descriptors per pass, so 100 times more pipes cannot leave
	// it at even half its rate.
	if p10, p1000 := res.rate("poll", 10), res.rate("poll", 1000); p1000 > p10/2 {
		t.Errorf("poll: %.0f passes/s at N=1000 against %.0f at N=10; want the O(N) fall", p1000, p10)
	}
}

func TestRunPrintsTable(t *testing.T) {
	harnesstest.Prints(t, Experiment, []string{"-n", "10,50", "-d", "30ms", "-rounds", "2", "-warmup", "0", "-mech", "poll,epoll"},
		"poll passes/s", "epoll passes/s", "\n      10 ", "\n      50 ", "2002 (seed 001)")
}

func TestRunRejectsBadFlags(t *testing.T) {
	harnesstest.Refuses(t, Experiment,
		[]string{"-n", "0"},
		[]string{"-n", "ten"},
		[]string{"-mech", "kqueue"},
		[]string{"-d", "0s"},
		[]string{"-rounds", "0"},
		[]string{"-warmup", "-1s"},
		[]string{"-segment", "-1"},
		[]string{"-segment", "1"})
}

// failingStepper is a mechanism whose wait breaks on its first call.
type failingStepper struct{}

var errStepBroke = errors.New("the wait broke")

func (failingStepper) step() (int, error) { return 0, errStepBroke }
func (failingStepper) close()             {}

// A mechanism that fails on a ring in one descriptor table must fail the
// run: the error once went to a variable scoped to the if, and the run
// carried on as if the round had passed.
func TestFailureOnASingleTableRingIsReturned(t *testing.T) {
	fdtest.Check(t)
	broken := mech{"broken", func(*tokenRing) (stepper, error) { return failingStepper{}, nil }}
	_, err := config{Ns: []int{10}, Mechs: []string{"epoll", "broken"}, known: append(mechanisms, broken),
		Duration: 10 * time.Millisecond, Rounds: 1, Log: harnesstest.Log(t)}.Run()
	if !errors.Is(err, errStepBroke) || !strings.Contains(err.Error(), "broken N=10") {
		t.Fatalf("run with a mechanism that fails: err = %v, want the failure naming the mechanism and N", err)
	}
}
