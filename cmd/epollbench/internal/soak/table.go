package soak

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/eventpoll/eventpoll/internal/chaos"
)

// Failures lists, phase by phase, what must never happen and did.
func (s *Summary) Failures() []string {
	var out []string
	for _, p := range s.Phases {
		for _, f := range p.Failures {
			out = append(out, fmt.Sprintf("phase %d (%s, %s, %s): %s", p.N, p.Mode, p.Engine, p.Fault, f))
		}
	}
	return out
}

// Totals sums the clients' counts over the phases.
func (s *Summary) Totals() ClientCounts {
	t := ClientCounts{ByBehaviour: map[string]int64{}}
	for _, p := range s.Phases {
		addCounts(&t, p.Clients)
	}
	return t
}

// Table writes the phases, one a row, and the totals.
func (s *Summary) Table(w io.Writer) {
	fmt.Fprintf(w, "soak: seed %d, %.0f s, %d phases\n\n", s.Seed, s.Duration, len(s.Phases))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "PHASE\tMODE\tENGINE\tFAULT\tCONNS\tDIAL ERRS\tFRAMES\tLOST\tMISDELIV\tOPEN PEAK\tBUFFERS PEAK\tHEAP PEAK\tLIVE PEAK\tBOUND\tFDS BEFORE/AFTER\tGOROUTINES BEFORE/AFTER\tPAUSES\tREFUSED\tPANICS\t")
	for _, p := range s.Phases {
		sv := p.Server
		var fds, gos []string
		for i := range sv.FdsAfter {
			fds = append(fds, fmt.Sprint(sv.FdsAfter[i]))
			gos = append(gos, fmt.Sprint(sv.GoAfter[i]))
		}
		over := ""
		if sv.LivePeak-sv.LiveBase > p.HeapBound {
			over = " OVER"
		}
		engine := p.Engine
		if !strings.HasPrefix(engine, sv.Engine) {
			engine += " (ran " + sv.Engine + ")"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s%s\t%s\t%d/%s\t%d/%s\t%d\t%d\t%d/%d\t\n",
			p.N, p.Mode, engine, p.Fault, p.Clients.Conns, p.Clients.DialErrors, p.Clients.FramesBack, p.Clients.Lost, p.Clients.Misdelivered,
			sv.OpenPeak, mib(sv.HeldPeak), mib(sv.HeapPeak-sv.HeapBase), mib(sv.LivePeak-sv.LiveBase), over, mib(p.HeapBound), sv.FdsBefore, strings.Join(fds, ","),
			sv.GoBefore, strings.Join(gos, ","), sv.Stats.AcceptPauses, sv.Stats.Refused, sv.Stats.Panics, p.PanicsInjected)
	}
	tw.Flush()

	t := s.Totals()
	fmt.Fprintf(w, "\nclients by behaviour (%d connections made; %d dials refused or failed, most while a server restarted):\n", t.Conns, t.DialErrors)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for b := chaos.Behaviour(0); ; b++ {
		name := b.String()
		if strings.HasPrefix(name, "Behaviour(") {
			break
		}
		kind := "behaves"
		if !b.Behaves() {
			kind = "hostile"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\n", name, kind, t.ByBehaviour[name])
	}
	tw.Flush()

	var pauses, refused, panics, injected, closed, answered, restarts, emfile, slow, leaks, shutdowns int64
	var heapOver int
	for _, p := range s.Phases {
		sv := p.Server
		pauses += int64(sv.Stats.AcceptPauses)
		refused += int64(sv.Stats.Refused)
		panics += int64(sv.Stats.Panics)
		injected += p.PanicsInjected
		closed += p.PanicsClosed
		answered += p.PanicsAnswered
		restarts += int64(sv.Restarts)
		shutdowns += int64(len(sv.FdsAfter))
		for i := range sv.FdsAfter {
			if sv.FdsAfter[i] != sv.FdsBefore || sv.GoAfter[i] != sv.GoBefore {
				leaks++
			}
		}
		if sv.LivePeak-sv.LiveBase > p.HeapBound {
			heapOver++
		}
		switch p.Fault {
		case faultEMFILE:
			emfile++
		case faultSlow:
			slow++
		}
	}
	fmt.Fprintf(w, "\nbehaved frames sent %d, verified back %d (%s verified byte for byte)\n", t.FramesSent, t.FramesBack, mib(t.BytesBack))
	fmt.Fprintf(w, "unanswered %d, all in restart and descriptor-exhaustion phases (Shutdown stops reading; a refused connection is closed unread)\n", t.FramesSent-t.FramesBack)
	fmt.Fprintf(w, "misdelivered %d (must be 0); lost for behaving clients %d (must be 0); torn %d (must be 0)\n", t.Misdelivered, t.Lost, t.Torn)
	fmt.Fprintf(w, "malformed or oversized headers refused %d, answered instead %d (must be 0); slowloris cut %d\n", t.Refused, t.Unrefused, t.SlowClosed)
	fmt.Fprintf(w, "a never-reading client pushed at most %s before its writes blocked (the kernel's socket buffers on both sides hold it;\n"+
		"  the server's own share is BUFFERS PEAK, bounded by its write limit %s and read limit %s per connection)\n", mib(t.NeverReadMax), mib(writeHigh), mib(readLimit))
	fmt.Fprintf(w, "server's live heap above its baseline (the server listening) over the bound in %d of %d phases (bound: per connection\n"+
		"  open at the peak, 2x(read limit + read buffer) + write high mark + 1 KiB; HEAP PEAK also counts garbage not yet collected)\n", heapOver, len(s.Phases))
	fmt.Fprintf(w, "shutdowns %d (restarts mid-traffic %d): descriptors or goroutines left behind after %d\n", shutdowns, restarts, leaks)
	fmt.Fprintf(w, "handler panics injected %d, contained by the server %d, connections closed unanswered %d, answered %d\n", injected, panics, closed, answered)
	fmt.Fprintf(w, "descriptor exhaustion phases %d (%d descriptors of room): accept pauses %d, connections refused %d, behaved clients refused %d\n", emfile, emfileRoom, pauses, refused, t.Unserved)
	fmt.Fprintf(w, "slow-reader phases %d\n", slow)
	if f := s.Failures(); len(f) > 0 {
		fmt.Fprintf(w, "\nFAILED (%d):\n", len(f))
		for _, x := range f {
			fmt.Fprintf(w, "  %s\n", x)
		}
	} else {
		fmt.Fprintf(w, "\nnothing lost, nothing misdelivered\n")
	}
}

func mib(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
