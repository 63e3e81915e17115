//go:build race

package peers_test

// raceEnabled: the race detector is on (see TestEveryServer...: nbio's HTTP
// engine races by the detector's reckoning).
const raceEnabled = true
