package servers

import (
	"encoding/json"
	"errors"
	"fmt"
)

// The driver's JSON, as bench/README.md documents it: the fields this
// section reads, the rest ignored (the whole document is kept as the
// section's raw detail).

// peerSchema is the one layout read; the driver changes the string only
// when a field changes meaning or goes away.
const peerSchema = "eventpoll-peerbench/1"

type peerReport struct {
	Schema   string  `json:"schema"`
	Elapsed  float64 `json:"elapsed_s"`
	Settings struct {
		Short      bool    `json:"short"`
		Rounds     int     `json:"rounds"`
		WarmupMS   float64 `json:"warmup_ms"`
		DurationMS float64 `json:"duration_ms"`
		WrkSeconds float64 `json:"wrk_s"`
	} `json:"settings"`
	Notes           []string   `json:"notes"`
	Implementations []peerImpl `json:"implementations"`
	Rows            []peerRow  `json:"rows"`
	// P99Target is the driver's own verdict on the p99 target in each
	// latency case and placement, where ours ran.
	P99Target []peerVerdict `json:"p99_target"`
	// MachineStalls is what a thread spinning alone on each CPU lost
	// around the latency runs: the machine's own gaps under every p99.
	MachineStalls []peerStalls `json:"machine_stalls"`
}

// peerStalls is one CPU's gaps, before or after the latency runs.
type peerStalls struct {
	When     string  `json:"when"`
	CPU      int     `json:"cpu"`
	WindowNS float64 `json:"window_ns"`
	OverNS   float64 `json:"over_ns"`
	Count    int     `json:"count"`
	LostNS   float64 `json:"lost_ns"`
	MaxNS    float64 `json:"max_ns"`
}

// peerVerdict is one of the driver's p99 verdicts.
type peerVerdict struct {
	Case    string `json:"case"`
	Loops   string `json:"loops"`
	Verdict string `json:"verdict"`
	Note    string `json:"note"`
}

type peerImpl struct {
	Name    string   `json:"name"`
	Modes   []string `json:"modes"`
	Ours    bool     `json:"ours"`
	Skipped string   `json:"skipped"`
}

// peerRow is one implementation in one case, placement and generator.
type peerRow struct {
	Impl        string   `json:"impl"` // name, or name/mode
	Case        string   `json:"case"`
	Family      string   `json:"family"`
	Loops       string   `json:"loops"` // "1" or "all"
	ServerLoops int      `json:"server_loops"`
	Generator   string   `json:"generator"`
	OpsPerSec   float64  `json:"ops_per_s"`
	P99us       *float64 `json:"p99_us"`
	Idle        *struct {
		RSSPerConn float64  `json:"rss_per_conn"`
		GoPerConn  *float64 `json:"go_per_conn"`
	} `json:"idle"`
	// The latency family's (open loop): the offered rate, the
	// generator's own lateness p99 in the best run, and why the server
	// did not keep up with the offered rate ("" when it did).
	OfferedPerSec float64  `json:"offered_per_s"`
	LateP99us     *float64 `json:"late_p99_us"`
	Overloaded    string   `json:"overloaded"`
	BestGoPeer    string   `json:"best_go_peer"`
	Error         string   `json:"error"`
}

// figure is what the row is compared by: ops per second, RSS per idle
// connection, or a latency row's p99 in microseconds; 0 when the row has
// none.
func (r *peerRow) figure() float64 {
	switch {
	case r == nil || r.Error != "":
		return 0
	case r.Family == familyIdle:
		if r.Idle == nil {
			return 0
		}
		return r.Idle.RSSPerConn
	case r.Family == familyLatency:
		if r.P99us == nil {
			return 0
		}
		return *r.P99us
	}
	return r.OpsPerSec
}

// The case families, as the driver names them.
const (
	familyEcho     = "echo"
	familyHTTP     = "http"
	familyLatency  = "latency" // open loop: every server at one offered rate
	familyIdle     = "idle"
	familyConnRate = "connrate"
)

var families = []string{familyEcho, familyHTTP, familyLatency, familyIdle, familyConnRate}

// cImpl is the C reference's name in the driver's rows.
const cImpl = "c"

// parsePeerReport decodes the driver's JSON and checks that it is the
// layout this section reads and that it measured something.
func parsePeerReport(b []byte) (*peerReport, error) {
	var rep peerReport
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("peerbench's JSON: %w", err)
	}
	if rep.Schema != peerSchema {
		return nil, fmt.Errorf("peerbench's JSON has schema %q; this epollbench reads %q", rep.Schema, peerSchema)
	}
	if len(rep.Rows) == 0 {
		return nil, errors.New("peerbench's JSON has no rows")
	}
	return &rep, nil
}

// ours is the implementation under test, nil when the run has none.
func (rep *peerReport) ours() *peerImpl {
	for i := range rep.Implementations {
		if rep.Implementations[i].Ours {
			return &rep.Implementations[i]
		}
	}
	return nil
}
