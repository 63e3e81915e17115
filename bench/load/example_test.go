package load_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/eventpoll/eventpoll/bench/load"
)

// The open-loop generator offers 1,000 echo messages a second over four
// connections to a server that echoes, for 200 ms after 50 ms of warm-up,
// and verifies every byte that comes back.
func ExamplePaced() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	res, err := load.Paced{Addr: ln.Addr().String(), App: "echo", Conns: 4, Size: 64, Rate: 1000,
		Timing: load.Timing{Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond}}.Run(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d requests due in the window, all answered and timed: %v\n",
		res.Paced.Due, res.Latency.Count() == uint64(res.Paced.Due))
	// Output: 200 requests due in the window, all answered and timed: true
}
