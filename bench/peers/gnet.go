package peers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/eventpoll/eventpoll/bench/plaintext"
	"github.com/panjf2000/gnet/v2"
)

// gnet v2 is a reactor: Loops event-loop goroutines, each an epoll instance
// that reads into its loop's buffer and calls OnTraffic on that goroutine.
// By default one more loop (the "main reactor") accepts and hands each
// connection to a sub-loop round-robin; WithReusePort gives each loop its
// own SO_REUSEPORT listener instead (engine_unix.go: activateReactors vs
// runEventLoops). The handlers follow gnet-examples' echo_tcp and http: Next
// or Peek/Discard on the inbound buffer, Write (copied to the outbound
// buffer when the socket does not take it all).
func init() {
	Register(Impl{
		Name:  "gnet",
		Apps:  []App{Echo, HTTP},
		Modes: []string{"reactor", "reuseport"},
		Doc:   "gnet v2: event loops with callbacks; an acceptor loop (reactor) or SO_REUSEPORT listeners",
		New:   func() Server { return new(gnetServer) },
	})
}

type gnetServer struct {
	gnet.BuiltinEventEngine
	app    App
	eng    gnet.Engine
	booted chan struct{}
	done   chan error
}

func (s *gnetServer) Start(cfg Config) error {
	im, _ := Lookup("gnet")
	mode, err := im.Mode(cfg)
	if err != nil {
		return err
	}
	s.app = cfg.App
	s.done = make(chan error, 1)
	s.booted = make(chan struct{})
	go func() {
		s.done <- gnet.Run(s, "tcp://"+cfg.Addr,
			gnet.WithNumEventLoop(cfg.Loops),
			gnet.WithReusePort(mode == "reuseport"),
			gnet.WithLogger(gnetLogger{}))
	}()
	select {
	case <-s.booted:
		return nil
	case err := <-s.done:
		if err == nil {
			err = errors.New("gnet: Run returned before booting")
		}
		return err
	}
}

// OnBoot records the engine; gnet calls it once the listeners are bound and
// before the loops run.
func (s *gnetServer) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	close(s.booted)
	return gnet.None
}

func (s *gnetServer) OnTraffic(c gnet.Conn) gnet.Action {
	if s.app == Echo {
		buf, _ := c.Next(-1)
		c.Write(buf)
		return gnet.None
	}
	in, _ := c.Peek(-1)
	bp := respPool.Get().(*[]byte)
	out, n, err := plaintext.AppendResponses((*bp)[:0], in)
	if n > 0 {
		c.Discard(n) // Discard(0) would discard everything
	}
	if len(out) > 0 {
		c.Write(out)
	}
	*bp = out
	respPool.Put(bp)
	if err != nil {
		return gnet.Close
	}
	return gnet.None
}

func (s *gnetServer) Memory() Memory { return GoMemory() }

func (s *gnetServer) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.eng.Stop(ctx)
	if runErr := <-s.done; err == nil {
		err = runErr
	}
	return err
}

// respPool holds the response buffers of the servers that build responses
// before handing them to a library that copies what it cannot send at once
// (gnet, netpoll): one per running handler, not one per connection, so an
// idle connection holds none.
var respPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// gnetLogger drops gnet's informational lines ("Launching gnet ...") and
// keeps its warnings and errors on stderr, where the driver reports them.
type gnetLogger struct{}

func (gnetLogger) Debugf(string, ...any) {}
func (gnetLogger) Infof(string, ...any)  {}
func (gnetLogger) Warnf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+f+"\n", a...)
}
func (gnetLogger) Errorf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+f+"\n", a...)
}
func (gnetLogger) Fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+f+"\n", a...)
	os.Exit(1)
}
