package cref

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// Output of perf 6.1 on a 2-CPU machine.
const (
	perfWaitSample = `# Running 'epoll/wait' benchmark:
Run summary [PID 10057]: 2 threads monitoring on 64 file-descriptors for 2 secs.

[thread  0] fdmap: 0x558cda9f13f0 ... 0x558cda9f14ec [ 294750 ops/sec ]
[thread  1] fdmap: 0x558cda9f1790 ... 0x558cda9f188c [ 232083 ops/sec ]

Averaged 263416 operations/sec (+- 11.90%), total secs = 2
`
	perfCtlSample = `# Running 'epoll/ctl' benchmark:
Run summary [PID 10258]: 2 threads doing epoll_ctl ops 64 file-descriptors for 2 secs.

[thread  0] fdmap: 0x55ac56e08430 ... 0x55ac56e0852c [ add: 460736 ops; mod: 460736 ops; del: 460736 ops ]
[thread  1] fdmap: 0x55ac56e087d0 [ add: 0012; mod: 0011; del: 0010s ops ]

Averaged 574976 ADD operations (+- 19.87%)
`
)

func TestParseWaitReadsThreadsAndAverage(t *testing.T) {
	p, err := ParseWait(perfWaitSample)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.PerThread) != 2 || p.PerThread[0] != 294750 || p.PerThread[1] != 232083 ||
		p.Avg != 263416 || p.RelStddev != 11.90 || p.Secs != 2 {
		t.Errorf("parsed %+v", p)
	}
	if _, err := ParseWait("perf: command not found\n"); err == nil {
		t.Error("garbage parsed without error")
	}
}

func TestParseCtlReadsBothLineFormats(t *testing.T) {
	p, err := ParseCtl(perfCtlSample)
	if err != nil {
		t.Fatal(err)
	}
	want := [][3]uint64{{460736, 460736, 460736}, {12, 11, 10}}
	if len(p.PerThread) != 2 || p.PerThread[0] != want[0] || p.PerThread[1] != want[1] {
		t.Errorf("parsed %v, want %v", p.PerThread, want)
	}
	if got := (CtlOutput{PerThread: want[:1]}).Rate(2); got != 3*460736/2 {
		t.Errorf("rate = %v", got)
	}
}

func TestRuntimeFlagTakesSecondsFractionsAndDurations(t *testing.T) {
	for in, want := range map[string]time.Duration{"8": 8 * time.Second, "0.5": 500 * time.Millisecond, "300ms": 300 * time.Millisecond} {
		got, err := ParseRuntime(in)
		if err != nil || got != want {
			t.Errorf("ParseRuntime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "-1", "x", "-2s", "NaN"} {
		if _, err := ParseRuntime(in); err == nil {
			t.Errorf("ParseRuntime(%q) accepted", in)
		}
	}
	if PerfSeconds(300*time.Millisecond) != 1 || PerfSeconds(1500*time.Millisecond) != 2 {
		t.Error("PerfSeconds must round up to whole seconds, at least 1")
	}
}

func TestPerfBenchWithoutPerfIsNoReference(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := PerfBench("wait", 1, nil)
	if !errors.Is(err, ErrNoReference) || err.Error() != PerfMissing {
		t.Errorf("perf absent: err = %v, want a NoReference saying %q", err, PerfMissing)
	}
	if v := PerfVersion(); v != "" {
		t.Errorf("perf absent: version %q", v)
	}
}

func TestPerfBenchWaitOutputParses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs perf for a second")
	}
	if PerfVersion() == "" {
		t.Skip(PerfMissing)
	}
	out, err := PerfBench("wait", 1, []string{"-t", "2", "-f", "8", "-r", "1"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseWait(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.PerThread) != 2 || p.Avg <= 0 || p.Secs != 1 {
		t.Errorf("perf output parsed as %+v:\n%s", p, out)
	}
}

func FuzzParseRuntime(f *testing.F) {
	for _, s := range []string{"8", "0.5", "300ms", "", "1e309", "-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseRuntime(s)
		if err == nil && d <= 0 {
			t.Errorf("ParseRuntime(%q) = %v without error", s, d)
		}
	})
}

func FuzzParsePerfOutput(f *testing.F) {
	f.Add(perfWaitSample)
	f.Add(perfCtlSample)
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := ParseWait(s); err == nil && len(p.PerThread) == 0 {
			t.Error("wait output accepted without threads")
		}
		if p, err := ParseCtl(s); err == nil && len(p.PerThread) == 0 {
			t.Error("ctl output accepted without threads")
		}
	})
}

func TestParseStatReadsCountsAndPassesOverTheRest(t *testing.T) {
	got := parseStat("# started on x\n75399,,syscalls:sys_enter_read,549253537,100.00,,\n" +
		"<not supported>,,syscalls:sys_enter_epoll_pwait2,0,100.00,,\nRun summary [PID 1]\n0,,syscalls:sys_enter_io_uring_enter,5,100.00,,\n")
	if len(got) != 2 || got["syscalls:sys_enter_read"] != 75399 || got["syscalls:sys_enter_io_uring_enter"] != 0 {
		t.Errorf("parsed %v", got)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add("75399,,syscalls:sys_enter_read,549253537,100.00,,\n")
	f.Fuzz(func(t *testing.T, s string) {
		for ev, v := range parseStat(s) {
			if ev == "" || !(v >= 0) || math.IsInf(v, 0) {
				t.Fatalf("accepted %q = %v", ev, v)
			}
		}
	})
}

func TestPerfBenchEchoSaysWhatItRuns(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	var buf strings.Builder
	if _, err := PerfBenchEcho(&buf, "wait", 1, []string{"-t", "1"}); !errors.Is(err, ErrNoReference) {
		t.Errorf("perf absent: err = %v", err)
	}
	if got := buf.String(); got != "\n# perf bench epoll wait -t 1\n" {
		t.Errorf("wrote %q, want the command and nothing else", got)
	}
}
