package routing

import (
	"math/rand/v2"
	"testing"
)

// TestBlockedRouteMovesTheWindow: in version 1, a is closer to c than b
// (a-c 1 ms, b-c 2 ms) and b's strict alternate towards c is a. Then a-c
// slows to 150 ms. Going through b is clearly cheaper, but version 1's
// potential says b is farther from c than a, and it cannot follow the
// measured costs (b's strict alternate would point uphill). With nothing
// else changing, the planner makes new versions (same routes) until that
// potential leaves the window, and a switches to b after the hysteresis.
func TestBlockedRouteMovesTheWindow(t *testing.T) {
	rtt := func(ac float64) Graph {
		g := FullMesh([]Node{{"a", "eu"}, {"b", "us"}, {"c", "ap"}})
		for i := range g.Links {
			l := &g.Links[i]
			l.Measured, l.RTTMs = true, 2
			if (l.From == "a" && l.To == "c") || (l.From == "c" && l.To == "a") {
				l.RTTMs = ac
			}
		}
		return g
	}
	p := NewPlanner(Options{Rounds: 3})
	tab := mustPlan(t, p, rtt(1))
	if got := tab.NextHop("a", "c"); got != "c" {
		t.Fatalf("a -> c via %q, want direct", got)
	}
	if r, _ := tab.Route("b", "c"); r.Alternate != "a" || !r.AlternateStrict {
		t.Fatalf("b -> c: %+v, want the strict alternate a", r)
	}
	versions := []*Tables{tab}
	for round := 1; ; round++ {
		tab = mustPlan(t, p, rtt(150))
		checkTables(t, rtt(150), tab, nil)
		if tab.NewVersion {
			versions = append(versions, tab)
		}
		// Nodes run any of the versions in the window (Window+1).
		checkMixes(t, versions[max(0, len(versions)-3):], rand.New(rand.NewPCG(uint64(round), 9)), 50)
		if tab.NextHop("a", "c") == "b" {
			t.Logf("a -> c through b after %d rounds, version %d", round, tab.Version)
			break
		}
		if round == 10 {
			r, _ := tab.Route("a", "c")
			t.Fatalf("a -> c still %+v after %d rounds", r, round)
		}
	}
}
