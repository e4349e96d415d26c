package routing

import "slices"

// Prior is a version of the tables made by another planner (the previous
// controller leader), read back from where it was published.
type Prior struct {
	Version uint64
	// Routes[src][dst] is src's route towards dst.
	Routes map[string]map[string]PriorRoute
}

// PriorRoute is one route of a Prior: the next hop and the path cost
// through it.
type PriorRoute struct {
	NextHop string
	Cost    float64
}

// Seed makes pr the current version, so that the next plan keeps routes
// (hysteresis starts afresh) and stays loop-free with nodes still running
// pr: new next hops must descend pr's path costs. It has no effect once
// the planner made tables. A destination whose published costs do not
// descend along its next hops (a leader that died while publishing) is
// constrained by hop counts instead.
func (p *Planner) Seed(pr Prior) {
	if p.g != nil {
		return
	}
	var ids []string
	for src, routes := range pr.Routes {
		ids = append(ids, src)
		for dst, r := range routes {
			ids = append(ids, dst)
			if r.NextHop != "" {
				ids = append(ids, r.NextHop)
			}
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	n := len(ids)
	c := &compiled{ids: ids, index: make(map[string]int, n), region: make([]string, n), cost: newMatrix(n, inf)}
	for i, id := range ids {
		c.index[id] = i
	}
	p.version = pr.Version
	p.remap(c)
	p.g = c
	p.seeded = true
	p.left = map[string]uint64{}
	for src, routes := range pr.Routes {
		v := c.index[src]
		for dst, r := range routes {
			d := c.index[dst]
			if h, ok := c.index[r.NextHop]; ok && d != v && h != v && r.Cost > 0 {
				p.next[d][v], p.phi[d][v] = int32(h), r.Cost
			}
		}
	}
	for d := range n {
		p.phi[d][d] = 0
		p.seedColumn(d)
		copy(p.cur[d], p.phi[d])
	}
}

// seedColumn checks that destination d's seeded costs descend along the
// next hops, and replaces them with hop counts where they do not. Nodes
// whose next hops do not lead to d lose their route.
func (p *Planner) seedColumn(d int) {
	nx, phi := p.next[d], p.phi[d]
	depth := make([]float64, len(nx))
	ok := true
	for v := range nx {
		hops, at := 0, v
		for at != d && at >= 0 && hops <= len(nx) {
			at, hops = int(nx[at]), hops+1
		}
		if at != d {
			nx[v], phi[v], depth[v] = -1, inf, inf
			continue
		}
		depth[v] = float64(hops)
		if h := nx[v]; h >= 0 && !(phi[h] < phi[v]) {
			ok = false
		}
	}
	if !ok {
		copy(phi, depth)
	}
}
