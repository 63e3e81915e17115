package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// clientProc is this test binary re-run as a client helper: a process
// whose descriptor table holds the client ends of connections, so that a
// test can open as many as the server's table holds (the hard limit is
// per process) or lower the server's limit without starving its clients.
// It obeys one command a line on its stdin and answers one line.
type clientProc struct {
	t   testing.TB
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
	rd  *os.File
}

// with returns the helper reporting to t, a subtest of the one that
// started it, which closes every connection the helper holds when it ends.
func (p *clientProc) with(t testing.TB) *clientProc {
	q := *p
	q.t = t
	t.Cleanup(func() { q.do("closeall") })
	return &q
}

func startClients(t testing.TB) *clientProc {
	t.Helper()
	return startHelper(t, helperEnv)
}

// startHelper runs this test binary again as the helper that env (set to
// 1) selects, speaking the clientProc protocol on its standard input and
// output; it is ended at cleanup.
func startHelper(t testing.TB, env string) *clientProc {
	t.Helper()
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	inR.Close()
	outW.Close()
	p := &clientProc{t: t, cmd: cmd, in: inW, out: bufio.NewReader(outR), rd: outR}
	t.Cleanup(func() {
		inW.Close() // the helper exits at the end of its input, closing its connections
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		outR.Close()
	})
	return p
}

// do sends a command and returns the helper's answer, failing the test on
// an answer starting with "err".
func (p *clientProc) do(format string, args ...any) string {
	p.t.Helper()
	ans := p.try(format, args...)
	if strings.HasPrefix(ans, "err") {
		p.t.Fatalf("client helper: %s: %s", fmt.Sprintf(format, args...), ans)
	}
	return ans
}

// try sends a command and returns the answer, whatever it is.
func (p *clientProc) try(format string, args ...any) string {
	p.t.Helper()
	if _, err := fmt.Fprintf(p.in, format+"\n", args...); err != nil {
		p.t.Fatalf("client helper: %v", err)
	}
	p.rd.SetReadDeadline(time.Now().Add(60 * time.Second))
	line, err := p.out.ReadString('\n')
	if err != nil {
		p.t.Fatalf("client helper: no answer to %q: %v", fmt.Sprintf(format, args...), err)
	}
	return strings.TrimSpace(line)
}

// clientHelper is the helper's main: it dials, echoes, reads and closes
// connections on command.
func clientHelper() int {
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	lim.Cur = lim.Max
	unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	var conns []net.Conn
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		var ans string
		switch f[0] {
		case "dial": // dial NETWORK ADDR N
			n, _ := strconv.Atoi(f[3])
			var err error
			conns, err = dialMany(conns, f[1], f[2], n)
			ans = "ok " + strconv.Itoa(len(conns))
			if err != nil {
				ans = "err " + err.Error()
			}
		case "echo": // echo I TEXT
			ans = helperEcho(conns[atoi(f[1])], f[2])
		case "states": // states I J ...: what reading each finds within 200ms, together
			ans = helperStates(conns, f[1:])
		case "close": // close I
			conns[atoi(f[1])].Close()
			ans = "ok"
		case "closeall":
			for _, c := range conns {
				c.Close()
			}
			conns = nil
			ans = "ok"
		default:
			ans = "err unknown command " + f[0]
		}
		fmt.Fprintln(out, ans)
		out.Flush()
	}
	for _, c := range conns {
		c.Close()
	}
	return 0
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// dialMany dials n connections, 64 at a time.
func dialMany(conns []net.Conn, network, addr string, n int) ([]net.Conn, error) {
	out := make([]net.Conn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i], errs[i] = net.DialTimeout(network, addr, 20*time.Second)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			for _, c := range out {
				if c != nil {
					c.Close()
				}
			}
			return conns, errs[i]
		}
	}
	return append(conns, out...), nil
}

func helperEcho(c net.Conn, text string) string {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(text)); err != nil {
		return "err " + err.Error()
	}
	b := make([]byte, len(text))
	if _, err := io.ReadFull(c, b); err != nil {
		return "err " + err.Error()
	}
	if string(b) != text {
		return "err echoed " + strconv.Quote(string(b))
	}
	return "ok"
}

func helperStates(conns []net.Conn, idx []string) string {
	out := make([]string, len(idx))
	var wg sync.WaitGroup
	for k, i := range idx {
		wg.Add(1)
		go func() { defer wg.Done(); out[k] = helperState(conns[atoi(i)]) }()
	}
	wg.Wait()
	return strings.Join(out, " ")
}

func helperState(c net.Conn) string {
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	var b [1]byte
	n, err := c.Read(b[:])
	switch {
	case n > 0:
		return "data"
	case err == io.EOF:
		return "eof"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "waiting"
	default:
		return "reset"
	}
}
