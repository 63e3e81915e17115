package cref

import (
	"errors"
	"math"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestBuildWithoutGccIsNoReference(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, _, err := Build("x", "int main(void){return 0;}")
	if !errors.Is(err, ErrNoReference) || err.Error() != GccMissing {
		t.Errorf("gcc absent: err = %v, want a NoReference saying %q", err, GccMissing)
	}
}

func TestBuildOfBadCIsNoReferenceWithTheComplaint(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip(GccMissing)
	}
	_, _, err := Build("bad", "this is not C")
	var nr *NoReference
	if !errors.As(err, &nr) || !strings.HasPrefix(nr.Why, "gcc failed") {
		t.Errorf("bad source: err = %v, want a NoReference with gcc's complaint", err)
	}
}

func buildOrSkip[P any](t *testing.T, build func() (P, error)) P {
	t.Helper()
	p, err := build()
	if errors.Is(err, ErrNoReference) {
		t.Skip("C reference unavailable:", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPipetestInCRunsTheRingInOneTableAndInSegments(t *testing.T) {
	p := buildOrSkip(t, BuildPipetest)
	defer p.Close()
	for _, c := range []struct{ n, seg int }{{10, 10}, {30, 10}} {
		rates, err := p.Run(c.n, c.seg, 20*time.Millisecond, time.Millisecond, 2, []string{"direct", "epoll", "epoll-lt"})
		if err != nil {
			t.Fatalf("N=%d segment %d: %v", c.n, c.seg, err)
		}
		if len(rates) != 3 {
			t.Errorf("N=%d: %d mechanisms, want 3", c.n, len(rates))
		}
		for m, rs := range rates {
			if len(rs) != 2 {
				t.Errorf("N=%d %s: %d rounds, want 2", c.n, m, len(rs))
			}
		}
	}
	if _, err := p.Run(10, 10, 20*time.Millisecond, time.Millisecond, 2, []string{"kqueue"}); err == nil {
		t.Errorf("C pipetest with an unknown mechanism: no error")
	}
}

func TestParsePipetestRejectsMalformedOutput(t *testing.T) {
	mechs := []string{"direct", "epoll"}
	if got, err := parsePipetest("direct 10 20\nepoll 5 6\n", mechs, 2); err != nil || got["epoll"][1] != 6 {
		t.Fatalf("well-formed output: %v, %v", got, err)
	}
	for _, out := range []string{
		"", "direct 10 20\n", "direct 10\nepoll 5\n", "direct 10 20\nepoll 5 x\n",
		"direct 10 20\nepoll 5 -1\n", "direct 10 20\ndirect 5 6\n", "poll 1 2\nepoll 5 6\n",
		"direct 10 20\nepoll 5 +Inf\n", "direct 10 20\nepoll 5 NaN\n",
	} {
		if _, err := parsePipetest(out, mechs, 2); err == nil {
			t.Errorf("output %q: no error", out)
		}
	}
}

func FuzzParsePipetest(f *testing.F) {
	f.Add("direct 10 20\nepoll 5 6\n")
	f.Add("epoll 1e9 2\ndirect 3 4")
	f.Fuzz(func(t *testing.T, out string) {
		got, err := parsePipetest(out, []string{"direct", "epoll"}, 2)
		if err != nil {
			return
		}
		for m, rs := range got {
			if len(rs) != 2 {
				t.Fatalf("%s: %d rates accepted, want 2", m, len(rs))
			}
			for _, r := range rs {
				if !(r > 0) || math.IsInf(r, 0) {
					t.Fatalf("%s: rate %v accepted", m, r)
				}
			}
		}
	})
}

func TestPwait2InCReportsOneLinePerRequestAndNeverEarly(t *testing.T) {
	p := buildOrSkip(t, BuildPwait2)
	defer p.Close()
	reqs := []time.Duration{20 * time.Microsecond, 200 * time.Microsecond}
	want := map[time.Duration]int{reqs[0]: 7, reqs[1]: 3}
	got, err := p.Run(want, 0, reqs)
	if err != nil {
		t.Fatal(err)
	}
	for r, n := range want {
		if len(got[r]) != n {
			t.Errorf("request %v: %d samples, want %d", r, len(got[r]), n)
		}
		for _, x := range got[r] {
			if x < 0 {
				t.Errorf("request %v: C epoll_pwait2 returned %v early", r, -x)
			}
		}
	}
}

func TestParsePwait2RejectsWhatIsNotNanoseconds(t *testing.T) {
	got, err := parsePwait2([]byte("1000 5 7\n2000 -3\n"))
	if err != nil || len(got[1000]) != 2 || got[2000][0] != -3 {
		t.Fatalf("well-formed output: %v, %v", got, err)
	}
	for _, out := range []string{"x 1\n", "1000 1.5\n", "1000 5 y\n"} {
		if _, err := parsePwait2([]byte(out)); err == nil {
			t.Errorf("output %q: no error", out)
		}
	}
}
