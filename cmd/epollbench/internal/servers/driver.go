package servers

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
)

// driver runs the bench module's peerbench as a child process: the go
// command, `go run ./cmd/peerbench` in the module's directory, so that
// the peers' dependencies stay in that module's go.mod.
type driver struct {
	Root string // the repository (holding bench/); "" finds it
	Go   string // the go command; "" finds it on PATH
	// Stdout gets peerbench's table; nil discards it.
	Stdout io.Writer
	Log    harness.Log // peerbench's progress lines
	// Timeout ends a run that takes longer (0: none); peerbench's own
	// checks end a stalled run well before a timeout would.
	Timeout time.Duration
}

// unavailableError is why the servers cannot be run here at all: not a
// failure of what is measured, but of what the machine has.
type unavailableError struct{ why string }

func (e *unavailableError) Error() string { return e.why }

// module is the repository's path of the bench module.
const module = "bench"

// rootModule is the module the repository's go.mod declares.
const rootModule = "github.com/eventpoll/eventpoll"

// benchDir finds the bench module: in d.Root when set, else in the
// repository this file was compiled from, else in the working directory
// or one above it.
func (d driver) benchDir() (string, error) {
	var tried []string
	for _, root := range d.roots() {
		if slices.Contains(tried, root) {
			continue
		}
		tried = append(tried, root)
		if !isRepository(root) {
			continue
		}
		dir := filepath.Join(root, module)
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
	}
	return "", &unavailableError{fmt.Sprintf("the bench module (%s/go.mod) was not found in %s: the servers are not run",
		module, strings.Join(tried, ", "))}
}

func (d driver) roots() []string {
	if d.Root != "" {
		return []string{d.Root}
	}
	var roots []string
	// Under go run and go test, this file's path names the checkout.
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		roots = append(roots, filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", "..", "..")))
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			roots = append(roots, dir)
			if dir == filepath.Dir(dir) {
				break
			}
		}
	}
	return roots
}

// isRepository reports whether dir holds eventpoll's go.mod.
func isRepository(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" && f[1] == rootModule {
			return true
		}
	}
	return false
}

func (d driver) goCommand() (string, error) {
	if d.Go != "" {
		return d.Go, nil
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); isExecutable(p) {
			return p, nil
		}
	}
	return "", &unavailableError{"the go command is not on PATH: the servers section runs the bench module with go run"}
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// list returns the names of the implementations peerbench can run.
func (d driver) list() ([]string, error) {
	cmd, err := d.command(context.Background(), "-list")
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %s", commandLine([]string{"-list"}), err, strings.TrimSpace(stderr.String()))
	}
	var names []string
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// command is `go run ./cmd/peerbench args...` in the bench module, or
// why it cannot be run here (an *unavailableError).
func (d driver) command(ctx context.Context, args ...string) (*exec.Cmd, error) {
	dir, err := d.benchDir()
	if err != nil {
		return nil, err
	}
	goCmd, err := d.goCommand()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, goCmd, append([]string{"run", "./cmd/peerbench"}, args...)...)
	cmd.Dir = dir
	return cmd, nil
}

// commandLine is how a run is shown in the report: the go command's line.
func commandLine(args []string) string {
	return strings.Join(append([]string{"go", "run", "./cmd/peerbench"}, args...), " ")
}

// run runs peerbench with args (its flags; -json is added) and returns
// the JSON it wrote. Exit status 1 means a server failed its rows, and
// the JSON says which; any other failure is an error with the end of
// what peerbench said.
func (d driver) run(args []string) ([]byte, error) {
	f, err := os.CreateTemp("", "epollbench-peerbench-*.json")
	if err != nil {
		return nil, err
	}
	jsonPath := f.Name()
	f.Close()
	defer os.Remove(jsonPath)

	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if d.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, d.Timeout)
	}
	defer cancel()
	cmd, err := d.command(ctx, append(slices.Clone(args), "-json", jsonPath)...)
	if err != nil {
		return nil, err
	}
	cmd.Stdout = d.Stdout
	if cmd.Stdout == nil {
		cmd.Stdout = io.Discard
	}
	// go run's child holds the pipes too: after a kill, stop waiting
	// for them.
	cmd.WaitDelay = 5 * time.Second
	tail := &lastLines{max: 12}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", commandLine(args), err)
	}
	sc := bufio.NewScanner(stderr)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		d.Log.Printf("%s", sc.Text())
		tail.add(sc.Text())
	}
	io.Copy(io.Discard, stderr) // a line too long for the scanner must not stop the child
	err = cmd.Wait()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%s: stopped after %v%s", commandLine(args), d.Timeout, tail)
	case err == nil, errors.As(err, &exit) && exit.ExitCode() == 1:
	default:
		return nil, fmt.Errorf("%s: %v%s", commandLine(args), err, tail)
	}
	b, rerr := os.ReadFile(jsonPath)
	if rerr == nil && len(bytes.TrimSpace(b)) == 0 {
		rerr = errors.New("it wrote no JSON")
	}
	if rerr != nil {
		return nil, fmt.Errorf("%s: %v%s", commandLine(args), rerr, tail)
	}
	return b, nil
}

// lastLines keeps the last lines of a stream, for an error to quote.
type lastLines struct {
	max   int
	lines []string
}

func (l *lastLines) add(s string) {
	l.lines = append(l.lines, s)
	if len(l.lines) > l.max {
		l.lines = l.lines[1:]
	}
}

func (l *lastLines) String() string {
	if len(l.lines) == 0 {
		return ""
	}
	return "; it said:\n\t" + strings.Join(l.lines, "\n\t")
}
