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
	BestGoPeer string `json:"best_go_peer"`
	Error      string `json:"error"`
}

// figure is what the row is compared by: ops per second, or RSS per idle
// connection; 0 when the row has none.
func (r *peerRow) figure() float64 {
	switch {
	case r == nil || r.Error != "":
		return 0
	case r.Family == familyIdle:
		if r.Idle == nil {
			return 0
		}
		return r.Idle.RSSPerConn
	}
	return r.OpsPerSec
}

// The case families, as the driver names them.
const (
	familyEcho     = "echo"
	familyHTTP     = "http"
	familyIdle     = "idle"
	familyConnRate = "connrate"
)

var families = []string{familyEcho, familyHTTP, familyIdle, familyConnRate}

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
