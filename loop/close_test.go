package loop

import (
	"errors"
	"testing"

	"github.com/eventpoll/eventpoll/epoll"
	"golang.org/x/sys/unix"
)

// A function running on the loop after Close (the rest of the iteration
// in which a handler closed the loop, or a function posted before Close,
// which release still runs) unregisters a descriptor and closes it, as a
// server does with its connections: the registration must be gone, and
// nothing the iteration had queued for the descriptor may reach the kernel
// afterwards, where the number may already belong to another file.
func TestUnregisterAfterCloseRemovesTheRegistration(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		l := newLoop(t, e) // a fault fails the test
		stop := start(t, l)
		fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		var called int
		var unregErr error
		var live bool
		onLoop(t, l, func() {
			tok, err := l.Register(fd, epoll.In, HandlerFunc(func(*Loop, Token, epoll.Events) { called++ }))
			if err != nil {
				t.Errorf("Register: %v", err)
				return
			}
			l.Close() // on the loop's goroutine: returns at once, Run finishes the job
			unregErr = l.Unregister(tok)
			live = l.Registered(tok)
			unix.Close(fd)
		})
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if !errors.Is(unregErr, epoll.ErrClosed) {
			t.Errorf("Unregister after Close: %v; want ErrClosed", unregErr)
		}
		if live {
			t.Error("Unregister after Close left the registration live")
		}
		if called != 0 {
			t.Errorf("the handler was called %d times after Unregister", called)
		}
	})
}
