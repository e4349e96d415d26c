package sfu

import (
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
)

// TestRepairChoice: the table sends eu -> ap through us, alternate sa.
// With us down the node uses sa; with sa down too, the direct link; with
// every link down, the table's next hop (nothing better); as links come
// back it returns to the table. Each repair is counted by what it used.
func TestRepairChoice(t *testing.T) {
	n, _ := benchRelayNode("sfu-eu")
	r := n.relay
	now := time.Now()
	for _, id := range []string{"sfu-us", "sfu-sa", "sfu-ap"} {
		r.observe(bus.NodeInfo{ID: id, RelayAddr: "127.0.0.1:9"}, now)
	}
	r.setRoutes(bus.NodeRoutes{Version: 1, Node: "sfu-eu", Routes: map[string]bus.Route{
		"sfu-ap": {NextHop: "sfu-us", Alternate: "sfu-sa"},
		"sfu-us": {NextHop: "sfu-us", Alternate: "sfu-sa"},
	}})
	count := func(via string) uint64 { return testutilCounter(r.rep.repairs.WithLabelValues(via)) }
	steps := []struct {
		peer          string
		up            bool
		ap, us        string
		alt, dir, non uint64
	}{
		{"sfu-us", false, "sfu-sa", "sfu-sa", 2, 0, 0}, // primary down -> alternate (both routes)
		{"sfu-sa", false, "sfu-ap", "sfu-us", 2, 1, 1}, // alternate down too -> direct; us has none
		{"sfu-ap", false, "sfu-us", "sfu-us", 2, 1, 2}, // everything down: the table's hop
		{"sfu-ap", true, "sfu-ap", "sfu-us", 2, 2, 2},  // direct back
		{"sfu-us", true, "sfu-us", "sfu-us", 2, 2, 2},  // primary back -> primary
	}
	for i, s := range steps {
		r.linkState(s.peer, s.up)
		if got := r.nextHop("sfu-ap"); got != s.ap {
			t.Fatalf("step %d (%s up=%v): next hop to ap %s, want %s", i, s.peer, s.up, got, s.ap)
		}
		if got := r.nextHop("sfu-us"); got != s.us {
			t.Fatalf("step %d (%s up=%v): next hop to us %s, want %s", i, s.peer, s.up, got, s.us)
		}
		if a, d, x := count(repairAlternate), count(repairDirect), count(repairNone); a != s.alt || d != s.dir || x != s.non {
			t.Fatalf("step %d: repairs alternate %d direct %d none %d, want %d %d %d", i, a, d, x, s.alt, s.dir, s.non)
		}
	}
	if got := gatheredRepaired(t, n); got != 0 {
		t.Fatalf("%v routes still repaired with every link up", got)
	}
}

// TestRepairNewTable: a table that arrives while a link is down is
// followed; a repair applies to it only if its own next hop is down.
func TestRepairNewTable(t *testing.T) {
	n, _ := benchRelayNode("sfu-eu")
	r := n.relay
	r.observe(bus.NodeInfo{ID: "sfu-ap", RelayAddr: "127.0.0.1:9"}, time.Now())
	r.setRoutes(bus.NodeRoutes{Version: 1, Node: "sfu-eu", Routes: map[string]bus.Route{
		"sfu-ap": {NextHop: "sfu-us", Alternate: "sfu-sa", AlternateStrict: true}}})
	r.linkState("sfu-us", false)
	if got := r.nextHop("sfu-ap"); got != "sfu-sa" {
		t.Fatalf("repair: next hop %s, want sfu-sa", got)
	}
	if got := gatheredRepaired(t, n); got != 1 {
		t.Fatalf("repaired routes gauge %v, want 1", got)
	}
	// The controller settles: ap through sa, which the node now follows.
	r.setRoutes(bus.NodeRoutes{Version: 2, Node: "sfu-eu", Routes: map[string]bus.Route{
		"sfu-ap": {NextHop: "sfu-sa", Alternate: "sfu-ap"}}})
	if got := r.nextHop("sfu-ap"); got != "sfu-sa" {
		t.Fatalf("new table: next hop %s, want sfu-sa", got)
	}
	if got := gatheredRepaired(t, n); got != 0 {
		t.Fatalf("repaired routes gauge %v after the new table, want 0", got)
	}
	// A table still pointing at the dead link is repaired at once.
	r.setRoutes(bus.NodeRoutes{Version: 3, Node: "sfu-eu", Routes: map[string]bus.Route{
		"sfu-ap": {NextHop: "sfu-us"}}})
	if got := r.nextHop("sfu-ap"); got != "sfu-ap" {
		t.Fatalf("table through the dead link: next hop %s, want the direct link", got)
	}
}

// TestRepairNoAllocs: the per-packet lookup allocates nothing, repaired
// or not.
func TestRepairNoAllocs(t *testing.T) {
	n, _ := benchRelayNode("sfu-eu")
	r := n.relay
	r.setRoutes(bus.NodeRoutes{Version: 1, Node: "sfu-eu", Routes: map[string]bus.Route{
		"sfu-ap": {NextHop: "sfu-us", Alternate: "sfu-sa"}}})
	for _, down := range []bool{false, true} {
		if down {
			r.linkState("sfu-us", false)
		}
		want := map[bool]string{false: "sfu-us", true: "sfu-sa"}[down]
		var got string
		if a := testing.AllocsPerRun(1000, func() { got = r.nextHop("sfu-ap") }); a != 0 {
			t.Fatalf("nextHop allocates %v per call (down=%v)", a, down)
		}
		if got != want {
			t.Fatalf("next hop %s, want %s", got, want)
		}
	}
}

// gatheredRepaired reads the repaired-routes gauge from the registry.
func gatheredRepaired(t *testing.T, n *Node) float64 {
	t.Helper()
	mfs, err := n.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "rtcloud_sfu_relay_repaired_routes" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no rtcloud_sfu_relay_repaired_routes")
	return 0
}

// arrivalCount is how many packets p received on mid, without copying.
func arrivalCount(p *testPeer, mid string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.streams[mid]; s != nil {
		return len(s.arrivals)
	}
	return 0
}

// gapWatch samples p's arrivals on mid every 5 ms on its own goroutine
// and keeps the longest time without a new packet; stop ends it and
// returns that gap.
func gapWatch(p *testPeer, mid string) (stop func() time.Duration) {
	var longest time.Duration
	last, lastAt := arrivalCount(p, mid), time.Now()
	stopTick := every(5*time.Millisecond, func(uint32) {
		now := time.Now()
		if n := arrivalCount(p, mid); n != last {
			last, lastAt = n, now
			return
		}
		longest = max(longest, now.Sub(lastAt))
	})
	return func() time.Duration { stopTick(); return longest }
}

// TestRepairMiddleNodeDies: media flows eu -> us -> ap (the tables forbid
// the direct link, whose alternate it is). The middle node dies: its relay
// socket and its bus connection close at once and it never answers again.
// With no controller to settle the tables, only eu's and ap's local
// repair can bring the media back: it resumes at the subscriber on ap over
// the direct link, and eu counted the repair.
func TestRepairMiddleNodeDies(t *testing.T) {
	envs := newCluster(t, "eu", "us", "ap")
	eu, us, ap := envs[0], envs[1], envs[2]
	tables := map[string]map[string]bus.Route{
		"sfu-eu": {"sfu-us": {NextHop: "sfu-us", Alternate: "sfu-ap"}, "sfu-ap": {NextHop: "sfu-us", Alternate: "sfu-ap"}},
		"sfu-us": {"sfu-eu": {NextHop: "sfu-eu"}, "sfu-ap": {NextHop: "sfu-ap"}},
		"sfu-ap": {"sfu-us": {NextHop: "sfu-us", Alternate: "sfu-eu"}, "sfu-eu": {NextHop: "sfu-us", Alternate: "sfu-eu"}},
	}
	for node, routes := range tables {
		if err := eu.bus.Publish(bus.NodeRoutesSubject(node), bus.NodeRoutes{Version: 1, Node: node, Routes: routes}); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range envs {
		waitFor(t, 5*time.Second, "routes applied", func() bool { return e.node.relay.routesVersion() == 1 })
	}
	const room = "repair"
	senders, infos := publishAV(t, eu, "pub", room)
	stop := pump(senders)
	defer stop()
	sub, mids := subscribeAll(t, ap, "sub-ap", room, infos)
	waitFor(t, 15*time.Second, "media at ap", received(sub, 30, mids...))
	transit0 := testutilCounter(us.node.relay.forwarded)
	waitFor(t, 5*time.Second, "media through us", func() bool {
		return testutilCounter(us.node.relay.forwarded) > transit0+20
	})

	direct0 := eu.link("sfu-ap").PacketsOut
	watch := gapWatch(sub, mids[0])
	atKill := arrivalCount(sub, mids[0])
	_ = us.node.relay.t.Close()
	go us.bus.Close()
	waitFor(t, 5*time.Second, "eu repairs its route to ap", func() bool {
		return testutilCounter(eu.node.relay.rep.repairs.WithLabelValues(repairAlternate)) > 0
	})
	if got := eu.node.relay.nextHop("sfu-ap"); got != "sfu-ap" {
		t.Fatalf("eu's next hop to ap after us died: %s, want the alternate sfu-ap", got)
	}
	waitFor(t, 5*time.Second, "media resumes at ap", func() bool {
		return arrivalCount(sub, mids[0]) > atKill+100
	})
	waitFor(t, 5*time.Second, "video resumes at ap", received(sub, len(sub.stream(mids[1]).seqs)+50, mids[1]))
	gap := watch()
	direct := eu.link("sfu-ap").PacketsOut - direct0
	t.Logf("middle node died: longest audio gap at the subscriber %v; eu -> ap direct carried %d packets", gap.Round(time.Millisecond), direct)
	if direct < 100 {
		t.Fatalf("eu -> ap carried %d packets after the repair", direct)
	}
	waitFor(t, 5*time.Second, "ap repairs its route to eu (feedback)", func() bool {
		return ap.node.relay.nextHop("sfu-eu") == "sfu-eu"
	})
}

// TestRepairDirectOnlyWhereAllowed: relay.links forbids eu <-> ap, so with
// the next hop us down and no alternate, the node keeps the table's hop
// rather than use the forbidden direct link; a full mesh allows it.
func TestRepairDirectOnlyWhereAllowed(t *testing.T) {
	for _, c := range []struct {
		links [][]string
		want  string
	}{{[][]string{{"eu", "us"}, {"us", "ap"}}, "sfu-us"}, {nil, "sfu-ap"}} {
		n, _ := benchRelayNode("sfu-eu")
		n.cfg.Region = "eu"
		r := n.relay
		r.rep.links.Links = c.links
		r.observe(bus.NodeInfo{ID: "sfu-ap", Region: "ap", RelayAddr: "127.0.0.1:9"}, time.Now())
		r.observe(bus.NodeInfo{ID: "sfu-us", Region: "us", RelayAddr: "127.0.0.1:10"}, time.Now())
		r.setRoutes(bus.NodeRoutes{Version: 1, Node: "sfu-eu", Routes: map[string]bus.Route{"sfu-ap": {NextHop: "sfu-us"}}})
		r.linkState("sfu-us", false)
		if got := r.nextHop("sfu-ap"); got != c.want {
			t.Fatalf("links %v: next hop to ap with us down %s, want %s", c.links, got, c.want)
		}
	}
}
