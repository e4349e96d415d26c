package routing

// settleColumn walks destination d's new tree (each node's parent is its
// next hop): it computes the path cost of every node along its next hops
// (the new version's potential) and the DFS interval of every node, for
// ancestor tests. A node whose next hops do not lead to d loses its route.
func (p *Planner) settleColumn(r *plan, d int) {
	n := r.n
	nx, phi := p.newNext[d], p.newPhi[d]
	tin, tout := p.tin[d], p.tout[d]
	s := &p.scratch
	for i := range n {
		s.head[i] = -1
		phi[i] = inf
		tin[i], tout[i] = -1, -1
	}
	for v := n - 1; v >= 0; v-- {
		if par := nx[v]; v != d && par >= 0 {
			s.sib[v] = s.head[par]
			s.head[par] = int32(v)
		}
	}
	phi[d] = 0
	clock := int32(0)
	tin[d] = clock
	clock++
	s.stack = append(s.stack[:0], int32(d))
	s.pos[d] = s.head[d]
	for len(s.stack) > 0 {
		x := s.stack[len(s.stack)-1]
		c := s.pos[x]
		if c < 0 {
			tout[x] = clock
			clock++
			s.stack = s.stack[:len(s.stack)-1]
			continue
		}
		s.pos[x] = s.sib[c]
		phi[c] = p.g.cost[c][x] + phi[x]
		tin[c] = clock
		clock++
		s.pos[c] = s.head[c]
		s.stack = append(s.stack, c)
	}
	for v := range n {
		if v != d && nx[v] >= 0 && tin[v] < 0 {
			// Its next hop lost its route (or, defensively, a cycle).
			p.why[d][v] = reason{kind: reasonOrphan, other: nx[v]}
			p.pend[d][v] = pending{}
			nx[v] = -1
			r.watch = append(r.watch, pair{int32(d), int32(v)})
		}
	}
}

// ancestor reports whether a lies on b's path to d in the new tree (b
// itself included).
func (p *Planner) ancestor(d int, a, b int32) bool {
	tin, tout := p.tin[d], p.tout[d]
	return tin[a] >= 0 && tin[b] >= 0 && tin[a] <= tin[b] && tout[b] <= tout[a]
}

// alternates chooses the alternate next hops of every pair whose
// destination's tree changed or whose source's links changed, and of the
// routed pairs that have none.
func (p *Planner) alternates(r *plan) {
	p.plans++ // a second stamp for this pass
	for d := range r.n {
		if r.colChanged[d] {
			for v := range r.n {
				p.evaluateAlt(r, d, v)
			}
		}
	}
	for v := range r.n {
		if r.rowDirty[v] {
			for d := range r.n {
				p.evaluateAlt(r, d, v)
			}
		}
	}
	for _, pr := range p.watch {
		p.evaluateAlt(r, int(pr.d), int(pr.v))
	}
	// The routes-changed pass appended to r.watch; keep it for next plan.
	for _, pr := range r.watch {
		p.evaluateAlt(r, int(pr.d), int(pr.v))
	}
}

// evaluateAlt keeps a pair's alternate while it stays valid (so that link
// noise does not churn versions) and chooses a new one otherwise.
func (p *Planner) evaluateAlt(r *plan, d, v int) {
	if d == v || p.stamp[d][v] == p.plans {
		return
	}
	p.stamp[d][v] = p.plans
	nh, prev := p.newNext[d][v], p.alt[d][v]
	if prev >= 0 && nh == p.next[d][v] && p.keepAlt(d, v, prev, p.altStrict[d][v]) {
		p.newAlt[d][v] = prev
		p.altCost[d][v] = p.g.cost[v][prev] + p.newPhi[d][prev]
		return
	}
	a, cost, strict := p.selectAlt(d, v)
	p.newAlt[d][v], p.altCost[d][v] = a, cost
	if a != prev || (a >= 0 && strict != p.altStrict[d][v]) {
		r.changed = true
	}
	p.altStrict[d][v] = strict
	if a < 0 && nh >= 0 {
		r.watch = append(r.watch, pair{int32(d), int32(v)})
	}
}

// keepAlt reports whether a, v's alternate towards d in the current
// version, is still one: its link usable, it still routed, and either
// strict (strictly lower in the current version's potential, which only
// follows the costs while that stays true: see adoptCosts) or its route
// avoiding v.
func (p *Planner) keepAlt(d, v int, a int32, strict bool) bool {
	if a == p.newNext[d][v] || p.g.cost[v][a] == inf || p.newPhi[d][a] == inf {
		return false
	}
	return strict || !p.ancestor(d, int32(v), a)
}

// revalidateAlts runs before a new version is made: alternates kept as
// strict must be strictly lower in the new version's path costs too; one
// that is not becomes weak when its route avoids the source, and is chosen
// again otherwise.
func (p *Planner) revalidateAlts(r *plan) {
	for d := range r.n {
		alt, phi := p.newAlt[d], p.newPhi[d]
		for v, a := range alt {
			if a < 0 || !p.altStrict[d][v] || phi[a] < phi[v] {
				continue
			}
			if !p.ancestor(d, int32(v), a) {
				p.altStrict[d][v] = false
				continue
			}
			alt[v], p.altCost[d][v], p.altStrict[d][v] = p.selectAlt(d, v)
		}
	}
}

// selectAlt returns v's alternate next hop towards d, in one pass over
// v's neighbours other than the next hop:
//
//   - strict: its path cost in the new version is strictly lower than v's
//     (so a packet sent there never comes back) and it descends the
//     window's potentials too;
//   - otherwise, when no neighbour is strict (common in a full mesh, where
//     v's direct link is its best path), weak: its own route to d avoids v,
//     so it never hands the packet straight back. A weak alternate is
//     loop-free while it is the only repair on the path; the relay's hop
//     limit bounds the rest.
//
// Within a kind it prefers one whose path avoids the next hop (it then
// survives the next hop's death, not only the link's), then the cheapest.
func (p *Planner) selectAlt(d, v int) (alt int32, cost float64, strict bool) {
	nh := p.newNext[d][v]
	if nh < 0 {
		return -1, inf, false
	}
	pv, phi, row := p.newPhi[d][v], p.newPhi[d], p.g.cost[v]
	// strict path-avoiding, strict link-only, weak path-avoiding, weak link-only
	best := [4]int32{-1, -1, -1, -1}
	costs := [4]float64{inf, inf, inf, inf}
	for a, c := range row {
		t := c + phi[a]
		if int32(a) == nh || t == inf || t >= costs[0] {
			continue // t >= costs[0]: a cheaper strict path-avoiding one is known
		}
		k := 0
		if int(nh) != d && p.ancestor(d, nh, int32(a)) {
			k = 1
		}
		if phi[a] < pv && t < costs[k] && p.feasible(d, v, a) {
			best[k], costs[k] = int32(a), t
			continue
		}
		if best[0] < 0 && best[1] < 0 && t < costs[k+2] && !p.ancestor(d, int32(v), int32(a)) {
			best[k+2], costs[k+2] = int32(a), t
		}
	}
	for k := range best {
		if best[k] >= 0 {
			return best[k], costs[k], k < 2
		}
	}
	return -1, inf, false
}
