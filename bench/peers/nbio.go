package peers

import (
	"context"
	"time"

	"github.com/eventpoll/eventpoll/bench/plaintext"
	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
)

// nbio is a reactor: NPoller poller goroutines, each an epoll instance
// (level-triggered by default), that read into a buffer shared by the
// poller and call OnData on the poller goroutine; a separate goroutine
// accepts (engine_unix.go). Write copies what the socket does not take into
// the connection's write list (conn_unix.go: newToWriteBuf), so the echo
// handler hands the poller's buffer straight to it; the README's example
// copies first, which only costs an allocation. nbhttp parses HTTP on the
// poller and runs the net/http Handler on a goroutine pool, one task at a
// time per connection (nbhttp/engine.go), as the nbio-examples http server
// does.
func init() {
	Register(Impl{
		Name: "nbio",
		Apps: []App{Echo, HTTP},
		Doc:  "nbio: poller goroutines with callbacks; nbhttp runs net/http Handlers on a goroutine pool",
		New:  func() Server { return new(nbioServer) },
	})
}

type nbioServer struct {
	echo *nbio.Engine
	http *nbhttp.Engine
}

func (s *nbioServer) Start(cfg Config) error {
	logging.SetLevel(logging.LevelError)
	if cfg.App == Echo {
		s.echo = nbio.NewEngine(nbio.Config{
			Network: "tcp",
			Addrs:   []string{cfg.Addr},
			NPoller: cfg.Loops,
		})
		s.echo.OnData(func(c *nbio.Conn, data []byte) { c.Write(data) })
		return s.echo.Start()
	}
	s.http = nbhttp.NewEngine(nbhttp.Config{
		Network: "tcp",
		Addrs:   []string{cfg.Addr},
		NPoller: cfg.Loops,
		Handler: plaintext.Handler(),
	})
	return s.http.Start()
}

func (s *nbioServer) Memory() Memory { return GoMemory() }

func (s *nbioServer) Stop() error {
	if s.echo != nil {
		s.echo.Stop()
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.http.Shutdown(ctx)
}
