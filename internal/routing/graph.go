// Package routing computes the relay's routing tables: given the nodes, the
// links allowed between them and what was measured on those links, every
// node's next hop towards every other node, a precomputed loop-free
// alternate next hop, and a version number. It is pure: a graph goes in,
// tables come out; no network, no clock, no goroutines.
//
// A Planner keeps the previous tables between calls so that routes switch
// only when a better one stays better for several rounds (hysteresis), and
// so that tables stay loop-free while nodes run different versions (see
// docs/relay.md, "Hysteresis and loop freedom").
package routing

import (
	"fmt"
	"math"
	"slices"
)

// Node is a relay node.
type Node struct {
	ID     string
	Region string
}

// Metrics is what probes measured on a link, smoothed.
type Metrics struct {
	RTTMs    float64
	Loss     float64 // 0..1
	JitterMs float64
}

// Link is the directed link From -> To (media flows that way).
type Link struct {
	From, To string
	// Allowed is false when the configuration forbids the link.
	Allowed bool
	// Up is false when the link is known dead.
	Up bool
	// Measured says Metrics hold fresh probe results; without them the
	// cost model estimates from the regions.
	Measured bool
	Metrics
}

// Graph is the input of a Planner. A pair of nodes with no Link between
// them has no link.
type Graph struct {
	Nodes []Node
	Links []Link
}

// FullMesh returns a graph where every node may reach every other node
// directly, all links up and unmeasured.
func FullMesh(nodes []Node) Graph {
	g := Graph{Nodes: nodes}
	for _, a := range nodes {
		for _, b := range nodes {
			if a.ID != b.ID {
				g.Links = append(g.Links, Link{From: a.ID, To: b.ID, Allowed: true, Up: true})
			}
		}
	}
	return g
}

// compiled is a graph as index-based matrices: ids sorted, cost[u][v] the
// cost of the link u -> v (+Inf when unusable).
type compiled struct {
	ids    []string
	index  map[string]int
	region []string
	cost   [][]float64
}

var inf = math.Inf(1)

func compile(g Graph, m CostModel) (*compiled, error) {
	n := len(g.Nodes)
	c := &compiled{ids: make([]string, 0, n), index: make(map[string]int, n), region: make([]string, n)}
	nodes := slices.Clone(g.Nodes)
	slices.SortFunc(nodes, func(a, b Node) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	for i, nd := range nodes {
		if nd.ID == "" {
			return nil, fmt.Errorf("%w: empty node id", ErrBadGraph)
		}
		if _, dup := c.index[nd.ID]; dup {
			return nil, fmt.Errorf("%w: node %q listed twice", ErrBadGraph, nd.ID)
		}
		c.index[nd.ID] = i
		c.ids = append(c.ids, nd.ID)
		c.region[i] = nd.Region
	}
	c.cost = newMatrix(n, inf)
	lastFrom, u, okU := "", 0, false // links usually come grouped by From
	for _, l := range g.Links {
		if l.From != lastFrom || lastFrom == "" {
			lastFrom = l.From
			u, okU = c.index[l.From]
		}
		v, okV := c.index[l.To]
		if !okU || !okV {
			return nil, fmt.Errorf("%w: link %s -> %s names an unknown node", ErrBadGraph, l.From, l.To)
		}
		if u == v {
			continue
		}
		w, ok := m.Cost(nodes[u], nodes[v], l)
		if !ok || !(w > 0) || math.IsInf(w, 0) || math.IsNaN(w) {
			continue
		}
		c.cost[u][v] = max(w, minCost)
	}
	return c, nil
}

// minCost keeps every usable link's cost positive, which loop freedom
// relies on.
const minCost = 1e-3

func newMatrix(n int, fill float64) [][]float64 {
	backing := make([]float64, n*n)
	for i := range backing {
		backing[i] = fill
	}
	m := make([][]float64, n)
	for i := range m {
		m[i] = backing[i*n : (i+1)*n : (i+1)*n]
	}
	return m
}

func newIntMatrix(n int, fill int32) [][]int32 {
	backing := make([]int32, n*n)
	for i := range backing {
		backing[i] = fill
	}
	m := make([][]int32, n)
	for i := range m {
		m[i] = backing[i*n : (i+1)*n : (i+1)*n]
	}
	return m
}

func copyMatrix(dst, src [][]float64) {
	for i := range src {
		copy(dst[i], src[i])
	}
}
