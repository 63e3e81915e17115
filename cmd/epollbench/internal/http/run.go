package http

import (
	"fmt"
	"slices"
	"time"

	"github.com/eventpoll/eventpoll/cmd/epollbench/internal/system"
)

// Run measures every engine at every number of dead connections, as many
// as the descriptor limit allows.
func (cfg config) Run() (*result, error) {
	res := &result{}
	maxDead := 0
	for _, d := range cfg.Dead {
		maxDead = max(maxDead, d)
	}
	// The server's end of every connection is in this process's table;
	// the client ends of the dead ones are in a table of their own (a
	// system.TableThread), as if on another machine, unless the kernel refuses
	// one: then both ends share this table and count against its limit.
	ends := 1
	if tt, err := system.NewTableThread(); err != nil {
		ends = 2
		res.Notes = append(res.Notes, "the dead connections' client ends share the server's descriptor table: "+err.Error())
	} else {
		tt.Close()
	}
	need := ends*maxDead + 2*cfg.Conc + system.OpenFds() + fdMargin
	limit, err := system.RaiseNofile(need)
	if err != nil {
		res.Notes = append(res.Notes, err.Error())
	}
	capDead := (limit - system.OpenFds() - fdMargin - 2*cfg.Conc) / ends
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
			pt, err := measure(engine, dead, ends == 1, cfg)
			if err != nil {
				return res, fmt.Errorf("http %s dead=%d: %w", engine, dead, err)
			}
			res.Points = append(res.Points, pt)
			cfg.Log.Printf("http: %-7s dead=%-6d %9.0f replies/s best window (mean %.0f: %d replies in %.2fs)",
				engine, dead, pt.Rate, pt.Mean, pt.Replies, pt.Seconds)
		}
	}
	return res, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		closeFd(fd)
	}
}

// measure starts a server, parks dead idle connections on it, and runs
// the closed-loop load generator against it.
func measure(engine string, dead int, ownTable bool, cfg config) (point, error) {
	pt := point{Engine: engine, Dead: dead}
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
	srv, err := newServer(engine)
	if err != nil {
		return pt, err
	}
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.serve() }()
	stopServer := func() error {
		srv.stop()
		return <-srvDone
	}

	var deadFds []int
	err = onClient(func() (err error) {
		deadFds, err = dialDead(srv, dead)
		return err
	})
	// Abortive closes in the table that holds them: the thread's end
	// would close them too, but gracefully, leaving TIME_WAIT sockets.
	defer onClient(func() error { closeAll(deadFds); return nil })
	if err != nil {
		stopServer()
		return pt, err
	}
	ld, err := dialLoad(srv.addr, cfg.Conc)
	if err != nil {
		stopServer()
		return pt, err
	}
	ld.start()
	time.Sleep(cfg.Warmup)
	pt.Windows, pt.Replies, pt.Seconds = ld.measure(cfg.Duration, cfg.Windows)
	lerr := ld.stop()
	serr := stopServer()
	if lerr != nil {
		return pt, lerr
	}
	if serr != nil {
		return pt, serr
	}
	pt.Mean = float64(pt.Replies) / pt.Seconds
	pt.Rate = slices.Max(pt.Windows)
	pt.Errors = srv.errors.Load()
	return pt, nil
}
