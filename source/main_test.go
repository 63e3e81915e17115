package source

import (
	"os"
	"testing"
	"time"
)

// TestMain starts the Go runtime's poller before any test runs: the first
// timer of a process makes the runtime open an epoll instance and an eventfd
// for the life of the process, which fdtest.Check would count as leaked by
// whichever test happened to sleep first (a test run alone, with -run).
func TestMain(m *testing.M) {
	time.Sleep(time.Nanosecond)
	os.Exit(m.Run())
}
