package servers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness/harnesstest"
)

// The test binary is also a fake go command running a fake peerbench:
// run with fakeEnv set, it checks that it was asked for
// `run ./cmd/peerbench`, records its arguments and working directory in
// the file fakeRecordEnv names, and behaves as the scenario says.
const (
	fakeEnv       = "EPOLLBENCH_TEST_FAKE_PEERBENCH" // ok, failed (exit 1 with JSON), broken (exit 2), nojson, hang
	fakeJSONEnv   = "EPOLLBENCH_TEST_FAKE_JSON"      // the JSON the fake writes
	fakeRecordEnv = "EPOLLBENCH_TEST_FAKE_RECORD"    // where it records how it was run
	fakeListEnv   = "EPOLLBENCH_TEST_FAKE_LIST"      // the implementations -list prints, comma-separated
)

func TestMain(m *testing.M) {
	if scenario := os.Getenv(fakeEnv); scenario != "" {
		os.Exit(fakePeerbench(scenario, os.Args[1:]))
	}
	os.Exit(m.Run())
}

type fakeRecord struct {
	Args []string
	Dir  string
}

func fakePeerbench(scenario string, args []string) int {
	dir, _ := os.Getwd()
	if p := os.Getenv(fakeRecordEnv); p != "" {
		b, _ := json.Marshal(fakeRecord{args, dir})
		os.WriteFile(p, b, 0o644)
	}
	if len(args) < 2 || args[0] != "run" || args[1] != "./cmd/peerbench" {
		fmt.Fprintf(os.Stderr, "fake go: want run ./cmd/peerbench, got %q\n", args)
		return 3
	}
	if slices.Contains(args, "-list") {
		for _, name := range strings.Split(os.Getenv(fakeListEnv), ",") {
			fmt.Printf("%-8s the %s server\n", name, name)
		}
		return 0
	}
	jsonPath := ""
	if i := slices.Index(args, "-json"); i >= 0 && i+1 < len(args) {
		jsonPath = args[i+1]
	}
	fmt.Fprintln(os.Stderr, "peerbench   0.1s: loops=1 echo: round 1 of 1")
	fmt.Println("fake peerbench table")
	switch scenario {
	case "ok", "failed":
		b, err := os.ReadFile(os.Getenv(fakeJSONEnv))
		if err != nil || os.WriteFile(jsonPath, b, 0o644) != nil {
			fmt.Fprintln(os.Stderr, "fake: cannot copy the JSON:", err)
			return 3
		}
		if scenario == "failed" {
			return 1
		}
	case "broken":
		fmt.Fprintln(os.Stderr, "peerbench: build peerserver: exit status 1: cannot find module providing package")
		return 2
	case "hang":
		time.Sleep(time.Minute)
	}
	return 0
}

// fakeRepository makes a directory that looks like the repository: the
// root module's go.mod and bench/go.mod.
func fakeRepository(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bench"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "go.mod"), []byte("module "+rootModule+"\n\ngo 1.26.0\n"), 0o644)
	os.WriteFile(filepath.Join(root, "bench", "go.mod"), []byte("module "+rootModule+"/bench\n"), 0o644)
	return root
}

// fake arranges for the test binary to be the go command in scenario,
// writing the canned JSON file testdata/name, and returns a driver that
// runs it in a fake repository, and where the fake records how it ran.
func fake(t *testing.T, scenario, name string) (driver, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	canned, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(t.TempDir(), "record.json")
	t.Setenv(fakeEnv, scenario)
	t.Setenv(fakeJSONEnv, canned)
	t.Setenv(fakeRecordEnv, record)
	// The fake is this binary: under -race, not a second's sleep at its
	// every exit.
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	return driver{Root: fakeRepository(t), Go: exe}, record
}

func readRecord(t *testing.T, path string) fakeRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the fake peerbench did not run: %v", err)
	}
	var r fakeRecord
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func sameDir(t *testing.T, a, b string) bool {
	t.Helper()
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

func TestDriverRunsPeerbenchInTheBenchModuleAndReadsItsJSON(t *testing.T) {
	d, record := fake(t, "ok", "peerbench-short.json")
	var table, progress bytes.Buffer
	d.Stdout, d.Log = &table, harness.Log{W: &progress}
	raw, err := d.run([]string{"-short", "-rounds", "3"})
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := os.ReadFile("testdata/peerbench-short.json"); !bytes.Equal(raw, want) {
		t.Error("the JSON read back is not what peerbench wrote")
	}
	rec := readRecord(t, record)
	if n := len(rec.Args); n != 7 || !slices.Equal(rec.Args[:6], []string{"run", "./cmd/peerbench", "-short", "-rounds", "3", "-json"}) {
		t.Errorf("peerbench ran as %q", rec.Args)
	} else if _, err := os.Stat(rec.Args[6]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the JSON file %s is left behind (%v)", rec.Args[6], err)
	}
	if !sameDir(t, rec.Dir, filepath.Join(d.Root, "bench")) {
		t.Errorf("peerbench ran in %s, want %s/bench", rec.Dir, d.Root)
	}
	if !strings.Contains(table.String(), "fake peerbench table") || !strings.Contains(progress.String(), "loops=1 echo: round 1 of 1") {
		t.Errorf("table %q, progress %q: peerbench's stdout is the table, its stderr the progress", table.String(), progress.String())
	}
}

// Exit status 1 is peerbench's "a server failed its rows": the run is
// read, and the rows say which failed.
func TestDriverExitOneIsAFailedServerNotAFailedRun(t *testing.T) {
	d, _ := fake(t, "failed", "peerbench-ours.json")
	raw, err := d.run([]string{"-short"})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := sectionOf([]string{"-short"}, raw, nil)
	if err != nil {
		t.Fatalf("a peer's failure failed the section: %v", err)
	}
	if r := rowOf(t, sec, "http c100 loops=all", "nbio"); !strings.Contains(r.RefNote, "nbio FAILED") {
		t.Errorf("the failed peer's row: %+v", r)
	}
}

func TestDriverSaysWhyARunFailed(t *testing.T) {
	for _, c := range []struct {
		scenario string
		timeout  time.Duration
		want     []string
	}{
		{"broken", 0, []string{"go run ./cmd/peerbench -short", "exit status 2", "build peerserver: exit status 1"}},
		{"nojson", 0, []string{"go run ./cmd/peerbench -short", "wrote no JSON", "round 1 of 1"}},
		{"hang", time.Second, []string{"go run ./cmd/peerbench -short", "stopped after 1s"}},
	} {
		d, _ := fake(t, c.scenario, "peerbench-short.json")
		d.Timeout = c.timeout
		t0 := time.Now()
		raw, err := d.run([]string{"-short"})
		if err == nil || raw != nil {
			t.Errorf("%s: no error", c.scenario)
			continue
		}
		if time.Since(t0) > 30*time.Second {
			t.Errorf("%s: took %v", c.scenario, time.Since(t0))
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.scenario, err, w)
			}
		}
		if _, serr := sectionOf([]string{"-short"}, raw, err); serr != err {
			t.Errorf("%s: the section's error is %v, want the run's", c.scenario, serr)
		}
	}
}

// Without the bench module or the go command the section is one row
// saying why, and the report does not fail.
func TestMissingModuleOrGoCommandIsARowNoteNotAFailure(t *testing.T) {
	noBench := t.TempDir()
	os.WriteFile(filepath.Join(noBench, "go.mod"), []byte("module "+rootModule+"\n"), 0o644)
	otherModule := fakeRepository(t)
	os.WriteFile(filepath.Join(otherModule, "go.mod"), []byte("module example.com/other\n"), 0o644)
	for _, c := range []struct {
		name string
		d    driver
		path string // PATH
		want string
	}{
		{"empty directory", driver{Root: t.TempDir()}, os.Getenv("PATH"), "bench module (bench/go.mod) was not found"},
		{"no bench/", driver{Root: noBench}, os.Getenv("PATH"), "bench module (bench/go.mod) was not found"},
		{"another repository", driver{Root: otherModule}, os.Getenv("PATH"), "bench module (bench/go.mod) was not found"},
		{"no go command", driver{Root: fakeRepository(t)}, t.TempDir(), "the go command is not on PATH"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("PATH", c.path)
			t.Setenv("GOROOT", "")
			for _, run := range []func() error{
				func() error { _, err := c.d.run([]string{"-short"}); return err },
				func() error { _, err := c.d.list(); return err },
			} {
				err := run()
				var un *unavailableError
				if !errors.As(err, &un) || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("err = %v, want it unavailable: %q", err, c.want)
				}
			}
			sec, err := reportWith(c.d, false)
			if err != nil {
				t.Fatalf("the section failed: %v", err)
			}
			if len(sec.Rows) != 1 || sec.Rows[0].Case != "servers not run" || !strings.Contains(sec.Rows[0].RefNote, c.want) ||
				sec.Rows[0].Ours != 0 || len(sec.Charts) != 0 {
				t.Errorf("rows %+v, charts %d", sec.Rows, len(sec.Charts))
			}
			if len(sec.Notes) != 1 || !strings.Contains(sec.Notes[0], c.want) {
				t.Errorf("notes %q", sec.Notes)
			}
		})
	}
}

// The quick plan runs ours and one Go peer where they are registered, in
// a run of seconds; as every quick run, no C reference.
func TestQuickPlanKeepsOursAndOneGoPeer(t *testing.T) {
	for _, c := range []struct{ listed, impls string }{
		{"eventpoll,gnet,nbio,netpoll,net,nethttp,c", "eventpoll,net"},
		{"gnet,nbio,netpoll,net,nethttp,c", "net"},
	} {
		d, record := fake(t, "ok", "peerbench-short.json")
		t.Setenv(fakeListEnv, c.listed)
		if _, err := reportWith(d, true); err != nil {
			t.Fatal(err)
		}
		args := readRecord(t, record).Args
		i := slices.Index(args, "-impls")
		if i < 0 || args[i+1] != c.impls || !slices.Contains(args, "-short") || !slices.Contains(args, "-wrk=false") {
			t.Errorf("listed %s: the quick run was %q, want -impls %s", c.listed, args, c.impls)
		}
	}
}

func TestSubcommandPassesTheDriversFlagsThrough(t *testing.T) {
	d, record := fake(t, "ok", "peerbench-ours.json")
	bin := t.TempDir()
	if err := os.Symlink(d.Go, filepath.Join(bin, "go")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	saved := filepath.Join(t.TempDir(), "peers.json")
	harnesstest.Prints(t, Experiment, []string{"-root", d.Root, "-short", "-rounds", "3", "-duration", "2s", "-warmup", "100ms",
		"-idle", "500", "-cases", "echo,idle", "-impls", "gnet, c", "-wrk=false", "-json", saved},
		"fake peerbench table", "EXPERIMENT", "idle c2000 loops=1 Go heap+stack", ">= 1.1x met", "note (servers): FAILED: nbio")
	args := readRecord(t, record).Args
	want := []string{"run", "./cmd/peerbench", "-short", "-rounds", "3", "-idle", "500", "-duration", "2s", "-warmup", "100ms",
		"-cases", "echo,idle", "-impls", "gnet,c", "-wrk=false", "-json"}
	if len(args) != len(want)+1 || !slices.Equal(args[:len(want)], want) {
		t.Errorf("peerbench ran as\n%q, want\n%q and the JSON's path", args, want)
	}
	if b, _ := os.ReadFile(saved); !bytes.Equal(b, mustRead(t, "testdata/peerbench-ours.json")) {
		t.Errorf("-json did not save peerbench's JSON")
	}
	for _, bad := range [][]string{{"-rounds", "-1"}, {"-duration", "-1s"}, {"-cases", "echo,bogus"}, {"-impls", " , "}, {"-idle", "-5"}} {
		_, err := harnesstest.Run(t, Experiment, bad...)
		if err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%q: err = %v, want the flag refused", bad, err)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The real driver in the real bench module, the quick plan: what this
// package reads is what peerbench writes.
func TestQuickSectionFromTheRealDriver(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the bench module's driver (about 10 s)")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	sec, err := reportWith(driver{Log: harnesstest.Log(t), Timeout: 5 * time.Minute}, true)
	if err != nil {
		t.Fatal(err)
	}
	harnesstest.CheckSection(t, sec, name)
	if len(sec.Rows) == 1 && sec.Rows[0].Case == "servers not run" {
		t.Fatalf("the servers were not run: %s", sec.Rows[0].RefNote)
	}
	measured := map[string]bool{}
	for _, r := range sec.Rows {
		if r.Ref > 0 {
			measured[r.RefName] = true
		}
	}
	if !measured["net"] || len(sec.Charts) != len(families) {
		t.Errorf("figures of %v, %d charts: want net's and a chart per family", measured, len(sec.Charts))
	}
	// The quick plan is the short one's: the p99 target is judged on the
	// latency rows, at one offered rate, in both placements where there
	// are two CPUs.
	var targets []string
	for _, r := range sec.Rows {
		if r.RefName == "best Go peer's p99" && r.Target != nil {
			targets = append(targets, r.Case)
		}
	}
	if len(targets) == 0 || !slices.ContainsFunc(targets, func(c string) bool { return c == "http c100 @20k/s loops=1 p99" }) {
		t.Errorf("p99 target rows %q, want http c100 @20k/s's", targets)
	}
}
