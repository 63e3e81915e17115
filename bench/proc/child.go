// Package proc runs each server in a process of its own, so that its
// memory is measured alone and no two servers share a runtime, and pins
// processes to CPUs.
//
// The control protocol, on the child's stdin and stdout, one line each:
//
//	child:  ready ADDR              once the server accepts connections
//	parent: mem
//	child:  mem heap=N stack=N      Go heap and stacks after a GC, in bytes
//	                                (a C server answers "mem" alone)
//	parent: stop                    (or closes stdin)
//	child:  exits, 0 if the server stopped cleanly
//
// A child that cannot start writes "error TEXT" and exits 1. Resident memory
// is read by the parent from /proc/PID/status, the same way for every child.
package proc

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/eventpoll/eventpoll/bench/peers"
)

// Serve is the child's side: it parses args (-impl, -app, -addr, -loops,
// -mode), starts the server and answers the parent until told to stop. It
// is the whole of cmd/peerserver.
func Serve(args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("peerserver", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	impl := fs.String("impl", "", "implementation (peers.All)")
	app := fs.String("app", "echo", "echo or http")
	addr := fs.String("addr", "127.0.0.1:0", "listen address; a port of 0 picks a free one")
	loops := fs.Int("loops", 1, "event loops")
	mode := fs.String("mode", "", "the implementation's mode; empty for its default")
	if err := fs.Parse(args); err != nil {
		return reply(out, fmt.Errorf("peerserver: %w", err))
	}
	im, ok := peers.Lookup(*impl)
	if !ok {
		return reply(out, fmt.Errorf("peerserver: no implementation %q (have %s)", *impl, names()))
	}
	if !im.Serves(peers.App(*app)) {
		return reply(out, fmt.Errorf("peerserver: %s does not serve %q", im.Name, *app))
	}
	if *loops < 1 {
		return reply(out, fmt.Errorf("peerserver: -loops %d", *loops))
	}
	cfg := peers.Config{App: peers.App(*app), Addr: *addr, Loops: *loops, Mode: *mode}
	if _, err := im.Mode(cfg); err != nil {
		return reply(out, err)
	}
	bound, err := freeAddr(cfg.Addr)
	if err != nil {
		return reply(out, err)
	}
	cfg.Addr = bound
	srv := im.New()
	if err := srv.Start(cfg); err != nil {
		return reply(out, fmt.Errorf("%s: start: %w", im.Name, err))
	}
	fmt.Fprintf(out, "ready %s\n", cfg.Addr)
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		switch strings.TrimSpace(sc.Text()) {
		case "mem":
			m := srv.Memory()
			fmt.Fprintf(out, "mem heap=%d stack=%d\n", m.HeapBytes, m.StackBytes)
		case "stop":
			return srv.Stop()
		}
	}
	return srv.Stop()
}

func reply(out io.Writer, err error) error {
	fmt.Fprintf(out, "error %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
	return err
}

func names() string {
	var s []string
	for _, im := range peers.All() {
		s = append(s, im.Name)
	}
	return strings.Join(s, ", ")
}
