package routing

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// triangle: a -> c directly (RTT ac) or through b (30 + 30 ms).
func triangle(ac float64, acUp bool) Graph {
	nodes := []Node{{"a", "eu"}, {"b", "us"}, {"c", "ap"}}
	g := FullMesh(nodes)
	for i := range g.Links {
		l := &g.Links[i]
		l.Measured, l.RTTMs = true, 30
		if (l.From == "a" && l.To == "c") || (l.From == "c" && l.To == "a") {
			l.RTTMs, l.Up = ac, acUp
		}
	}
	return g
}

func mustPlan(t *testing.T, p *Planner, g Graph) *Tables {
	t.Helper()
	tab, err := p.Plan(g)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestHysteresisSwitchesAfterRounds(t *testing.T) {
	p := NewPlanner(Options{Rounds: 3})
	tab := mustPlan(t, p, triangle(50, true))
	if got := tab.NextHop("a", "c"); got != "c" {
		t.Fatalf("direct 50 ms vs 60 ms through b: next hop %q, want c", got)
	}
	v := tab.Version
	for round := 1; round <= 2; round++ {
		tab = mustPlan(t, p, triangle(100, true))
		r, _ := tab.Route("a", "c")
		if r.NextHop != "c" || tab.Version != v {
			t.Fatalf("round %d: next hop %q version %d, want c still at version %d", round, r.NextHop, tab.Version, v)
		}
		if !strings.Contains(r.Reason, "hysteresis") || r.Best >= r.Cost {
			t.Fatalf("round %d: reason %q best %v cost %v", round, r.Reason, r.Best, r.Cost)
		}
	}
	tab = mustPlan(t, p, triangle(100, true))
	r, _ := tab.Route("a", "c")
	if r.NextHop != "b" || tab.Version != v+1 || len(tab.Changes) == 0 {
		t.Fatalf("round 3: next hop %q version %d changes %v, want b at version %d", r.NextHop, tab.Version, tab.Changes, v+1)
	}
	if !strings.Contains(r.Reason, "switched") {
		t.Fatalf("reason %q", r.Reason)
	}
}

func TestHysteresisNoFlapping(t *testing.T) {
	p := NewPlanner(Options{Rounds: 3})
	v := mustPlan(t, p, triangle(50, true)).Version
	for i := range 20 {
		ac := 50.0
		if i%2 == 0 {
			ac = 100 // better through b every other round only
		}
		tab := mustPlan(t, p, triangle(ac, true))
		if tab.NextHop("a", "c") != "c" || tab.Version != v {
			t.Fatalf("round %d: route flapped to %q (version %d)", i, tab.NextHop("a", "c"), tab.Version)
		}
	}
	// A gain under the margin never switches.
	for i := range 10 {
		tab := mustPlan(t, p, triangle(64, true))
		if tab.NextHop("a", "c") != "c" {
			t.Fatalf("round %d: switched for a 5%% gain", i)
		}
	}
}

func TestTopologyChangesApplyAtOnce(t *testing.T) {
	p := NewPlanner(Options{})
	tab := mustPlan(t, p, triangle(50, true))
	v := tab.Version
	tab = mustPlan(t, p, triangle(50, false))
	r, _ := tab.Route("a", "c")
	if r.NextHop != "b" || tab.Version != v+1 || !strings.Contains(r.Reason, "repair") {
		t.Fatalf("link down: %+v version %d", r, tab.Version)
	}
	// b leaves: a must go direct again at once, though the link is worse.
	g := triangle(200, true)
	g.Nodes = g.Nodes[:0:0]
	g.Nodes = append(g.Nodes, Node{"a", "eu"}, Node{"c", "ap"})
	g = restrict(g)
	tab = mustPlan(t, p, g)
	r, _ = tab.Route("a", "c")
	if r.NextHop != "c" || !strings.Contains(r.Reason, "left") {
		t.Fatalf("b left: %+v", r)
	}
	if _, ok := tab.Route("a", "b"); ok {
		t.Fatal("route to a node that left")
	}
}

func TestRegionCostsAndAllowedLinks(t *testing.T) {
	nodes := []Node{{"sfu-eu-1", "eu"}, {"sfu-eu-2", "eu"}, {"sfu-us-1", "us"}, {"sfu-ap-1", "ap"}}
	g := FullMesh(nodes)
	for i := range g.Links {
		l := &g.Links[i]
		if (l.From == "sfu-eu-1" || l.From == "sfu-eu-2") && l.To == "sfu-ap-1" ||
			l.From == "sfu-ap-1" && (l.To == "sfu-eu-1" || l.To == "sfu-eu-2") {
			l.Allowed = false
		}
	}
	tab := mustPlan(t, NewPlanner(Options{}), g)
	for _, c := range []struct {
		src, dst, next, alt string
		strict              bool
	}{
		// eu-2 reaches ap through us too, but not through eu-1.
		{"sfu-eu-1", "sfu-ap-1", "sfu-us-1", "sfu-eu-2", false},
		{"sfu-ap-1", "sfu-eu-2", "sfu-us-1", "", false},
		{"sfu-eu-1", "sfu-us-1", "sfu-us-1", "sfu-eu-2", false},
		{"sfu-eu-1", "sfu-eu-2", "sfu-eu-2", "sfu-us-1", false},
		// eu-1 is strictly closer to eu-2 than us is.
		{"sfu-us-1", "sfu-eu-2", "sfu-eu-2", "sfu-eu-1", true},
	} {
		r, _ := tab.Route(c.src, c.dst)
		if r.NextHop != c.next || r.Alternate != c.alt || r.AlternateStrict != c.strict {
			t.Errorf("%s -> %s: %+v, want next %s alternate %q strict %v", c.src, c.dst, r, c.next, c.alt, c.strict)
		}
	}
	if r, _ := tab.Route("sfu-eu-1", "sfu-ap-1"); r.Cost != 2*101 {
		t.Errorf("eu -> ap through us costs %v, want 202", r.Cost)
	}
}

func TestSmallAndBadGraphs(t *testing.T) {
	p := NewPlanner(Options{})
	for _, g := range []Graph{{}, {Nodes: []Node{{ID: "a"}}}, FullMesh([]Node{{ID: "a"}, {ID: "b"}}), {}} {
		tab := mustPlan(t, p, g)
		checkTables(t, g, tab, paths(g))
	}
	for _, g := range []Graph{
		{Nodes: []Node{{ID: "a"}, {ID: "a"}}},
		{Nodes: []Node{{ID: ""}}},
		{Nodes: []Node{{ID: "a"}}, Links: []Link{{From: "a", To: "b", Allowed: true, Up: true}}},
	} {
		if _, err := NewPlanner(Options{}).Plan(g); !errors.Is(err, ErrBadGraph) {
			t.Fatalf("%+v: err %v", g, err)
		}
	}
}

// TestNoVersionsFromNoise: link costs that wobble by a few percent (probe
// noise) change neither next hops nor alternates, so no new version.
func TestNoVersionsFromNoise(t *testing.T) {
	g := Simulated(7, 40, 4)
	base := make([]float64, len(g.Links))
	for i, l := range g.Links {
		base[i] = l.RTTMs
	}
	p := NewPlanner(Options{})
	v := mustPlan(t, p, g).Version
	rng := rand.New(rand.NewPCG(7, 7))
	for round := range 30 {
		for i := range g.Links {
			g.Links[i].RTTMs = base[i] * (0.97 + 0.06*rng.Float64())
		}
		if tab := mustPlan(t, p, g); tab.Version != v {
			t.Fatalf("round %d: version %d after %d from noise alone; changes %v", round, tab.Version, v, tab.Changes)
		}
	}
}

// TestMeasurementsReplaceRegionEstimates: tables made from region
// estimates (every cross-region path equal) must not keep constraining
// routes once probes measure the links: the cheaper transit path is taken
// after the hysteresis rounds, without anything else changing.
func TestMeasurementsReplaceRegionEstimates(t *testing.T) {
	p := NewPlanner(Options{Rounds: 3})
	est := FullMesh([]Node{{"a", "eu"}, {"b", "us"}, {"c", "ap"}})
	if got := mustPlan(t, p, est).NextHop("a", "c"); got != "c" {
		t.Fatalf("estimated: next hop %q", got)
	}
	// Round 1 still runs under the estimates' potential (b was no closer
	// to c than a); from then on the measured costs count.
	for round := 1; round <= 4; round++ {
		tab := mustPlan(t, p, triangle(150, true))
		if got := tab.NextHop("a", "c"); round < 4 && got != "c" || round == 4 && got != "b" {
			r, _ := tab.Route("a", "c")
			t.Fatalf("measured round %d: %+v", round, r)
		}
	}
}
