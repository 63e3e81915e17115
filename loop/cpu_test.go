package loop

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRunFailsOnACPUItCannotRunOn: WithCPU naming a CPU the machine does
// not have makes Run return EINVAL at once, and leaves the loop idle and
// usable: the same loop then runs with its CPU pinning off.
func TestRunFailsOnACPUItCannotRunOn(t *testing.T) {
	forEngines(t, func(t *testing.T, e Engine) {
		for _, cpu := range []int{4095, 1 << 20} {
			l := newLoop(t, e, WithCPU(cpu))
			errc := make(chan error, 1)
			go func() { errc <- l.Run(context.Background()) }()
			var err error
			select {
			case err = <-errc:
			case <-time.After(10 * time.Second):
				l.Close()
				t.Fatalf("Run with WithCPU(%d) ran instead of refusing the CPU", cpu)
			}
			if !errors.Is(err, unix.EINVAL) {
				t.Fatalf("Run with WithCPU(%d): %v; want EINVAL", cpu, err)
			}
			// The loop is idle again: Run works once the option is undone.
			l.cfg.cpu = -1
			stop := start(t, l)
			onLoop(t, l, func() {})
			if err := stop(); err != nil {
				t.Fatalf("Run after the refused one: %v", err)
			}
		}
	})
}
