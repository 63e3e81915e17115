package timeout

// The QEMU case of seed 000 (2015): QEMU's main loop waits in ppoll on every
// descriptor it owns, with a timeout set by its next timer, and hands the
// kernel the whole array on every iteration, so an I/O request pays for
// every idle descriptor. The seed measured a 4k-read latency overhead of 37,
// 49 and 83 us with ppoll and ~15, ~85 and ~200 descriptors, and 36, 37 and
// 47 us with the proposed epoll_pwait1. epoll_wait was no answer before
// that: its millisecond timeout makes every timer up to a millisecond late.
//
// The replay: one loop thread watches n descriptors, one of which is a
// "device" pipe and the rest idle eventfds, while a timer fires every
// millisecond. A second thread plays the device: at random intervals it
// writes the current time into the pipe. The loop measures, for each
// request, the time from that write to the loop handling it (the latency the
// event loop adds), and for each timer how late it ran.

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/chart"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/harness"
	"github.com/eventpoll/eventpoll/epoll"
	"golang.org/x/sys/unix"
)

var qemuMechs = []string{mechPpoll, mechWait, mechEpollWait}

// The seed's figures: latency overhead in us at ~15, ~85, ~200 descriptors.
var (
	qemuSeedFds   = []int{15, 85, 200}
	qemuSeedPpoll = []float64{37, 49, 83}
	qemuSeedEpoll = []float64{36, 37, 47}
)

const qemuTimerPeriod = time.Millisecond

type qemuConfig struct {
	Fds      []int // descriptors watched per iteration, the device's included
	Duration time.Duration
	Mechs    []string
}

// qemuPoint is one mechanism at one size.
type qemuPoint struct {
	Mech            string        `json:"mech"`
	Fds             int           `json:"fds"`
	Requests        int           `json:"requests"`
	Iterations      int           `json:"iterations"`
	LatencyMin      time.Duration `json:"latency_min_ns"`
	LatencyMedian   time.Duration `json:"latency_median_ns"`
	LatencyP99      time.Duration `json:"latency_p99_ns"`
	Timers          int           `json:"timers"`
	TimerLateMedian time.Duration `json:"timer_late_median_ns"`
	TimerLateP99    time.Duration `json:"timer_late_p99_ns"`
}

// qemuLoop is the loop's descriptors.
type qemuLoop struct {
	dev  [2]int // the device pipe: dev[0] watched by the loop, dev[1] written by the device
	idle []int  // idle eventfds
}

func newQEMULoop(n int) (*qemuLoop, error) {
	l := &qemuLoop{}
	if err := unix.Pipe2(l.dev[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("pipe2: %w", err)
	}
	for i := 1; i < n; i++ {
		fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		if err != nil {
			l.close()
			return nil, fmt.Errorf("eventfd: %w", err)
		}
		l.idle = append(l.idle, fd)
	}
	return l, nil
}

func (l *qemuLoop) close() {
	unix.Close(l.dev[0])
	unix.Close(l.dev[1])
	for _, fd := range l.idle {
		unix.Close(fd)
	}
}

// runQEMU replays the loop for every mechanism and size.
func runQEMU(cfg qemuConfig, slack time.Duration, log harness.Log) ([]qemuPoint, error) {
	var pts []qemuPoint
	for _, n := range cfg.Fds {
		for _, mech := range cfg.Mechs {
			pt, err := qemuOne(mech, n, cfg.Duration, slack)
			if err != nil {
				return pts, fmt.Errorf("timeout QEMU loop %s %d fds: %w", mech, n, err)
			}
			pts = append(pts, pt)
			log.Printf("timeout: QEMU loop %-20s %3d fds: I/O latency median %v p99 %v, timer late median %v",
				mech, n, rounded(pt.LatencyMedian), rounded(pt.LatencyP99), rounded(pt.TimerLateMedian))
		}
	}
	return pts, nil
}

func qemuOne(mech string, n int, d time.Duration, slack time.Duration) (qemuPoint, error) {
	l, err := newQEMULoop(n)
	if err != nil {
		return qemuPoint{Mech: mech, Fds: n}, err
	}
	defer l.close()
	return l.run(mech, d, slack)
}

// device plays the device until stop: at random intervals it writes the
// time since base into the pipe. It returns the write that failed, if any.
func (l *qemuLoop) device(base time.Time, slack time.Duration, stop *atomic.Bool) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if slack > 0 {
		unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(slack), 0, 0, 0)
		defer unix.Prctl(unix.PR_SET_TIMERSLACK, 0, 0, 0, 0)
	}
	var buf [8]byte
	for !stop.Load() {
		gap := unix.NsecToTimespec(int64(150*time.Microsecond) + rand.Int64N(int64(300*time.Microsecond)))
		unix.Nanosleep(&gap, nil)
		binary.LittleEndian.PutUint64(buf[:], uint64(time.Since(base)))
		if _, err := unix.Write(l.dev[1], buf[:]); err != nil && err != unix.EAGAIN {
			return fmt.Errorf("device write: %w", err)
		}
	}
	return nil
}

// run replays the loop with mech for d.
func (l *qemuLoop) run(mech string, d time.Duration, slack time.Duration) (qemuPoint, error) {
	pt := qemuPoint{Mech: mech, Fds: len(l.idle) + 1}
	base := time.Now()
	var stop atomic.Bool
	devDone := make(chan error, 1)
	go func() { devDone <- l.device(base, slack, &stop) }()
	// The device's error is read only once it has stopped: the receive
	// orders its write before the read.
	stopDevice := sync.OnceValue(func() error {
		stop.Store(true)
		return <-devDone
	})
	defer stopDevice()

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if slack > 0 {
		unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(slack), 0, 0, 0)
		defer unix.Prctl(unix.PR_SET_TIMERSLACK, 0, 0, 0, 0)
	}
	wait, closeWait, err := l.waiter(mech)
	if err != nil {
		return pt, err
	}
	defer closeWait()
	lat, late, err := l.loop(&pt, wait, base, d)
	if err != nil {
		return pt, err
	}
	if err := stopDevice(); err != nil {
		return pt, err
	}
	slices.Sort(lat)
	slices.Sort(late)
	pt.Requests, pt.Timers = len(lat), len(late)
	if len(lat) > 0 {
		pt.LatencyMin = lat[0]
		pt.LatencyMedian = harness.Percentile(lat, 0.5)
		pt.LatencyP99 = harness.Percentile(lat, 0.99)
	}
	if len(late) > 0 {
		pt.TimerLateMedian = harness.Percentile(late, 0.5)
		pt.TimerLateP99 = harness.Percentile(late, 0.99)
	}
	return pt, nil
}

// waiter returns mech's way to wait with a timeout, reporting whether the
// device is readable, and what closes it.
func (l *qemuLoop) waiter(mech string) (wait func(timeout time.Duration) (bool, error), closeWait func(), err error) {
	switch mech {
	case mechPpoll:
		fds := make([]unix.PollFd, 0, len(l.idle)+1)
		fds = append(fds, unix.PollFd{Fd: int32(l.dev[0]), Events: unix.POLLIN})
		for _, fd := range l.idle {
			fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		}
		return func(timeout time.Duration) (bool, error) {
			ts := unix.NsecToTimespec(int64(timeout))
			k, err := unix.Ppoll(fds, &ts, nil)
			if err == unix.EINTR {
				return false, nil
			}
			if err != nil {
				return false, fmt.Errorf("ppoll: %w", err)
			}
			// As a poll loop does, look at every entry for what is ready.
			dev := false
			for i := 0; i < len(fds) && k > 0; i++ {
				if fds[i].Revents != 0 {
					k--
					dev = dev || i == 0
				}
			}
			return dev, nil
		}, func() {}, nil
	case mechWait, mechEpollWait:
		var opts []epoll.Option
		if mech == mechEpollWait {
			opts = append(opts, epoll.WithMillisecondWait())
		}
		ep, err := epoll.New(opts...)
		if err != nil {
			return nil, nil, err
		}
		for i, fd := range append([]int{l.dev[0]}, l.idle...) {
			if err := ep.Add(fd, epoll.In, uint64(i)); err != nil {
				ep.Close()
				return nil, nil, err
			}
		}
		evs := make([]epoll.Event, 16)
		return func(timeout time.Duration) (bool, error) {
			k, err := ep.Wait(evs, timeout)
			if err != nil {
				return false, err
			}
			for _, ev := range evs[:k] {
				if ev.Data() == 0 {
					return true, nil
				}
			}
			return false, nil
		}, func() { ep.Close() }, nil
	}
	return nil, nil, fmt.Errorf("unknown mechanism %q", mech)
}

// loop is the event loop for d: a timer every millisecond sets each wait's
// timeout, and every request read from the device is timed from its write.
// It returns the requests' latencies and the timers' lateness.
func (l *qemuLoop) loop(pt *qemuPoint, wait func(time.Duration) (bool, error), base time.Time, d time.Duration) (lat, late []time.Duration, err error) {
	var buf [8 * 64]byte
	start := time.Since(base)
	next := start + qemuTimerPeriod
	for end := start + d; time.Since(base) < end; {
		dev, err := wait(max(next-time.Since(base), 0))
		if err != nil {
			return nil, nil, err
		}
		pt.Iterations++
		now := time.Since(base)
		for dev {
			k, err := unix.Read(l.dev[0], buf[:])
			if err == unix.EAGAIN {
				break
			}
			if err != nil {
				return nil, nil, fmt.Errorf("device read: %w", err)
			}
			// Timed after the read: the device may have written between
			// the wake-up and the read, after an earlier reading.
			now := time.Since(base)
			for i := 0; i+8 <= k; i += 8 {
				sent := time.Duration(binary.LittleEndian.Uint64(buf[i:]))
				lat = append(lat, now-sent)
			}
			dev = k == len(buf)
		}
		if now >= next {
			late = append(late, now-next)
			for next <= now {
				next += qemuTimerPeriod
			}
		}
	}
	return lat, late, nil
}

// printQEMU writes the QEMU loop's table.
func printQEMU(out io.Writer, pts []qemuPoint) {
	fmt.Fprintln(out, "# QEMU loop (seed 000): device request -> handled by the loop; a 1 ms timer sets the wait's timeout")
	fmt.Fprintf(out, "%-22s %5s %8s %10s %10s %10s %7s %12s %12s\n", "mechanism", "fds", "requests", "lat min", "lat median", "lat p99", "timers", "late median", "late p99")
	for _, p := range pts {
		fmt.Fprintf(out, "%-22s %5d %8d %10v %10v %10v %7d %12v %12v\n", p.Mech, p.Fds, p.Requests,
			rounded(p.LatencyMin), rounded(p.LatencyMedian), rounded(p.LatencyP99), p.Timers,
			rounded(p.TimerLateMedian), rounded(p.TimerLateP99))
	}
	fmt.Fprintln(out, "# 2015 (seed 000), fio 4k read latency overhead in a VM: ppoll 37/49/83 us, epoll_pwait1 36/37/47 us at ~15/~85/~200 fds")
}

func findQEMU(pts []qemuPoint, mech string, n int) (qemuPoint, bool) {
	for _, p := range pts {
		if p.Mech == mech && p.Fds == n && p.Requests > 0 {
			return p, true
		}
	}
	return qemuPoint{}, false
}

func qemuSeed(fig []float64, n int) float64 {
	for i, f := range qemuSeedFds {
		if f == n {
			return fig[i]
		}
	}
	return 0
}

// qemuRows adds the QEMU rows: each mechanism's median latency beside
// the seed's figure, Wait against ppoll, and the timers' lateness. Every
// row is lower-is-better.
func qemuRows(sec *harness.Section, pts []qemuPoint) {
	add := func(r harness.Row) {
		r.LowerIsBetter = true
		sec.Add(r)
	}
	const note = "seed: fio latency overhead in a 2015 VM; compare the growth with fds, not the level"
	seen := map[int]bool{}
	for _, p := range pts {
		if seen[p.Fds] {
			continue
		}
		seen[p.Fds] = true
		n := p.Fds
		pp, okP := findQEMU(pts, mechPpoll, n)
		w, okW := findQEMU(pts, mechWait, n)
		ms, okM := findQEMU(pts, mechEpollWait, n)
		if okP {
			add(harness.Row{Case: fmt.Sprintf("QEMU loop ppoll %d fds median latency", n), Ours: us(pp.LatencyMedian), Unit: "us",
				RefName: "seed 000 ppoll (2015)", Ref: qemuSeed(qemuSeedPpoll, n), RefNote: note})
		}
		if okW {
			add(harness.Row{Case: fmt.Sprintf("QEMU loop Wait %d fds median latency", n), Ours: us(w.LatencyMedian), Unit: "us",
				RefName: "seed 000 epoll_pwait1 (2015)", Ref: qemuSeed(qemuSeedEpoll, n), RefNote: note})
		}
		if okP && okW {
			add(harness.Row{Case: fmt.Sprintf("QEMU loop Wait vs ppoll %d fds median latency", n), Ours: us(w.LatencyMedian), Unit: "us",
				RefName: "ppoll", Ref: us(pp.LatencyMedian)})
		}
		if okW && okM {
			add(harness.Row{Case: fmt.Sprintf("QEMU loop Wait vs epoll_wait(ms) %d fds median timer lateness", n), Ours: us(w.TimerLateMedian), Unit: "us",
				RefName: "epoll_wait (ms)", Ref: us(ms.TimerLateMedian)})
		}
	}
}

func qemuChart(pts []qemuPoint) (chart.Chart, bool) {
	if len(pts) == 0 {
		return chart.Chart{}, false
	}
	ch := chart.Chart{
		File:   "timeout-qemu.svg",
		Title:  "QEMU-like loop: median latency a request waits for the loop",
		XLabel: "descriptors watched",
		YLabel: "median latency (us)",
	}
	for _, mech := range []string{mechPpoll, mechWait, mechEpollWait} {
		chart.Curve(&ch, mech, pts, func(p qemuPoint) (float64, float64) {
			if p.Mech != mech || p.Requests == 0 {
				return 0, 0
			}
			return float64(p.Fds), us(p.LatencyMedian)
		})
	}
	var x []float64
	for _, f := range qemuSeedFds {
		x = append(x, float64(f))
	}
	ch.Series = append(ch.Series,
		chart.Series{Name: "ppoll 2015 (fio overhead)", X: x, Y: qemuSeedPpoll},
		chart.Series{Name: "epoll_pwait1 2015 (fio overhead)", X: x, Y: qemuSeedEpoll},
	)
	return ch, true
}
