package peers

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/cloudwego/netpoll"
	"github.com/eventpoll/eventpoll/bench/plaintext"
)

// cloudwego/netpoll is a reactor that hands work to goroutines: PollerNum
// epoll pollers (one per GOMAXPROCS/20 by default) read into each
// connection's LinkBuffer, and OnRequest runs on a goroutine of the gopool
// pool while the connection has unread input, one at a time per connection
// (connection_onevent.go: onProcess). Its Reader blocks, as net.Conn does,
// until the bytes asked for arrive; the handlers follow netpoll-examples'
// echo server and the netpoll-benchmark servers: Next/Peek/Skip on the
// Reader, Malloc and Flush on the Writer. Loops sets PollerNum through
// Configure, as the guide's "How to configure the number of pollers" does.
func init() {
	Register(Impl{
		Name: "netpoll",
		Apps: []App{Echo, HTTP},
		Doc:  "cloudwego/netpoll: epoll pollers fill LinkBuffers; handlers run on a goroutine pool",
		New:  func() Server { return new(netpollServer) },
	})
}

type netpollServer struct {
	loop netpoll.EventLoop
	done chan error
}

func (s *netpollServer) Start(cfg Config) error {
	if err := netpoll.Configure(netpoll.Config{PollerNum: cfg.Loops, LoggerOutput: io.Discard}); err != nil {
		return err
	}
	ln, err := netpoll.CreateListener("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	handle := netpollEcho
	if cfg.App == HTTP {
		handle = netpollHTTP
	}
	if s.loop, err = netpoll.NewEventLoop(handle); err != nil {
		ln.Close()
		return err
	}
	s.done = make(chan error, 1)
	go func() { s.done <- s.loop.Serve(ln) }()
	return nil
}

func netpollEcho(_ context.Context, c netpoll.Connection) error {
	r, w := c.Reader(), c.Writer()
	defer r.Release()
	in, err := r.Next(r.Len())
	if err != nil {
		return err
	}
	// WriteBinary copies up to 4 KiB and refers to larger slices, so the
	// reader's bytes may be released only after Flush sent them.
	w.WriteBinary(in)
	return w.Flush()
}

func netpollHTTP(_ context.Context, c netpoll.Connection) error {
	r, w := c.Reader(), c.Writer()
	defer r.Release()
	for {
		in, err := r.Peek(r.Len())
		if err != nil {
			return err
		}
		bp := respPool.Get().(*[]byte)
		out, n, perr := plaintext.AppendResponses((*bp)[:0], in)
		if len(out) > 0 {
			buf, _ := w.Malloc(len(out))
			copy(buf, out)
		}
		*bp = out
		respPool.Put(bp)
		r.Skip(n)
		if len(out) > 0 {
			if err := w.Flush(); err != nil {
				return err
			}
		}
		if perr != nil {
			c.Close()
			return perr
		}
		if r.Len() == 0 {
			return nil
		}
		if n > 0 {
			continue // more came while this batch was answered
		}
		// Only an incomplete request is left: onProcess calls OnRequest
		// again at once while input is unread (connection_onevent.go),
		// so returning would spin; block, netpoll's way, until at least
		// one more byte comes.
		if _, err := r.Peek(len(in) + 1); err != nil {
			return err
		}
	}
}

func (s *netpollServer) Memory() Memory { return GoMemory() }

func (s *netpollServer) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.loop.Shutdown(ctx)
	if serveErr := <-s.done; err == nil && serveErr != nil && !errors.Is(serveErr, netpoll.ErrConnClosed) {
		err = serveErr
	}
	return err
}
