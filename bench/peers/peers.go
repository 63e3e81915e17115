// Package peers holds the servers compared by this module: the same TCP echo
// and HTTP plaintext servers written on each Go networking library a user
// would choose between, each the way that library's own documentation and
// examples write it. Every implementation satisfies Server and registers
// itself with Register, so the child process (cmd/peerserver) and the
// driver (cmd/peerbench) know it by name; eventpoll's own server plugs in
// the same way, with one file.
//
// The C reference is not here: it is a separate program (package cserver)
// that speaks the same control protocol (package proc).
package peers

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
)

// App names the protocol a server speaks.
type App string

const (
	// Echo writes back every byte it reads, in order.
	Echo App = "echo"
	// HTTP answers HTTP/1.1 keep-alive requests as package plaintext
	// defines, pipelined requests in order.
	HTTP App = "http"
)

// Config says what a server serves and how.
type Config struct {
	App  App
	Addr string // host:port with an explicit port, e.g. "127.0.0.1:7000"
	// Loops is the number of event loops (reactors, pollers). A server
	// that has none, a goroutine per connection, ignores it: its loops
	// are the runtime's Ps, which the process's CPU affinity sets.
	Loops int
	// Mode is one of Impl.Modes; "" means the first, the default.
	Mode string
}

// Memory is what the server's process holds in the Go runtime, read after a
// garbage collection so that only live memory counts.
type Memory struct {
	HeapBytes  uint64 // runtime.MemStats.HeapAlloc after runtime.GC
	StackBytes uint64 // runtime.MemStats.StackInuse: goroutine stacks
}

// Server is one implementation's running server. The driver never calls
// two servers in one process; a process runs one Server from Start to Stop.
type Server interface {
	// Start listens on cfg.Addr and serves cfg.App with cfg.Loops loops in
	// cfg.Mode. It returns once the listener is bound, so a connection
	// made after it returns is accepted: that is the server's readiness.
	// An error means nothing is left running.
	Start(cfg Config) error
	// Memory reports the process's Go heap and stacks (see Memory).
	Memory() Memory
	// Stop closes the listener and every connection and returns when the
	// server's goroutines are done or told to finish.
	Stop() error
}

// Impl describes one registered implementation.
type Impl struct {
	Name string // as given to peerserver -impl and shown in tables
	Apps []App  // the apps it serves
	// Modes are the ways it can run, the default first; nil when it has
	// only one. Each is a short word (e.g. "reuseport").
	Modes []string
	// Ours marks the implementation under test (eventpoll's server): the
	// driver compares it with the best of the others and never counts it
	// as a peer.
	Ours bool
	// Doc says in one line how it serves (shown by peerbench -list).
	Doc string
	New func() Server
}

// Serves reports whether the implementation serves app.
func (im Impl) Serves(app App) bool { return slices.Contains(im.Apps, app) }

// Mode returns the mode a Config asks for, the default when it names none,
// or an error naming the modes there are.
func (im Impl) Mode(cfg Config) (string, error) {
	if cfg.Mode == "" {
		if len(im.Modes) == 0 {
			return "", nil
		}
		return im.Modes[0], nil
	}
	if !slices.Contains(im.Modes, cfg.Mode) {
		return "", fmt.Errorf("%s: no mode %q (modes: %v)", im.Name, cfg.Mode, im.Modes)
	}
	return cfg.Mode, nil
}

var (
	mu    sync.Mutex
	impls []Impl
)

// Register adds an implementation; it is called from an init function. A
// second registration of a name panics, as http.Handle does.
func Register(im Impl) {
	mu.Lock()
	defer mu.Unlock()
	if im.Name == "" || im.New == nil || len(im.Apps) == 0 {
		panic("peers: Register needs a Name, Apps and New")
	}
	for _, have := range impls {
		if have.Name == im.Name {
			panic("peers: Register called twice for " + im.Name)
		}
	}
	impls = append(impls, im)
	slices.SortStableFunc(impls, func(a, b Impl) int { return order(a) - order(b) })
}

// order puts the implementation under test first, then the reactors, then
// the goroutine-per-connection servers, as the tables list them.
func order(im Impl) int {
	if im.Ours {
		return 0
	}
	return 1
}

// All returns the registered implementations, the one under test first.
func All() []Impl {
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(impls)
}

// Lookup returns the implementation registered as name.
func Lookup(name string) (Impl, bool) {
	for _, im := range All() {
		if im.Name == name {
			return im, true
		}
	}
	return Impl{}, false
}

// GoMemory reads the calling process's Memory after a garbage collection.
func GoMemory() Memory {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Memory{HeapBytes: ms.HeapAlloc, StackBytes: ms.StackInuse}
}
