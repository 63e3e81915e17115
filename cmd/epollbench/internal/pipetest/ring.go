package pipetest

import (
	"fmt"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/system"
	"github.com/eventpoll/eventpoll/epoll"
	"golang.org/x/sys/unix"
)

// tokenRing is N non-blocking pipes; the token read from pipe i is written
// into pipe i+1 (mod N).
type tokenRing struct {
	r, w []int
	at   int      // the pipe the token is in
	buf  [64]byte // larger than the token: a short read proves the pipe drained
}

func newTokenRing(n int) (*tokenRing, error) {
	pr := &tokenRing{r: make([]int, 0, n), w: make([]int, 0, n)}
	for i := 0; i < n; i++ {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
			pr.close()
			return nil, fmt.Errorf("pipe2 (pipe %d of %d): %w", i+1, n, err)
		}
		pr.r = append(pr.r, p[0])
		pr.w = append(pr.w, p[1])
	}
	if _, err := unix.Write(pr.w[0], []byte{'t'}); err != nil {
		pr.close()
		return nil, fmt.Errorf("write token: %w", err)
	}
	return pr, nil
}

func (pr *tokenRing) close() {
	for _, fd := range pr.r {
		unix.Close(fd)
	}
	for _, fd := range pr.w {
		unix.Close(fd)
	}
	pr.r, pr.w = nil, nil
}

// pass moves the token from pipe i to pipe i+1. It reports false when pipe i
// held nothing (a readiness report that was stale: never expected here).
//
// The read and the write are the harness's, the same for every mechanism,
// and are raw system calls as in the C reference: the pipes are
// non-blocking, so the runtime has nothing to hand off around them, and
// its bookkeeping around each call would be a fixed cost per pass that C
// does not pay, not a cost of the wait under test.
func (pr *tokenRing) pass(i int) (bool, error) {
	n, errno := system.Read(pr.r[i], pr.buf[:])
	if errno == unix.EAGAIN {
		return false, nil
	}
	if errno != 0 {
		return false, fmt.Errorf("read pipe %d: %w", i, errno)
	}
	if n != 1 {
		return false, fmt.Errorf("read pipe %d: got %d bytes, want the 1-byte token", i, n)
	}
	j := i + 1
	if j == len(pr.w) {
		j = 0
	}
	if _, errno := system.Write(pr.w[j], pr.buf[:1]); errno != 0 {
		return false, fmt.Errorf("write pipe %d: %w", j, errno)
	}
	pr.at = j
	return true, nil
}

// passEvents passes the token on from every pipe an event names (its data
// is the pipe's index) and returns how many passes it made.
func (pr *tokenRing) passEvents(evs []epoll.Event) (int, error) {
	passed := 0
	for _, ev := range evs {
		ok, err := pr.pass(int(ev.Data()))
		if err != nil {
			return passed, err
		}
		if ok {
			passed++
		}
	}
	return passed, nil
}
