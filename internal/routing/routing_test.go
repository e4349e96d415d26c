package routing

import (
	"math/rand/v2"
	"testing"
)

func TestRandomGraphsLoopFreeAndComplete(t *testing.T) {
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 1))
		g := randomGraph(rng)
		p := NewPlanner(Options{})
		tab, err := p.Plan(g)
		if err != nil {
			t.Fatal(err)
		}
		// A first plan has no history: every pair with a path has a route.
		checkTables(t, g, tab, paths(g))
	}
}

// TestConvergence degrades links and kills nodes at random; after every
// change each version must be loop-free, any mix of the versions in the
// window (with alternates in use) too, and once the network holds still
// every destination with a path must become reachable within a few plans.
func TestConvergence(t *testing.T) {
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 2))
		w := newWorld(Simulated(seed, 24, 3))
		if seed%2 == 1 {
			w = newWorld(randomGraph(rng))
		}
		p := NewPlanner(Options{})
		var versions []*Tables
		keep := func(tab *Tables) {
			if len(versions) == 0 || versions[len(versions)-1].Version != tab.Version {
				versions = append(versions, tab)
			}
			if len(versions) > p.o.Window+1 {
				versions = versions[1:]
			}
		}
		for step := range 40 {
			w.perturb(rng)
			g := w.graph()
			tab, err := p.Plan(g)
			if err != nil {
				t.Fatal(err)
			}
			keep(tab)
			checkTables(t, g, tab, nil)
			checkMixes(t, versions, rng, 2)
			if step%10 != 9 {
				continue
			}
			want := paths(g)
			for i := 0; ; i++ {
				tab, err = p.Plan(g)
				if err != nil {
					t.Fatal(err)
				}
				keep(tab)
				checkMixes(t, versions, rng, 1)
				if missing := unreachable(tab, want); missing == "" {
					break
				} else if i == 30 {
					t.Fatalf("seed %d step %d: %s unreachable 30 plans after the network settled", seed, step, missing)
				}
			}
			checkTables(t, g, tab, want)
		}
	}
}

func unreachable(tab *Tables, want map[[2]string]bool) string {
	for pr := range want {
		if !routes(tab, pr[0], pr[1]) {
			r, _ := tab.Route(pr[0], pr[1])
			return pr[0] + " -> " + pr[1] + " (" + r.Reason + ")"
		}
	}
	return ""
}

func routes(tab *Tables, src, dst string) bool {
	for at, n := src, 0; n <= len(tab.ids); n++ {
		if at == dst {
			return true
		}
		if at = tab.NextHop(at, dst); at == "" {
			return false
		}
	}
	return false
}

// TestIncrementalMatchesFull replays the same changes through an
// incremental planner and one that recomputes everything: the tables must
// be identical.
func TestIncrementalMatchesFull(t *testing.T) {
	for seed := range uint64(2) {
		rng := rand.New(rand.NewPCG(seed, 3))
		w := newWorld(Simulated(seed, 30, 4))
		inc, full := NewPlanner(Options{}), NewPlanner(Options{full: true})
		for step := range 50 {
			w.perturb(rng)
			g := w.graph()
			a, err := inc.Plan(g)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := full.Plan(g)
			if a.Version != b.Version {
				t.Fatalf("seed %d step %d: versions %d and %d", seed, step, a.Version, b.Version)
			}
			for _, src := range a.ids {
				for _, dst := range a.ids {
					ra, _ := a.Route(src, dst)
					rb, _ := b.Route(src, dst)
					if ra.NextHop != rb.NextHop || ra.Alternate != rb.Alternate {
						t.Fatalf("seed %d step %d %s->%s: incremental %+v, full %+v", seed, step, src, dst, ra, rb)
					}
				}
			}
		}
	}
}

// TestSeedKeepsLoopFreedom hands a planner's tables over to a new planner
// (a new controller leader) mid-way: the new planner continues the
// version numbers and its versions mixed with the old ones stay loop-free.
func TestSeedKeepsLoopFreedom(t *testing.T) {
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 4))
		w := newWorld(Simulated(seed, 20, 3))
		old := NewPlanner(Options{})
		var last *Tables
		for range 10 {
			w.perturb(rng)
			last = mustPlan(t, old, w.graph())
		}
		pr := Prior{Version: last.Version, Routes: map[string]map[string]PriorRoute{}}
		for _, src := range last.ids {
			pr.Routes[src] = map[string]PriorRoute{}
			for _, dst := range last.ids {
				if r, ok := last.Route(src, dst); ok && r.NextHop != "" {
					pr.Routes[src][dst] = PriorRoute{NextHop: r.NextHop, Cost: r.Cost}
				}
			}
		}
		p := NewPlanner(Options{})
		p.Seed(pr)
		versions := []*Tables{last}
		for step := range 15 {
			w.perturb(rng)
			g := w.graph()
			tab := mustPlan(t, p, g)
			if tab.Version <= last.Version {
				t.Fatalf("seed %d step %d: version %d after %d", seed, step, tab.Version, last.Version)
			}
			if versions[len(versions)-1].Version != tab.Version {
				versions = append(versions, tab)
			}
			if len(versions) > p.o.Window+1 {
				versions = versions[1:]
			}
			checkTables(t, g, tab, nil)
			checkMixes(t, versions, rng, 3)
		}
	}
}
