package main

// http reproduces the dphttpd measurement of seed 001 (2002): a one-thread
// static HTTP server holding N idle "dead" connections open while a load
// generator measures its reply rate. A poll(2) server hands the kernel every
// connection on every iteration, dead ones included, so its rate falls as N
// grows; an epoll server's wait costs only the ready connections. The 2002
// figures: epoll ~13.4k replies/s both with no dead connections and with
// 60,000; poll down to 414 replies/s.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/chart"
	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/system"
)

const (
	http2002Epoll    = 13400 // replies/s, at 0 and at 60,000 dead connections
	http2002PollBig  = 414   // replies/s at 60,000 dead connections
	http2002Dead     = 60000
	httpFdMargin     = 64
	httpRequest      = "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: epollbench\r\n\r\n"
	httpBodySize     = 1024
	httpEngineEpoll  = "epoll"
	httpEnginePoll   = "poll"
	httpDialBatch    = 512 // dead connections dialled before waiting for the server to accept them
	httpAcceptWait   = 10 * time.Second
	httpServerPollMs = 20 // the server's wait timeout, so that it sees a stop request
)

var httpEngines = []string{httpEnginePoll, httpEngineEpoll}

// httpResponse is the one static page every request gets.
var httpResponse = func() []byte {
	body := bytes.Repeat([]byte("x"), httpBodySize)
	hdr := fmt.Sprintf("HTTP/1.1 200 OK\r\nServer: epollbench\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n", len(body))
	return append([]byte(hdr), body...)
}()

func init() {
	register(experiment{
		Name:    "http",
		Summary: "dphttpd-like one-thread HTTP server with idle connections: replies/s for poll and epoll (2002)",
		Order:   50,
		Run:     httpRun,
		Report:  httpReport,
	})
}

// httpConfig is what one run measures.
type httpConfig struct {
	Dead     []int
	Engines  []string
	Conc     int           // load-generator connections, each with one request in flight
	Duration time.Duration // measuring time per point
	Windows  int           // Duration is cut into this many windows; the best is kept
	Warmup   time.Duration
	Progress func(format string, args ...any)
}

// httpPoint is one engine at one number of dead connections.
type httpPoint struct {
	Engine  string    `json:"engine"`
	Dead    int       `json:"dead"`
	Replies int64     `json:"replies"`
	Seconds float64   `json:"seconds"`
	Rate    float64   `json:"replies_per_s"` // the best window's
	Mean    float64   `json:"mean_replies_per_s"`
	Windows []float64 `json:"windows"` // each window's rate
	Errors  int64     `json:"server_errors"`
}

type httpResult struct {
	Points []httpPoint `json:"points"`
	Dead   []int       `json:"dead"` // as measured, after any cap
	Notes  []string    `json:"notes,omitempty"`
}

func (r *httpResult) rate(engine string, dead int) float64 {
	for _, p := range r.Points {
		if p.Engine == engine && p.Dead == dead {
			return p.Rate
		}
	}
	return 0
}

func httpRunAll(cfg httpConfig) (*httpResult, error) {
	res := &httpResult{}
	maxDead := 0
	for _, d := range cfg.Dead {
		maxDead = max(maxDead, d)
	}
	// The server's end of every connection is in this process's table;
	// the client ends of the dead ones are in a table of their own (a
	// tableThread), as if on another machine, unless the kernel refuses
	// one: then both ends share this table and count against its limit.
	ends := 1
	if tt, err := system.NewTableThread(); err != nil {
		ends = 2
		res.Notes = append(res.Notes, "the dead connections' client ends share the server's descriptor table: "+err.Error())
	} else {
		tt.Close()
	}
	need := ends*maxDead + 2*cfg.Conc + system.OpenFds() + httpFdMargin
	limit, err := system.RaiseNofile(need)
	if err != nil {
		res.Notes = append(res.Notes, err.Error())
	}
	capDead := (limit - system.OpenFds() - httpFdMargin - 2*cfg.Conc) / ends
	capped := false
	for _, d := range cfg.Dead {
		if d > capDead {
			if !capped {
				res.Notes = append(res.Notes, fmt.Sprintf(
					"dead connections capped at %d: RLIMIT_NOFILE could only be raised to %d and the server holds every connection", capDead, limit))
				res.Dead = append(res.Dead, capDead)
			}
			capped = true
			continue
		}
		res.Dead = append(res.Dead, d)
	}
	for _, dead := range res.Dead {
		for _, engine := range cfg.Engines {
			pt, err := httpMeasure(engine, dead, ends == 1, cfg)
			if err != nil {
				return res, fmt.Errorf("http %s dead=%d: %w", engine, dead, err)
			}
			res.Points = append(res.Points, pt)
			cfg.Progress("http: %-5s dead=%-6d %9.0f replies/s best window (mean %.0f: %d replies in %.2fs)",
				engine, dead, pt.Rate, pt.Mean, pt.Replies, pt.Seconds)
		}
	}
	return res, nil
}

// httpMeasure starts a server, parks dead idle connections on it, and runs
// the closed-loop load generator against it.
func httpMeasure(engine string, dead int, ownTable bool, cfg httpConfig) (httpPoint, error) {
	pt := httpPoint{Engine: engine, Dead: dead}
	// The client ends of the dead connections, in a table of their own when
	// ownTable; made before the server, so that the table holds no copy of
	// the server's descriptors (a copy would keep the listener open).
	onClient := func(f func() error) error { return f() }
	if ownTable {
		tt, err := system.NewTableThread()
		if err != nil {
			return pt, err
		}
		defer tt.Close()
		onClient = tt.Do
	}
	srv, err := newHTTPServer(engine)
	if err != nil {
		return pt, err
	}
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.serve() }()
	stopServer := func() error {
		srv.stop.Store(true)
		return <-srvDone
	}

	var deadFds []int
	err = onClient(func() (err error) {
		deadFds, err = httpDialDead(srv, dead)
		return err
	})
	// Abortive closes in the table that holds them: the thread's end
	// would close them too, but gracefully, leaving TIME_WAIT sockets.
	defer onClient(func() error { httpCloseAll(deadFds); return nil })
	if err != nil {
		stopServer()
		return pt, err
	}

	var replies atomic.Int64
	var counting atomic.Bool
	var stopLoad atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, cfg.Conc)
	conns := make([]net.Conn, 0, cfg.Conc)
	for range cfg.Conc {
		c, err := net.Dial("tcp4", srv.addr)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			stopServer()
			return pt, fmt.Errorf("load generator dial: %w", err)
		}
		// An abortive close (RST) leaves no TIME_WAIT socket behind, so
		// repeated runs do not use up the ephemeral ports.
		c.(*net.TCPConn).SetLinger(0)
		conns = append(conns, c)
	}
	for _, c := range conns {
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			buf := make([]byte, len(httpResponse))
			req := []byte(httpRequest)
			for !stopLoad.Load() {
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write(req); err != nil {
					errs <- fmt.Errorf("load generator write: %w", err)
					return
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					errs <- fmt.Errorf("load generator read: %w", err)
					return
				}
				if !bytes.Equal(buf[:15], httpResponse[:15]) {
					errs <- fmt.Errorf("load generator: bad reply %q", buf[:15])
					return
				}
				if counting.Load() {
					replies.Add(1)
				}
			}
		}(c)
	}
	time.Sleep(cfg.Warmup)
	counting.Store(true)
	// The measuring time is cut into windows and the best window's rate is
	// kept: on a shared machine a burst of other work lowers whichever
	// window it lands in, and a server's rate is what it does when it has
	// the CPU. The mean over all windows is kept beside it.
	start := time.Now()
	prev, prevT := int64(0), start
	for w := 1; w <= cfg.Windows; w++ {
		time.Sleep(time.Until(start.Add(cfg.Duration * time.Duration(w) / time.Duration(cfg.Windows))))
		now, r := time.Now(), replies.Load()
		pt.Windows = append(pt.Windows, float64(r-prev)/now.Sub(prevT).Seconds())
		prev, prevT = r, now
	}
	counting.Store(false)
	el := time.Since(start)
	stopLoad.Store(true)
	wg.Wait()
	for _, c := range conns {
		c.Close()
	}
	serr := stopServer()
	select {
	case err := <-errs:
		return pt, err
	default:
	}
	if serr != nil {
		return pt, serr
	}
	pt.Replies, pt.Seconds = replies.Load(), el.Seconds()
	pt.Mean = float64(pt.Replies) / pt.Seconds
	pt.Rate = slices.Max(pt.Windows)
	pt.Errors = srv.errors.Load()
	return pt, nil
}

func httpCloseAll(fds []int) {
	for _, fd := range fds {
		httpCloseFd(fd)
	}
}

func httpRun(args []string) error {
	fs := newFlagSet("http", "A dphttpd-like one-thread HTTP/1.1 server on loopback holding idle \"dead\" connections\nopen, driven by a closed-loop load generator: replies/s per engine and number of dead\nconnections (seed 001).")
	dead := fs.String("dead", "0,1000,5000,10000,19000", "numbers of idle connections held open, comma-separated")
	engines := fs.String("engine", strings.Join(httpEngines, ","), "server engines, comma-separated")
	conc := fs.Int("c", 8, "load-generator connections, one request in flight on each")
	d := fs.Duration("d", 3*time.Second, "measuring time per engine and number of dead connections")
	windows := fs.Int("windows", 6, "windows the measuring time is cut into; the best window's rate is reported")
	warm := fs.Duration("warmup", 300*time.Millisecond, "untimed warm-up per point")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := httpParseConfig(*dead, *engines, *conc, *d, *windows, *warm)
	if err != nil {
		return err
	}
	cfg.Progress = func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
	res, err := httpRunAll(cfg)
	if err != nil {
		return err
	}
	httpPrint(res, cfg)
	return nil
}

func httpParseConfig(dead, engines string, conc int, d time.Duration, windows int, warm time.Duration) (httpConfig, error) {
	var cfg httpConfig
	var err error
	for _, f := range strings.Split(dead, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		var n int
		if _, err := fmt.Sscanf(f, "%d", &n); err != nil || n < 0 || fmt.Sprint(n) != f {
			return cfg, fmt.Errorf("-dead: %q is not a non-negative integer", f)
		}
		cfg.Dead = append(cfg.Dead, n)
	}
	if len(cfg.Dead) == 0 {
		return cfg, errors.New("-dead: empty list")
	}
	if cfg.Engines, err = parseNames("engine", engines, httpEngines); err != nil {
		return cfg, err
	}
	if conc <= 0 || conc > 1000 {
		return cfg, fmt.Errorf("-c: %d is not in 1..1000", conc)
	}
	if d <= 0 {
		return cfg, fmt.Errorf("-d: %v is not positive", d)
	}
	if windows <= 0 || windows > 1000 {
		return cfg, fmt.Errorf("-windows: %d is not in 1..1000", windows)
	}
	if warm < 0 {
		return cfg, fmt.Errorf("-warmup: %v is negative", warm)
	}
	cfg.Conc, cfg.Duration, cfg.Windows, cfg.Warmup = conc, d, windows, warm
	return cfg, nil
}

func httpPrint(res *httpResult, cfg httpConfig) {
	fmt.Printf("# one server thread, %d load connections (closed loop), %d-byte page, loopback\n", cfg.Conc, len(httpResponse))
	fmt.Printf("%8s", "dead")
	for _, e := range cfg.Engines {
		fmt.Printf(" %18s", e+" replies/s")
	}
	fmt.Printf(" %11s\n", "epoll/poll")
	for _, d := range res.Dead {
		fmt.Printf("%8d", d)
		for _, e := range cfg.Engines {
			fmt.Printf(" %18.0f", res.rate(e, d))
		}
		if e, p := res.rate(httpEngineEpoll, d), res.rate(httpEnginePoll, d); e > 0 && p > 0 {
			fmt.Printf(" %11.2f", e/p)
		}
		fmt.Println()
	}
	if len(res.Dead) > 1 {
		lo, hi := res.Dead[0], res.Dead[len(res.Dead)-1]
		for _, e := range cfg.Engines {
			if a, b := res.rate(e, lo), res.rate(e, hi); a > 0 && b > 0 {
				fmt.Printf("# %s: dead=%d / dead=%d = %.3f\n", e, hi, lo, b/a)
			}
		}
	}
	for _, n := range res.Notes {
		fmt.Println("#", n)
	}
	fmt.Printf("# 2002 (seed 001): epoll ~%d replies/s at 0 and %d dead connections; poll %d at %d\n",
		http2002Epoll, http2002Dead, http2002PollBig, http2002Dead)
}

func httpReport(opts reportOptions) (Section, error) {
	cfg := httpConfig{
		Dead:     []int{0, 1000, 10000},
		Engines:  httpEngines,
		Conc:     8,
		Duration: 2 * time.Second,
		Windows:  4,
		Warmup:   200 * time.Millisecond,
		Progress: opts.Progress,
	}
	if opts.Quick {
		cfg.Dead = []int{0, 200}
		cfg.Conc = 4
		cfg.Duration = 150 * time.Millisecond
		cfg.Windows = 2
		cfg.Warmup = 30 * time.Millisecond
	}
	res, err := httpRunAll(cfg)
	if err != nil {
		return Section{}, err
	}
	return httpSection(res, cfg), nil
}

func httpSection(res *httpResult, cfg httpConfig) Section {
	sec := Section{
		Experiment: "http",
		Params: map[string]any{
			"dead":       res.Dead,
			"engine":     cfg.Engines,
			"conc":       cfg.Conc,
			"duration":   cfg.Duration.String(),
			"windows":    cfg.Windows,
			"warmup":     cfg.Warmup.String(),
			"page_bytes": len(httpResponse),
		},
		Raw:   res,
		Notes: append([]string(nil), res.Notes...),
	}
	sec.Notes = append(sec.Notes, fmt.Sprintf("each figure is the best of %d windows of the measuring time (the machine is shared); Raw holds every window and the mean", cfg.Windows))
	sec.Notes = append(sec.Notes, "server and load generator share this machine's CPUs over loopback; the 2002 figures used separate client machines")
	add := func(r Row) {
		r.Experiment = "http"
		r.ratio()
		sec.Rows = append(sec.Rows, r)
	}
	if len(res.Dead) == 0 {
		return sec
	}
	lo, hi := res.Dead[0], res.Dead[len(res.Dead)-1]
	at2002 := fmt.Sprintf("2002 figure at %d dead connections", http2002Dead)
	if lo == 0 && hi > 0 {
		if a, b := res.rate(httpEngineEpoll, 0), res.rate(httpEngineEpoll, hi); a > 0 && b > 0 {
			add(Row{Case: fmt.Sprintf("epoll dead=%d / dead=0", hi), Ours: b / a, Unit: "x",
				RefName: "seed 001 (2002)", Ref: 1, RefNote: at2002 + " (flat)"})
		}
		if a, b := res.rate(httpEnginePoll, 0), res.rate(httpEnginePoll, hi); a > 0 && b > 0 {
			add(Row{Case: fmt.Sprintf("poll dead=%d / dead=0", hi), Ours: b / a, Unit: "x",
				RefName: "seed 001 (2002)", Ref: float64(http2002PollBig) / http2002Epoll,
				RefNote: at2002 + ", against epoll's 13.4k at 0"})
		}
	}
	for _, d := range res.Dead {
		if e, p := res.rate(httpEngineEpoll, d), res.rate(httpEnginePoll, d); e > 0 && p > 0 {
			add(Row{Case: fmt.Sprintf("epoll vs poll dead=%d", d), Ours: e, Unit: "replies/s", RefName: "poll(2)", Ref: p})
		}
	}
	if r := res.rate(httpEngineEpoll, 0); r > 0 {
		add(Row{Case: "epoll dead=0", Ours: r, Unit: "replies/s", RefName: "seed 001 (2002)", Ref: http2002Epoll,
			RefNote: "2002 hardware, separate clients"})
	}
	if r := res.rate(httpEngineEpoll, hi); r > 0 && hi > 0 {
		add(Row{Case: fmt.Sprintf("epoll dead=%d", hi), Ours: r, Unit: "replies/s", RefName: "seed 001 (2002)", Ref: http2002Epoll,
			RefNote: at2002})
	}
	if r := res.rate(httpEnginePoll, hi); r > 0 && hi > 0 {
		add(Row{Case: fmt.Sprintf("poll dead=%d", hi), Ours: r, Unit: "replies/s", RefName: "seed 001 (2002)", Ref: http2002PollBig,
			RefNote: at2002})
	}
	ch := Chart{
		File:   "http.svg",
		Title:  "one-thread HTTP server: replies/s with idle connections held open",
		XLabel: "dead (idle) connections",
		YLabel: "replies per second",
		LogY:   true,
	}
	for _, e := range cfg.Engines {
		chart.Curve(&ch, e, res.Dead, func(d int) (float64, float64) { return float64(d), res.rate(e, d) })
	}
	// The 2002 curves are left out: drawn to 60,000 dead connections on a
	// linear axis they would squeeze ours into the left sixth; the rows
	// carry them.
	sec.Charts = []Chart{ch}
	return sec
}
