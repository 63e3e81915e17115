package driver

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/eventpoll/eventpoll/bench/cserver"
	"github.com/eventpoll/eventpoll/bench/peers"
	"github.com/eventpoll/eventpoll/bench/proc"
	"golang.org/x/sys/unix"
)

// impl is one implementation as the driver runs it: a peers.Impl in a
// peerserver child, or the C server.
type impl struct {
	name  string
	doc   string
	apps  []peers.App
	modes []string // the modes run in the connection-rate case: all for Ours, else the default
	ours  bool
	isC   bool   // a C server: no Go peer, no Go heap
	skip  string // why it cannot run (C without gcc, c-uring without io_uring)
	argv  func(app peers.App, loops int, mode string) []string
	env   []string
}

// key names one server: the implementation, and its mode where it has
// more than one.
func (im *impl) key(mode string) string {
	if mode == "" || len(im.modes) < 2 {
		return im.name
	}
	return im.name + "/" + mode
}

// goPeer reports whether the implementation counts as a Go peer in the
// ratios: not ours, not C.
func (im *impl) goPeer() bool { return !im.ours && !im.isC }

func (im *impl) serves(app peers.App) bool {
	for _, a := range im.apps {
		if a == app {
			return true
		}
	}
	return false
}

// placement is where the server and the generator run.
type placement struct {
	label       string // "1" or "all"
	serverLoops int
	serverCPUs  []int // nil: unpinned
	genCPUs     []int
	note        string
}

// env is what a run found and made before it starts: the server binaries,
// the implementations, the placements, and the notes the report carries.
type env struct {
	dir        string
	impls      []*impl
	placements []placement
	notes      []string
	machine    Machine
}

func newEnv(o Options) (*env, error) {
	dir, err := os.MkdirTemp("", "peerbench-")
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir}
	if err := e.init(o); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return e, nil
}

func (e *env) init(o Options) error {
	server := o.Server
	if server == nil {
		bin, err := buildPeerServer(e.dir)
		if err != nil {
			return err
		}
		server = []string{bin}
	}
	for _, p := range peers.All() {
		e.impls = append(e.impls, peerImpl(p, server, o.ServerEnv))
	}
	c := e.cImpl()
	if c.skip != "" {
		e.notes = append(e.notes, "C reference not run: "+c.skip)
	}
	e.impls = append(e.impls, c)
	// The C server on io_uring is an experiment beside the reference, run
	// only when named: the default plan, and the reports built on it, keep
	// their implementations and their length.
	if slices.Contains(o.Impls, cURing) {
		cu := e.cURingImpl()
		if cu.skip != "" {
			e.notes = append(e.notes, cURing+" not run: "+cu.skip)
		}
		e.impls = append(e.impls, cu)
	}
	if len(o.Impls) > 0 {
		var keep []*impl
		for _, name := range o.Impls {
			i := slices.IndexFunc(e.impls, func(im *impl) bool { return im.name == name })
			if i < 0 {
				return fmt.Errorf("no implementation %q (have %s)", name, implNames(e.impls))
			}
			keep = append(keep, e.impls[i])
		}
		e.impls = keep
	}
	if err := e.place(); err != nil {
		return err
	}
	e.notes = append(e.notes, raiseNoFile()...)
	e.machine = machine()
	return nil
}

// peerImpl runs a registered implementation in a peerserver child. A peer
// runs its default mode only; the implementation under test runs them all
// in the connection-rate case.
func peerImpl(p peers.Impl, server, env []string) *impl {
	modes := p.Modes
	if !p.Ours && len(modes) > 1 {
		modes = modes[:1]
	}
	return &impl{
		name: p.Name, doc: p.Doc, apps: p.Apps, modes: modes, ours: p.Ours, env: env,
		argv: func(app peers.App, loops int, mode string) []string {
			args := append(slices.Clone(server), "-impl", p.Name, "-app", string(app),
				"-addr", "127.0.0.1:0", "-loops", strconv.Itoa(loops))
			if mode != "" {
				args = append(args, "-mode", mode)
			}
			return args
		},
	}
}

// The C servers' names: the reference the ×C ratios divide by, and the
// same servers on io_uring.
const (
	cRef   = "c"
	cURing = "c-uring"
)

// cImpl builds the C server; without gcc it is skipped, saying why.
func (e *env) cImpl() *impl {
	bin, note := cserver.Build(e.dir)
	return cProgram(cRef, "C on raw epoll: a thread, an SO_REUSEPORT listener and an edge-triggered epoll instance per loop", bin, note)
}

// cURingImpl builds the C server on io_uring; it is skipped, saying why,
// where it cannot be built or the kernel refuses what it needs.
func (e *env) cURingImpl() *impl {
	bin, note := cserver.BuildURing(e.dir)
	return cProgram(cURing, "C on io_uring: a thread, an SO_REUSEPORT listener and a ring per loop; multishot accept, "+
		"multishot recv into provided buffers, one io_uring_enter per iteration (DEFER_TASKRUN)", bin, note)
}

func cProgram(name, doc, bin, note string) *impl {
	return &impl{
		name: name, doc: doc, apps: []peers.App{peers.Echo, peers.HTTP}, isC: true, skip: note,
		argv: func(app peers.App, loops int, _ string) []string {
			return []string{bin, "-app", string(app), "-addr", "127.0.0.1:0", "-loops", strconv.Itoa(loops)}
		},
	}
}

func implNames(impls []*impl) string {
	var s []string
	for _, im := range impls {
		s = append(s, im.name)
	}
	return strings.Join(s, ", ")
}

// place decides the placements: with two CPUs or more, "1 loop" pins the
// server to the first CPU and the generator to the others; "all cores"
// gives the server a loop per CPU, and nothing can be pinned apart.
func (e *env) place() error {
	cpus, err := proc.CPUs()
	if err != nil {
		return err
	}
	all := placement{label: "all", serverLoops: len(cpus), genCPUs: cpus,
		note: fmt.Sprintf("all cores: the server has %d loops on CPUs %v; unpinned, it shares them with the generator", len(cpus), cpus)}
	if len(cpus) < 2 {
		all.note = fmt.Sprintf("1 CPU (%v): one loop is all cores, and server and generator cannot be pinned apart", cpus)
		e.placements = []placement{all}
		e.notes = append(e.notes, all.note)
		return nil
	}
	one := placement{label: "1", serverLoops: 1, serverCPUs: cpus[:1], genCPUs: cpus[1:],
		note: fmt.Sprintf("1 loop: the server is pinned to CPU %d, the generator (and wrk) to CPUs %v", cpus[0], cpus[1:])}
	e.placements = []placement{one, all}
	e.notes = append(e.notes, one.note, all.note)
	return nil
}

// raiseNoFile raises this process's soft RLIMIT_NOFILE to the hard limit:
// the idle case holds its connections' client ends here. The children
// inherit it.
func raiseNoFile() []string {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return []string{"RLIMIT_NOFILE unknown: " + err.Error()}
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			return []string{"RLIMIT_NOFILE not raised: " + err.Error()}
		}
	}
	return nil
}

func (e *env) close() { os.RemoveAll(e.dir) }

// buildPeerServer compiles cmd/peerserver with the go command, in the
// module this file belongs to.
func buildPeerServer(dir string) (string, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, "peerserver")
	cmd := exec.Command(goCmd, "build", "-o", bin, "github.com/eventpoll/eventpoll/bench/cmd/peerserver")
	cmd.Dir = moduleDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build peerserver (in %s; run inside bench/ or pass -server): %v: %s",
			cmd.Dir, err, strings.TrimSpace(string(out)))
	}
	return bin, nil
}

// moduleDir is the bench module's directory, from this file's path when it
// is known (go run, go test), else the working directory.
func moduleDir() string {
	if _, file, _, ok := runtime.Caller(0); ok {
		dir := filepath.Dir(filepath.Dir(file))
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
	}
	wd, _ := os.Getwd()
	return wd
}

// Machine describes where a report was made.
type Machine struct {
	CPUs     int    `json:"cpus"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
	GCC      string `json:"gcc,omitempty"`
	Wrk      string `json:"wrk,omitempty"`
	CPUModel string `json:"cpu_model,omitempty"`
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	m.GCC = firstLine("gcc", "--version")
	m.Wrk = firstLine("wrk", "--version")
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPUModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return m
}

// firstLine runs a tool's version command and returns its first line, or
// "" when the tool is absent.
func firstLine(name string, args ...string) string {
	if _, err := exec.LookPath(name); err != nil {
		return ""
	}
	out, _ := exec.Command(name, args...).CombinedOutput() // wrk --version exits 1
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

var errNoRuns = errors.New("no case selected runs on any implementation")
