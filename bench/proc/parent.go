package proc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Child is a server running in a process of its own.
type Child struct {
	Addr string // where it listens, from its ready line
	Pid  int

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *os.File
	lines  *bufio.Scanner
	stderr *lockedBuffer
	done   chan struct{}
	err    error // the process's exit, once done is closed
}

// readyTimeout bounds a child's start: a Go server is ready in milliseconds,
// but a loaded machine and a cold binary cache take their time.
const readyTimeout = 30 * time.Second

// Start runs argv (a peerserver, or the C server, with its flags) with its
// affinity set to cpus (see StartOn; empty means unpinned) and extra
// environment env, and waits for its ready line.
func Start(argv []string, cpus []int, env []string) (*Child, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	// A pipe of our own rather than StdoutPipe: Wait closes that one when
	// the child exits, and would lose an "error" line it wrote last.
	stdout, w, err := os.Pipe()
	if err != nil {
		stdin.Close()
		return nil, err
	}
	cmd.Stdout = w
	c := &Child{cmd: cmd, stdin: stdin, stdout: stdout, lines: bufio.NewScanner(stdout), stderr: new(lockedBuffer), done: make(chan struct{})}
	cmd.Stderr = c.stderr
	err = StartOn(cmd, cpus)
	w.Close()
	if err != nil {
		stdin.Close()
		stdout.Close()
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	c.Pid = cmd.Process.Pid
	go func() { c.err = cmd.Wait(); close(c.done) }()
	line, err := c.readLine(readyTimeout)
	if err != nil {
		c.Kill()
		return nil, c.explain("no ready line", err)
	}
	addr, ok := strings.CutPrefix(line, "ready ")
	if !ok {
		c.Kill()
		return nil, c.explain("", errors.New(line))
	}
	c.Addr = addr
	return c, nil
}

// readLine reads one line from the child's stdout within timeout.
func (c *Child) readLine(timeout time.Duration) (string, error) {
	got := make(chan bool, 1)
	go func() { got <- c.lines.Scan() }()
	select {
	case ok := <-got:
		if !ok {
			<-c.done
			return "", fmt.Errorf("child exited (%v)", c.err)
		}
		return c.lines.Text(), nil
	case <-time.After(timeout):
		return "", fmt.Errorf("no answer within %v", timeout)
	}
}

// explain adds the child's stderr to err.
func (c *Child) explain(what string, err error) error {
	msg := err.Error()
	if what != "" {
		msg = what + ": " + msg
	}
	if s := strings.TrimSpace(c.stderr.String()); s != "" {
		msg += "; stderr: " + s
	}
	return fmt.Errorf("%s (pid %d): %s", c.cmd.Path, c.Pid, msg)
}

// GoMemory asks the child for its Go heap and stacks; ok is false for a
// child without a Go runtime (the C server).
func (c *Child) GoMemory() (heap, stack uint64, ok bool, err error) {
	if _, err := io.WriteString(c.stdin, "mem\n"); err != nil {
		return 0, 0, false, c.explain("mem", err)
	}
	line, err := c.readLine(readyTimeout)
	if err != nil {
		return 0, 0, false, c.explain("mem", err)
	}
	fields := strings.Fields(line)
	if len(fields) == 0 || fields[0] != "mem" {
		return 0, 0, false, c.explain("mem", fmt.Errorf("answer %q", line))
	}
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(f, "=")
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, false, c.explain("mem", fmt.Errorf("answer %q", line))
		}
		switch k {
		case "heap":
			heap, ok = n, true
		case "stack":
			stack = n
		}
	}
	return heap, stack, ok, nil
}

// RSS returns the child's resident set size in bytes (VmRSS).
func (c *Child) RSS() (uint64, error) { return RSS(c.Pid) }

// RSS returns a process's resident set size in bytes, from
// /proc/PID/status.
func RSS(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := strings.Fields(string(v)) // "1234 kB"
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseUint(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// Stop asks the child to stop and waits for it to exit, killing it after
// 5 s. It returns the child's failure to stop cleanly, with its stderr.
func (c *Child) Stop() error {
	io.WriteString(c.stdin, "stop\n")
	c.stdin.Close()
	select {
	case <-c.done:
		c.stdout.Close()
	case <-time.After(5 * time.Second):
		c.Kill()
		return c.explain("stop", errors.New("did not exit within 5s; killed"))
	}
	if c.err != nil {
		return c.explain("stop", c.err)
	}
	return nil
}

// Kill ends the child at once and waits for it.
func (c *Child) Kill() {
	c.cmd.Process.Kill()
	<-c.done
	c.stdout.Close()
}

// lockedBuffer is a bytes.Buffer written by exec's copying goroutine and
// read by the parent.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 64<<10 {
		return len(p), nil // enough to explain a failure
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
