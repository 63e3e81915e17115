package soak

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
	"github.com/eventpoll/eventpoll/internal/chaos"
	"github.com/eventpoll/eventpoll/internal/uring"
)

// Phase is what one phase did.
type Phase struct {
	phasePlan
	Seconds        float64
	Clients        ClientCounts
	Server         serverReport
	HeapBound      int64 // bytes above HeapBase the server may hold (serverConfig.bound)
	PanicsInjected int64 // trigger frames the panicking clients sent
	PanicsClosed   int64 // of which closed the connection unanswered, as a contained panic does
	PanicsAnswered int64 // of which were answered: the panic did not happen
	Failures       []string
}

// ClientCounts is the clients' side of a phase, from chaos.Result.
type ClientCounts struct {
	Conns        int64
	ByBehaviour  map[string]int64
	FramesSent   int64
	FramesBack   int64
	BytesBack    int64
	Misdelivered int64
	Lost         int64
	Torn         int64
	Unrefused    int64
	Refused      int64
	SlowClosed   int64
	NeverReadMax int64
	DialErrors   int64
	Unserved     int64
}

func clientCounts(r *chaos.Result) ClientCounts {
	c := ClientCounts{Conns: r.Conns, ByBehaviour: map[string]int64{}, FramesSent: r.FramesSent,
		FramesBack: r.FramesBack, BytesBack: r.BytesBack, Misdelivered: r.Misdelivered, Lost: r.Lost,
		Torn: r.Torn, Unrefused: r.Unrefused, Refused: r.Refused, SlowClosed: r.SlowClosed,
		NeverReadMax: r.NeverReadMax, DialErrors: r.DialErrors, Unserved: r.Unserved}
	for i, n := range r.ByBehaviour {
		c.ByBehaviour[chaos.Behaviour(i).String()] = n
	}
	return c
}

// Summary is a whole soak.
type Summary struct {
	Seed     uint64
	Duration float64 // seconds
	Started  string
	Phases   []Phase
}

// Run runs the soak: phases of cfg.Phase until cfg.Duration has passed,
// a progress line on log every cfg.Period. The error is for a run that
// could not be made (a child that would not start); what the run found
// is in the Summary.
func Run(ctx context.Context, cfg Config, out io.Writer, log harness.Log) (*Summary, error) {
	if cfg.Duration <= 0 {
		return nil, errors.New("soak: -d must be positive")
	}
	if cfg.Phase <= 0 || cfg.Period <= 0 {
		return nil, errors.New("soak: -phase and -period must be positive")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 48
	}
	if n := time.Duration(len(faults)); cfg.Duration < n*cfg.Phase {
		cfg.Phase = cfg.Duration / n // every fault once
	}
	start := time.Now()
	sum := &Summary{Seed: cfg.Seed, Started: start.UTC().Format(time.RFC3339)}
	tick := time.NewTicker(cfg.Period)
	defer tick.Stop()
	for i := 0; (i < len(faults) || time.Since(start) < cfg.Duration-cfg.Phase/2) && ctx.Err() == nil; i++ {
		p, err := runPhase(ctx, cfg, plan(i), start, tick.C, log)
		if err != nil {
			return nil, fmt.Errorf("phase %d: %w", i+1, err)
		}
		sum.Phases = append(sum.Phases, *p)
		log.Printf("soak: phase %d done: %s %s %s: %d connections, %d frames verified, lost %d, misdelivered %d",
			p.N, p.Mode, p.Engine, p.Fault, p.Clients.Conns, p.Clients.FramesBack, p.Clients.Lost, p.Clients.Misdelivered)
	}
	sum.Duration = time.Since(start).Seconds()
	return sum, nil
}

// childProc is a phase's server process.
type childProc struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	addr string
}

func startChild(sc serverConfig, noUring bool) (*childProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	spec, _ := json.Marshal(sc)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	if noUring {
		cmd.Env = append(cmd.Env, uring.EnvNoUring+"=1")
	}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outR, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &childProc{cmd: cmd, in: in, out: bufio.NewReader(outR)}
	var addr string
	if err := c.read("addr", &addr); err != nil {
		c.kill()
		return nil, err
	}
	c.addr = addr
	return c, nil
}

// read reads the child's next line, which must start with verb, into v.
func (c *childProc) read(verb string, v any) error {
	line, err := c.out.ReadString('\n')
	if err != nil {
		return fmt.Errorf("soak server: no %q line: %v", verb, err)
	}
	got, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	if got != verb {
		return fmt.Errorf("soak server: %q where %q was due", line, verb)
	}
	return json.Unmarshal([]byte(rest), v)
}

// do sends a command and reads its answer.
func (c *childProc) do(cmd, verb string) (serverReport, error) {
	var r serverReport
	if _, err := fmt.Fprintln(c.in, cmd); err != nil {
		return r, fmt.Errorf("soak server: %s: %v", cmd, err)
	}
	return r, c.read(verb, &r)
}

func (c *childProc) kill() {
	c.cmd.Process.Kill()
	c.cmd.Wait()
}

func runPhase(ctx context.Context, cfg Config, pl phasePlan, start time.Time, tick <-chan time.Time, log harness.Log) (*Phase, error) {
	sc := serverConfig{Mode: pl.mode, Engine: pl.engine, Loops: loops, ReadBuffer: readBuffer,
		ReadLimit: readLimit, WriteHigh: writeHigh, WriteLow: writeLow, MaxFrame: maxFrame,
		ReadTimeout: 2 * time.Second}
	if pl.Fault == faultEMFILE {
		sc.FdRoom = emfileRoom
	}
	child, err := startChild(sc, pl.noUring)
	if err != nil {
		return nil, err
	}
	p := &Phase{phasePlan: pl}
	began := time.Now()
	seed := cfg.Seed*1000 + uint64(pl.N)
	var conns atomic.Int64
	// A slowloris client sends a byte a second, as the attack does; the
	// server's read timeout (2 s) is what must cut it.
	ccfg := chaos.Config{
		Addr: child.addr, Seed: seed, Conns: 1 << 40, Concurrency: cfg.Concurrency, Weights: weights(pl.Fault),
		MaxFrame: maxFrame, MaxPayload: maxPayload, SlowInterval: time.Second, BurstSize: 20,
		OpTimeout: 10 * time.Second, Shutdown: pl.Fault == faultRestart, MayRefuse: pl.Fault == faultEMFILE,
		OnConnect: func(uint64) { conns.Add(1) },
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.Phase)
	defer cancel()
	done := make(chan *chaos.Result, 1)
	go func() { done <- chaos.Run(pctx, ccfg) }()
	panicked := make(chan [3]int64, 1)
	if pl.Fault == faultPanics {
		go func() { panicked <- panicClients(pctx, child.addr, seed) }()
	} else {
		panicked <- [3]int64{}
	}
	var restart <-chan time.Time
	if pl.Fault == faultRestart {
		restart = time.After(cfg.Phase / 2)
	}
	var res *chaos.Result
	for res == nil {
		select {
		case res = <-done:
		case <-restart:
			restart = nil
			if _, err := child.do("restart", "restarted"); err != nil {
				child.kill()
				return nil, err
			}
			log.Printf("soak: phase %d: server shut down and restarted on %s with clients connected", pl.N, child.addr)
		case <-tick:
			r, err := child.do("stats", "stats")
			if err != nil {
				child.kill()
				return nil, err
			}
			log.Printf("soak: %4.0fs phase %d (%s, %s, %s): %d connections; server: %d accepted, %d open, %d accept pauses, %d panics, heap %.1f MiB",
				time.Since(start).Seconds(), pl.N, pl.Mode, pl.Engine, pl.Fault, conns.Load(),
				r.Stats.Accepted, r.Stats.Open, r.Stats.AcceptPauses, r.Stats.Panics, float64(r.HeapPeak)/(1<<20))
		}
	}
	pc := <-panicked
	p.PanicsInjected, p.PanicsClosed, p.PanicsAnswered = pc[0], pc[1], pc[2]
	p.Clients = clientCounts(res)
	p.Failures = append(p.Failures, res.Failures...)
	r, err := child.do("stop", "stopped")
	if err != nil {
		child.kill()
		return nil, err
	}
	if err := child.cmd.Wait(); err != nil {
		p.Failures = append(p.Failures, fmt.Sprintf("server process: %v", err))
	}
	p.Server = r
	p.Seconds = time.Since(began).Seconds()
	p.HeapBound = sc.bound(r.OpenPeak)
	p.check()
	return p, nil
}

// check records what the phase did that must never happen.
func (p *Phase) check() {
	c, s := p.Clients, p.Server
	bad := func(format string, args ...any) { p.Failures = append(p.Failures, fmt.Sprintf(format, args...)) }
	if c.Lost+c.Misdelivered+c.Torn+c.Unrefused > 0 {
		bad("clients: lost %d, misdelivered %d, torn %d, answered-instead-of-refused %d", c.Lost, c.Misdelivered, c.Torn, c.Unrefused)
	}
	if p.Fault != faultRestart && p.Fault != faultEMFILE && c.FramesSent != c.FramesBack {
		bad("%d behaved frames sent, %d answered", c.FramesSent, c.FramesBack)
	}
	if c.Unserved > int64(s.Stats.Refused) {
		bad("%d behaved clients closed unanswered; the server refused only %d", c.Unserved, s.Stats.Refused)
	}
	for i := range s.FdsAfter {
		if s.FdsAfter[i] != s.FdsBefore || s.GoAfter[i] != s.GoBefore {
			bad("after Shutdown %d: %d descriptors and %d goroutines; %d and %d before Listen",
				i+1, s.FdsAfter[i], s.GoAfter[i], s.FdsBefore, s.GoBefore)
		}
	}
	for _, e := range s.ShutdownErrs {
		bad("%s", e)
	}
	if p.PanicsAnswered > 0 || int64(s.Stats.Panics) != p.PanicsInjected {
		bad("panics: %d injected, %d contained by the server, %d answered", p.PanicsInjected, s.Stats.Panics, p.PanicsAnswered)
	}
	if s.Faults > 0 {
		bad("%d faults reported by the server besides panics", s.Faults)
	}
}

// panicClients connects now and then, echoes a few frames and then sends
// the frame on which the handler panics; the connection must end
// unanswered, and the server go on. It returns the triggers sent, those
// closed unanswered and those answered.
func panicClients(ctx context.Context, addr string, seed uint64) (n [3]int64) {
	rng := rand.New(rand.NewPCG(seed, 0x5041))
	for id := uint64(panicBit); ctx.Err() == nil; id++ {
		if id != panicBit {
			select {
			case <-ctx.Done():
				return n
			case <-time.After(time.Duration(20+rng.IntN(130)) * time.Millisecond):
			}
		}
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			continue
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		ok := true
		for seq := range uint64(rng.IntN(4)) {
			f := chaos.AppendFrame(nil, id, seq, rng.IntN(maxPayload))
			back := make([]byte, len(f))
			if _, err := conn.Write(f); err != nil {
				ok = false
				break
			}
			if _, err := io.ReadFull(conn, back); err != nil || !bytes.Equal(back, f) {
				ok = false
				break
			}
		}
		if !ok {
			conn.Close()
			continue
		}
		if _, err := conn.Write(chaos.AppendFrame(nil, id, panicSeq, rng.IntN(64))); err != nil {
			conn.Close()
			continue
		}
		n[0]++
		var b [1]byte
		if k, err := conn.Read(b[:]); k > 0 {
			n[2]++
		} else if !isTimeout(err) {
			n[1]++
		}
		conn.Close()
	}
	return n
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
