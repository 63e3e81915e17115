package server

import (
	"fmt"
	"runtime/debug"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestEMFILEPausesAcceptingServesOpenConnsAndResumesWithin100ms runs the
// server's process out of descriptors while a client process keeps
// dialing: the open connection goes on being answered, the process stays
// near idle, and the first new connection is accepted and answered within
// 100 ms of descriptors being freed (elsewhere in the process: no
// connection of the server closes to re-arm accepting, so the backoff alone
// must bring it back, and its cap is 50 ms).
func TestEMFILEPausesAcceptingServesOpenConnsAndResumesWithin100ms(t *testing.T) {
	forModes(t, func(t *testing.T, opts ...Option) {
		ev := newEvents()
		ts := serve(t, "tcp", echoEvents{events: ev}, opts...)
		asleep(t, ts)
		fl := startFlood(t)
		addr := ts.Addr().String()
		fl.do("dial %s", addr)
		ev.waitOpen(t)
		fl.do("echo before")
		var limit unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &limit); err != nil {
			t.Fatal(err)
		}
		free := exhaustDescriptors(t)
		fl.do("flood %s 64", addr)
		eventually(t, "accepting paused", func() bool { return ts.Stats().Total.AcceptPauses > 0 })
		eventually(t, "clients queued", func() bool {
			var dialed, pending int
			fmt.Sscan(fl.do("pending"), &dialed, &pending)
			return pending >= 8
		})
		// A loop may take the room another made to refuse a connection,
		// and accept one; after that, nothing opens until descriptors free.
		time.Sleep(20 * time.Millisecond)
		for len(ev.opened) > 0 {
			<-ev.opened
		}

		// Paused, with clients still dialing: the open connection is
		// answered and the process sleeps. The collection and the return
		// to the OS of what the test itself allocated are not the server's:
		// both come before the measure.
		debug.FreeOSMemory()
		st0 := ts.Stats().Total
		cpu0, wall0 := cpuTime(t), time.Now()
		trips := 0
		for time.Since(wall0) < 300*time.Millisecond {
			time.Sleep(50 * time.Millisecond)
			fl.do("echo during-%d", trips)
			trips++
		}
		cpu, wall := cpuTime(t)-cpu0, time.Since(wall0)
		st := ts.Stats().Total
		var dialed, pending int
		fmt.Sscan(fl.do("pending"), &dialed, &pending)
		t.Logf("accepting paused %v: CPU %v (%.2f%% of one core), %d loop iterations, %d pauses, %d refused; %d round trips answered on the open connection; %d clients dialed, %d waiting",
			wall.Round(time.Millisecond), cpu, 100*float64(cpu)/float64(wall), st.Loop.Iterations-st0.Loop.Iterations,
			st.AcceptPauses, st.Refused, trips, dialed, pending)
		if cpu > wall/20 {
			t.Fatalf("process used %v of CPU in %v with accepting paused: want under 5%% of one core", cpu, wall)
		}
		select {
		case oe := <-ev.opened:
			t.Fatalf("a connection opened while descriptors were exhausted: %v", oe.c)
		default:
		}

		freed := monotonic()
		free()
		var first int64 = -1
		eventually(t, "a new connection answered after descriptors were freed", func() bool {
			fmt.Sscan(fl.do("first %d", freed), &first)
			return first >= 0
		})
		opened := ev.waitOpenAt(t)
		resume := time.Duration(first - freed)
		t.Logf("descriptors freed: first new connection accepted and answered after %v (opened on the server after %v)",
			resume.Round(10*time.Microsecond), time.Duration(monotonicOf(opened.at)-freed).Round(10*time.Microsecond))
		if resume > 100*time.Millisecond {
			t.Fatalf("first new connection answered %v after descriptors were freed; want within 100ms", resume)
		}

		// Room for every client: each is answered, or was refused with an
		// orderly close, one for each refusal the server counts.
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &limit); err != nil {
			t.Fatal(err)
		}
		res := fl.do("stop 10")
		var ok, refused, bad, failed, unresolved int
		if _, err := fmt.Sscanf(res, "dialed %d ok %d refused %d bad %d failed %d unresolved %d",
			&dialed, &ok, &refused, &bad, &failed, &unresolved); err != nil {
			t.Fatalf("flood helper: %q: %v", res, err)
		}
		t.Logf("clients: %s; server refused %d", res, ts.Stats().Total.Refused)
		if bad != 0 || failed != 0 || unresolved != 0 || ok+refused != dialed {
			t.Fatalf("clients: %s: want every one answered or refused", res)
		}
		if r := int(ts.Stats().Total.Refused); r != refused {
			t.Fatalf("%d clients saw their connection closed unanswered; the server refused %d", refused, r)
		}
		fl.do("echo after")
	})
}

// monotonicOf converts a time taken in this process to CLOCK_MONOTONIC.
func monotonicOf(at time.Time) int64 {
	return monotonic() - int64(time.Since(at))
}
