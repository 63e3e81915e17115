package proc_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/bench/cserver"
	"github.com/eventpoll/eventpoll/bench/load"
	"github.com/eventpoll/eventpoll/bench/proc"
	"github.com/eventpoll/eventpoll/internal/fdtest"
)

// The test binary doubles as peerserver: started with childEnv set, it is
// the child.
const childEnv = "PROC_TEST_CHILD=1"

func TestMain(m *testing.M) {
	if slices.Contains(os.Environ(), childEnv) {
		if err := proc.Serve(os.Args[1:], os.Stdin, os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func child(t *testing.T, cpus []int, args ...string) (*proc.Child, error) {
	t.Helper()
	return proc.Start(append([]string{os.Args[0]}, args...), cpus, []string{childEnv})
}

var quick = load.Timing{Duration: 100 * time.Millisecond}

func TestChildServesReportsMemoryAndStops(t *testing.T) {
	fdtest.Check(t)
	c, err := child(t, nil, "-impl", "net", "-app", "echo", "-loops", "1")
	if err != nil {
		t.Fatal(err)
	}
	if err := load.CheckEcho(context.Background(), c.Addr); err != nil {
		t.Fatal(err)
	}
	heap, stack, ok, err := c.GoMemory()
	if err != nil || !ok || heap == 0 || stack == 0 {
		t.Fatalf("GoMemory = %d, %d, %v, %v; want a Go child's heap and stacks", heap, stack, ok, err)
	}
	rss, err := c.RSS()
	if err != nil || rss < 1<<20 {
		t.Fatalf("RSS = %d, %v", rss, err)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func TestChildThatCannotStartSaysWhy(t *testing.T) {
	fdtest.Check(t)
	for args, want := range map[string]string{
		"-impl nosuch -app echo":              `no implementation "nosuch"`,
		"-impl nethttp -app echo":             `does not serve "echo"`,
		"-impl net -app echo -loops 0":        "-loops 0",
		"-impl gnet -app echo -mode sideways": `no mode "sideways"`,
	} {
		_, err := child(t, nil, strings.Fields(args)...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to say %q", args, err, want)
		}
	}
}

func TestStartOnPinsEveryThreadOfTheChild(t *testing.T) {
	fdtest.Check(t)
	cpus, err := proc.CPUs()
	if err != nil {
		t.Fatal(err)
	}
	one := cpus[len(cpus)-1:]
	c, err := child(t, one, "-impl", "gnet", "-app", "echo", "-loops", "1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	tasks, err := os.ReadDir("/proc/" + itoa(c.Pid) + "/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/" + itoa(c.Pid) + "/task/" + task.Name() + "/status")
		if err != nil {
			continue // the thread ended
		}
		if got := field(string(b), "Cpus_allowed_list:"); got != itoa(one[0]) {
			t.Errorf("thread %s of the child may run on CPUs %q, want %d", task.Name(), got, one[0])
		}
	}
	// The parent's own threads kept their CPUs.
	after, _ := proc.CPUs()
	if !slices.Equal(after, cpus) {
		t.Errorf("parent's CPUs went from %v to %v", cpus, after)
	}
}

func TestPinSelfMovesEveryThreadAndRestores(t *testing.T) {
	cpus, err := proc.CPUs()
	if err != nil {
		t.Fatal(err)
	}
	restore, err := proc.PinSelf(cpus[:1])
	if err != nil {
		t.Fatal(err)
	}
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/status")
		if err != nil {
			continue
		}
		if got := field(string(b), "Cpus_allowed_list:"); got != itoa(cpus[0]) {
			t.Errorf("thread %s may run on CPUs %q after PinSelf(%d)", task.Name(), got, cpus[0])
		}
	}
	restore()
	if after, _ := proc.CPUs(); !slices.Equal(after, cpus) {
		t.Errorf("CPUs after restore %v, want %v", after, cpus)
	}
}

func TestCServersPassTheChecksAndGenerators(t *testing.T) {
	for _, srv := range []struct {
		name  string
		build func(dir string) (bin, note string)
	}{{"epoll", cserver.Build}, {"io_uring", cserver.BuildURing}} {
		t.Run(srv.name, func(t *testing.T) {
			fdtest.Check(t)
			bin, note := srv.build(t.TempDir())
			if bin == "" {
				t.Skip("C server not built: " + note)
			}
			ctx := context.Background()
			for _, app := range []string{"echo", "http"} {
				c, err := proc.Start([]string{bin, "-app", app, "-addr", "127.0.0.1:0", "-loops", "2"}, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				if app == "echo" {
					err = load.CheckEcho(ctx, c.Addr)
					if err == nil {
						_, err = load.Echo{Addr: c.Addr, Conns: 8, Size: 4096, Depth: 4, Timing: quick}.Run(ctx)
					}
				} else {
					err = load.CheckHTTP(ctx, c.Addr)
					if err == nil {
						_, err = load.HTTP{Addr: c.Addr, Conns: 8, Depth: 16, Timing: quick}.Run(ctx)
					}
				}
				if err != nil {
					c.Stop()
					t.Fatalf("C %s %s: %v", srv.name, app, err)
				}
				if _, _, ok, err := c.GoMemory(); err != nil || ok {
					t.Errorf("C server's GoMemory: ok %v, err %v; want no Go figures and no error", ok, err)
				}
				if err := c.Stop(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func field(status, name string) string {
	for line := range strings.Lines(status) {
		if v, ok := strings.CutPrefix(line, name); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func itoa(i int) string { return strconv.Itoa(i) }
