package routing

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// walk follows next hops (or, per node, the alternate) from src to dst and
// fails on a loop or a dead end before dst. pick says which table and
// whether to take the alternate at each node; ok false means a node on the
// way has no route (allowed while routes settle).
func walk(t *testing.T, src, dst string, pick func(node string) (*Tables, bool)) (path []string, ok bool) {
	t.Helper()
	seen := map[string]bool{}
	for at := src; at != dst; {
		if seen[at] {
			var detail []string
			for _, x := range path {
				tab, a := pick(x)
				r, _ := tab.Route(x, dst)
				detail = append(detail, fmt.Sprintf("%s v%d alt=%v %+v", x, tab.Version, a, r))
			}
			t.Fatalf("loop from %s to %s: %v\n%s", src, dst, append(path, at), strings.Join(detail, "\n"))
		}
		seen[at] = true
		path = append(path, at)
		tab, useAlt := pick(at)
		if tab == nil {
			return path, false // a node that is gone drops it
		}
		r, _ := tab.Route(at, dst)
		next := r.NextHop
		if useAlt && r.Alternate != "" && r.AlternateStrict {
			next = r.Alternate
		}
		if next == "" {
			return path, false
		}
		at = next
	}
	return append(path, dst), true
}

// checkTables checks one version alone: no loops, every route a usable
// link, a route wherever want says a path exists (want nil: no check),
// alternates distinct from next hops and strictly closer.
func checkTables(t *testing.T, g Graph, tab *Tables, want map[[2]string]bool) {
	t.Helper()
	usable := usableLinks(g)
	for _, src := range tab.ids {
		for _, dst := range tab.ids {
			if src == dst {
				continue
			}
			r, _ := tab.Route(src, dst)
			if r.NextHop != "" && !usable[[2]string{src, r.NextHop}] {
				t.Fatalf("v%d %s->%s: next hop %s over an unusable link", tab.Version, src, dst, r.NextHop)
			}
			if r.Alternate != "" {
				d, v, a := tab.index[dst], tab.index[src], tab.index[r.Alternate]
				if r.Alternate == r.NextHop || !usable[[2]string{src, r.Alternate}] || (r.AlternateStrict && !(tab.pot[d][a] < tab.pot[d][v])) {
					t.Fatalf("v%d %s->%s: bad alternate %s (next %s, potential %v, alternate's %v)",
						tab.Version, src, dst, r.Alternate, r.NextHop, tab.pot[d][v], tab.pot[d][a])
				}
				// Either way the alternate's own route never comes back.
				path, ok := walk(t, r.Alternate, dst, func(string) (*Tables, bool) { return tab, false })
				if !ok || slices.Contains(path, src) {
					t.Fatalf("v%d %s->%s: alternate %s leads back or nowhere: %v", tab.Version, src, dst, r.Alternate, path)
				}
			}
			_, ok := walk(t, src, dst, func(string) (*Tables, bool) { return tab, false })
			if want != nil && want[[2]string{src, dst}] && !ok {
				t.Fatalf("v%d %s->%s: no route though a path exists (%s)", tab.Version, src, dst, r.Reason)
			}
			if ok && want != nil && !want[[2]string{src, dst}] {
				t.Fatalf("v%d %s->%s: a route where no path exists", tab.Version, src, dst)
			}
		}
	}
}

// checkMixes walks every pair through random mixes of the given versions,
// each node on a random one, some nodes using their alternate: no mix may
// loop.
func checkMixes(t *testing.T, versions []*Tables, rng *rand.Rand, mixes int) {
	t.Helper()
	if len(versions) == 0 {
		return
	}
	last := versions[len(versions)-1]
	for range mixes {
		choice := map[string]*Tables{}
		alt := map[string]bool{}
		for _, id := range last.ids {
			choice[id] = versions[rng.IntN(len(versions))]
			alt[id] = rng.IntN(4) == 0
		}
		pick := func(id string) (*Tables, bool) {
			tab, ok := choice[id]
			if !ok {
				return nil, false
			}
			if _, ok := tab.index[id]; !ok {
				tab = last
			}
			return tab, alt[id]
		}
		for _, src := range last.ids {
			for _, dst := range last.ids {
				if src != dst {
					walk(t, src, dst, pick)
				}
			}
		}
	}
}

func usableLinks(g Graph) map[[2]string]bool {
	c, err := compile(g, DefaultModel())
	if err != nil {
		panic(err)
	}
	out := map[[2]string]bool{}
	for u := range c.ids {
		for v := range c.ids {
			if c.cost[u][v] < inf {
				out[[2]string{c.ids[u], c.ids[v]}] = true
			}
		}
	}
	return out
}

// paths says, for every ordered pair, whether g has a usable path.
func paths(g Graph) map[[2]string]bool {
	usable := usableLinks(g)
	out := map[[2]string]bool{}
	for _, s := range g.Nodes {
		seen := map[string]bool{s.ID: true}
		queue := []string{s.ID}
		for len(queue) > 0 {
			x := queue[0]
			queue = queue[1:]
			for _, y := range g.Nodes {
				if !seen[y.ID] && usable[[2]string{x, y.ID}] {
					seen[y.ID] = true
					queue = append(queue, y.ID)
				}
			}
		}
		for id := range seen {
			if id != s.ID {
				out[[2]string{s.ID, id}] = true
			}
		}
	}
	return out
}

// randomGraph is a sparse random graph with some measured links, some
// down, some not allowed.
func randomGraph(rng *rand.Rand) Graph {
	n := 3 + rng.IntN(14)
	regions := []string{"eu", "us", "ap"}
	var g Graph
	for i := range n {
		g.Nodes = append(g.Nodes, Node{ID: string(rune('a'+i)) + "-node", Region: regions[rng.IntN(3)]})
	}
	density := 0.15 + rng.Float64()*0.6
	for _, a := range g.Nodes {
		for _, b := range g.Nodes {
			if a.ID == b.ID || rng.Float64() > density {
				continue
			}
			l := Link{From: a.ID, To: b.ID, Allowed: rng.IntN(10) != 0, Up: rng.IntN(10) != 0}
			if rng.IntN(2) == 0 {
				l.Measured = true
				l.RTTMs = 1 + rng.Float64()*200
				l.Loss = rng.Float64() * 0.1
			}
			g.Links = append(g.Links, l)
		}
	}
	return g
}

// world is a network that changes: all nodes and links ever known, and
// which nodes are alive now.
type world struct {
	nodes []Node
	links []Link
	dead  map[string]bool
}

func newWorld(g Graph) *world {
	return &world{nodes: g.Nodes, links: slices.Clone(g.Links), dead: map[string]bool{}}
}

// graph is the live part of the world.
func (w *world) graph() Graph {
	var g Graph
	for _, nd := range w.nodes {
		if !w.dead[nd.ID] {
			g.Nodes = append(g.Nodes, nd)
		}
	}
	for _, l := range w.links {
		if !w.dead[l.From] && !w.dead[l.To] {
			g.Links = append(g.Links, l)
		}
	}
	return g
}

// perturb changes the world the way a network changes: link costs drift,
// links go down and up, nodes die and come back.
func (w *world) perturb(rng *rand.Rand) {
	switch rng.IntN(8) {
	case 0: // a node dies
		if alive := len(w.nodes) - len(w.dead); alive > 2 {
			w.dead[w.nodes[rng.IntN(len(w.nodes))].ID] = true
		}
	case 1: // a node comes back
		for id := range w.dead {
			delete(w.dead, id)
			break
		}
	default:
		for range 1 + rng.IntN(3) {
			if len(w.links) == 0 {
				break
			}
			l := &w.links[rng.IntN(len(w.links))]
			switch rng.IntN(3) {
			case 0:
				l.Up = !l.Up
			default:
				l.Measured = true
				l.RTTMs = 1 + rng.Float64()*250
				l.Loss = rng.Float64() * 0.08
			}
		}
	}
}

// restrict drops the links whose ends are not both in g.
func restrict(g Graph) Graph {
	in := map[string]bool{}
	for _, nd := range g.Nodes {
		in[nd.ID] = true
	}
	var links []Link
	for _, l := range g.Links {
		if in[l.From] && in[l.To] {
			links = append(links, l)
		}
	}
	g.Links = links
	return g
}
