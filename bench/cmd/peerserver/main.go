// Command peerserver runs one server of package peers in a process of its
// own, for peerbench to measure:
//
//	peerserver -impl gnet -app echo|http -addr 127.0.0.1:0 -loops N [-mode M]
//
// It prints "ready ADDR" when it accepts connections and then answers "mem"
// and "stop" on stdin (package proc documents the protocol).
package main

import (
	"os"

	"github.com/eventpoll/eventpoll/bench/proc"
)

func main() {
	if err := proc.Serve(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		os.Exit(1)
	}
}
