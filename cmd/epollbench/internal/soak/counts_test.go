package soak

import (
	"reflect"
	"testing"

	"github.com/eventpoll/eventpoll/server"
)

func TestAddCountsSumsCountersKeepsTheLargestMaxAndMergesMaps(t *testing.T) {
	tot := ClientCounts{Conns: 2, NeverReadMax: 9, ByBehaviour: map[string]int64{"echo": 1}}
	addCounts(&tot, ClientCounts{Conns: 3, Lost: 1, NeverReadMax: 4, ByBehaviour: map[string]int64{"echo": 2, "burst": 5}})
	want := ClientCounts{Conns: 5, Lost: 1, NeverReadMax: 9, ByBehaviour: map[string]int64{"echo": 3, "burst": 5}}
	if !reflect.DeepEqual(tot, want) {
		t.Errorf("totals %+v, want %+v", tot, want)
	}
}

// A server's counters reach the totals however deep they sit: the causes
// of closing and the loop's own counters included.
func TestAddCountsReachesNestedServerCounters(t *testing.T) {
	var tot server.LoopStats
	one := server.LoopStats{Accepted: 4, Panics: 1}
	one.Closed.Peer, one.Loop.Events, one.Loop.Wakeups = 2, 10, 3
	addCounts(&tot, one)
	addCounts(&tot, one)
	if tot.Accepted != 8 || tot.Panics != 2 || tot.Closed.Peer != 4 || tot.Loop.Events != 20 || tot.Loop.Wakeups != 6 {
		t.Errorf("totals %+v, want every counter of both", tot)
	}
}
