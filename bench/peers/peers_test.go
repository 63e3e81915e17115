package peers_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/eventpoll/eventpoll/bench/load"
	"github.com/eventpoll/eventpoll/bench/peers"
)

// start runs im serving app on a free loopback port with the given loops
// and stops it when the test ends.
func start(t *testing.T, im peers.Impl, app peers.App, loops int) string {
	t.Helper()
	addr := freeAddr(t)
	srv := im.New()
	if err := srv.Start(peers.Config{App: app, Addr: addr, Loops: loops}); err != nil {
		t.Fatalf("%s %s: Start: %v", im.Name, app, err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("%s %s: Stop: %v", im.Name, app, err)
		}
	})
	return addr
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var short = load.Timing{Warmup: 20 * time.Millisecond, Duration: 150 * time.Millisecond}

// longest is the widest window progress tries: on a loaded machine under
// the race detector, a batch of 16 requests can take longer than short's
// window, which then counts no op; a server that makes no progress in
// 2.4 s has stalled.
const longest = 16 * 150 * time.Millisecond

// progress runs a generator with short's window, then with a window twice
// as long while it counts no op, up to longest. It returns the first run
// that counted an op, or the last.
func progress(t *testing.T, run func(load.Timing) (*load.Result, error)) (*load.Result, error) {
	t.Helper()
	tm := short
	for {
		res, err := run(tm)
		if err != nil || res.Ops > 0 || tm.Duration >= longest {
			return res, err
		}
		t.Logf("no op completed in %v; again with twice the window", tm.Duration)
		tm.Duration *= 2
	}
}

func TestEveryServerPassesTheChecksAndEveryGenerator(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	for _, im := range peers.All() {
		for _, app := range im.Apps {
			for _, loops := range []int{1, 2} {
				t.Run(fmt.Sprintf("%s/%s/loops=%d", im.Name, app, loops), func(t *testing.T) {
					if raceEnabled && im.Name == "nbio" && app == peers.HTTP {
						// nbhttp's ServerProcessor.OnComplete (processor.go:230) reads on the
						// poller goroutine the address the accept goroutine wrote; epoll_ctl and
						// epoll_wait order them, which the detector cannot see.
						t.Skip("nbio's nbhttp reports a data race in the library itself under -race; tested without -race")
					}
					addr := start(t, im, app, loops)
					var res *load.Result
					var err error
					switch app {
					case peers.Echo:
						if err = load.CheckEcho(ctx, addr); err != nil {
							t.Fatal(err)
						}
						res, err = progress(t, func(tm load.Timing) (*load.Result, error) {
							return load.Echo{Addr: addr, Conns: 8, Size: 4096, Depth: 4, Timing: tm}.Run(ctx)
						})
					case peers.HTTP:
						if err = load.CheckHTTP(ctx, addr); err != nil {
							t.Fatal(err)
						}
						res, err = progress(t, func(tm load.Timing) (*load.Result, error) {
							return load.HTTP{Addr: addr, Conns: 8, Depth: 16, Timing: tm}.Run(ctx)
						})
					}
					if err != nil {
						t.Fatal(err)
					}
					if res.Ops == 0 {
						t.Fatalf("no %s ops completed in windows of up to %v", app, longest)
					}
					idle, err := load.OpenIdle(ctx, addr, string(app), 50)
					if err != nil {
						t.Fatal(err)
					}
					idle.Close()
					res, err = progress(t, func(tm load.Timing) (*load.Result, error) {
						return load.ConnRate{Addr: addr, App: string(app), Workers: 4, Timing: tm}.Run(ctx)
					})
					if err != nil {
						t.Fatal(err)
					}
					if res.Ops == 0 {
						t.Fatalf("no connection completed its cycle in windows of up to %v", longest)
					}
				})
			}
		}
	}
}

func TestRegisterRefusesASecondImplementationOfOneName(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("a second gnet registered")
		}
	}()
	peers.Register(peers.Impl{Name: "gnet", Apps: []peers.App{peers.Echo}, New: func() peers.Server { return nil }})
}

func TestModeIsTheDefaultOrOneOfTheModes(t *testing.T) {
	im, ok := peers.Lookup("gnet")
	if !ok {
		t.Fatal("gnet not registered")
	}
	if m, err := im.Mode(peers.Config{}); err != nil || m != im.Modes[0] {
		t.Fatalf("default mode %q, %v; want %q", m, err, im.Modes[0])
	}
	if m, err := im.Mode(peers.Config{Mode: "reuseport"}); err != nil || m != "reuseport" {
		t.Fatalf("reuseport: %q, %v", m, err)
	}
	if _, err := im.Mode(peers.Config{Mode: "sideways"}); err == nil {
		t.Fatal("an unknown mode was accepted")
	}
	net, _ := peers.Lookup("net")
	if m, err := net.Mode(peers.Config{}); err != nil || m != "" {
		t.Fatalf("net's default mode %q, %v", m, err)
	}
}

func TestGnetReusePortModeServes(t *testing.T) {
	im, _ := peers.Lookup("gnet")
	addr := freeAddr(t)
	srv := im.New()
	if err := srv.Start(peers.Config{App: peers.Echo, Addr: addr, Loops: 2, Mode: "reuseport"}); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	if err := load.CheckEcho(context.Background(), addr); err != nil {
		t.Fatal(err)
	}
}

func TestEventpollServesInEveryMode(t *testing.T) {
	im, ok := peers.Lookup("eventpoll")
	if !ok {
		t.Fatal("eventpoll not registered")
	}
	if !im.Ours {
		t.Fatal("eventpoll is not marked as the implementation under test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, mode := range im.Modes {
		for _, app := range im.Apps {
			t.Run(mode+"/"+string(app), func(t *testing.T) {
				addr := freeAddr(t)
				srv := im.New()
				if err := srv.Start(peers.Config{App: app, Addr: addr, Loops: 2, Mode: mode}); err != nil {
					t.Fatal(err)
				}
				defer func() {
					if err := srv.Stop(); err != nil {
						t.Errorf("Stop: %v", err)
					}
				}()
				check := load.CheckEcho
				if app == peers.HTTP {
					check = load.CheckHTTP
				}
				if err := check(ctx, addr); err != nil {
					t.Fatal(err)
				}
				res, err := load.ConnRate{Addr: addr, App: string(app), Workers: 4, Timing: short}.Run(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if res.Ops == 0 {
					t.Fatalf("no connection completed its cycle in %v", short.Duration)
				}
			})
		}
	}
}
