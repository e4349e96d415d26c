package controller

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/routing"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

// FuzzLinkReport feeds arbitrary bytes as a link report from node "a": a
// report either fails the checks or builds a graph the planner accepts,
// with no link cost that is not a positive number.
func FuzzLinkReport(f *testing.F) {
	good, _ := json.Marshal(bus.LinkReport{NodeID: "a", Links: []bus.LinkSample{{Peer: "b", RTTMs: 12, Loss: 0.01, JitterMs: 1, Up: true}}})
	f.Add(good)
	f.Add([]byte(`{"node_id":"a","links":[{"peer":"a","rtt_ms":1}]}`))
	f.Add([]byte(`{"node_id":"b","links":[]}`))
	f.Add([]byte(`{"node_id":"a","links":[{"peer":"b","rtt_ms":-1,"loss":2}]}`))
	f.Add([]byte(`{"node_id":"a","links":[{"peer":"b","rtt_ms":1e308,"up":true},{"peer":"b"}]}`))
	nodes := []bus.NodeInfo{{ID: "a", Region: "eu", RelayAddr: "x"}, {ID: "b", Region: "us", RelayAddr: "x"}, {ID: "c", Region: "ap", RelayAddr: "x"}}
	model := routing.DefaultModel()
	f.Fuzz(func(t *testing.T, data []byte) {
		var rep bus.LinkReport
		if json.Unmarshal(data, &rep) != nil || checkReport("a", rep) != nil {
			return
		}
		rr := receivedReport{rep: rep, at: time.Now(), peers: map[string]bus.LinkSample{}}
		for _, l := range rep.Links {
			rr.peers[l.Peer] = l
		}
		g, links := buildGraph(append([]bus.NodeInfo(nil), nodes...), map[string]receivedReport{"a": rr}, config.DefaultRelay(), model, time.Now(), true)
		for _, l := range links {
			if l.Cost != nil && (!(*l.Cost > 0) || math.IsInf(*l.Cost, 0)) {
				t.Fatalf("link %s -> %s costs %v", l.From, l.To, *l.Cost)
			}
		}
		if _, err := routing.NewPlanner(routing.Options{}).Plan(g); err != nil {
			t.Fatal(err)
		}
	})
}

func TestLinkUpNeedsBothEnds(t *testing.T) {
	nodes := []bus.NodeInfo{{ID: "a", Region: "eu", RelayAddr: "x"}, {ID: "b", Region: "us", RelayAddr: "x"}, {ID: "c", Region: "ap", RelayAddr: "x"}}
	now := time.Now()
	report := func(id string, at time.Time, s ...bus.LinkSample) receivedReport {
		rr := receivedReport{rep: bus.LinkReport{NodeID: id, Links: s}, at: at, peers: map[string]bus.LinkSample{}}
		for _, l := range s {
			rr.peers[l.Peer] = l
		}
		return rr
	}
	state := func(reports map[string]receivedReport, from, to string) LinkStatus {
		_, links := buildGraph(append([]bus.NodeInfo(nil), nodes...), reports, config.DefaultRelay(), routing.DefaultModel(), now, true)
		for _, l := range links {
			if l.From == from && l.To == to {
				return l
			}
		}
		t.Fatalf("no link %s -> %s", from, to)
		return LinkStatus{}
	}
	// Nobody probes: links are up, priced from the regions.
	if l := state(nil, "a", "b"); l.State != LinkUnmeasured || *l.Cost != 101 {
		t.Fatalf("no reports: %+v", l)
	}
	// a lies that a-b is up and fast; b says it is down: down.
	liar := map[string]receivedReport{
		"a": report("a", now, bus.LinkSample{Peer: "b", RTTMs: 1, Up: true}),
		"b": report("b", now, bus.LinkSample{Peer: "a", Up: false}),
	}
	if l := state(liar, "a", "b"); l.State != LinkDown || l.Cost != nil {
		t.Fatalf("liar: %+v", l)
	}
	// Both up: the worse of the two RTTs counts.
	both := map[string]receivedReport{
		"a": report("a", now, bus.LinkSample{Peer: "b", RTTMs: 1, Up: true}),
		"b": report("b", now, bus.LinkSample{Peer: "a", RTTMs: 40, Up: true}),
	}
	if l := state(both, "a", "b"); l.State != LinkUp || l.RTTMs != 40 || *l.Cost != 41 {
		t.Fatalf("both up: %+v", l)
	}
	// b's report is stale: only a's counts; a probes but has no sample of
	// c: a -> c is down until a measures it.
	stale := map[string]receivedReport{
		"a": report("a", now, bus.LinkSample{Peer: "b", RTTMs: 30, Up: true}),
		"b": report("b", now.Add(-time.Minute), bus.LinkSample{Peer: "a", Up: false}),
	}
	if l := state(stale, "a", "b"); l.State != LinkUp || l.RTTMs != 30 {
		t.Fatalf("stale peer report: %+v", l)
	}
	if l := state(stale, "a", "c"); l.State != LinkDown {
		t.Fatalf("unmeasured peer of a probing node: %+v", l)
	}
}

func TestNewVersionWaitsForNodes(t *testing.T) {
	r := newRouter(&Controller{log: testenv.Logger()}, config.DefaultRelay(), nil)
	r.planner = routing.NewPlanner(routing.Options{})
	r.planner.StartAt(4)
	if _, err := r.planner.Plan(routing.FullMesh([]routing.Node{{ID: "a"}, {ID: "b"}})); err != nil {
		t.Fatal(err)
	}
	r.lastPublish = time.Now()
	nodes := []bus.NodeInfo{{ID: "a"}, {ID: "b"}}
	r.reports["a"] = receivedReport{rep: bus.LinkReport{NodeID: "a", RoutesVersion: 4}, at: time.Now()}
	r.reports["b"] = receivedReport{rep: bus.LinkReport{NodeID: "b"}, at: time.Now()}
	if r.settled(r.behind(nodes)) {
		t.Fatal("a still runs version 4 of 5, yet a new version may be made")
	}
	r.reports["a"] = receivedReport{rep: bus.LinkReport{NodeID: "a", RoutesVersion: 5}, at: time.Now()}
	if !r.settled(r.behind(nodes)) {
		t.Fatal("every reporting node runs version 5, yet no new version may be made")
	}
	r.reports["a"] = receivedReport{rep: bus.LinkReport{NodeID: "a", RoutesVersion: 4}, at: time.Now()}
	r.lastPublish = time.Now().Add(-2 * r.cfg.RouteInterval)
	if !r.settled(r.behind(nodes)) {
		t.Fatal("a lagging node holds versions back longer than the route interval")
	}
}
