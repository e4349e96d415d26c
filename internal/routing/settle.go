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
// watched pairs.
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

func (p *Planner) evaluateAlt(r *plan, d, v int) {
	if d == v || p.stamp[d][v] == p.plans {
		return
	}
	p.stamp[d][v] = p.plans
	a, cost, strict, watch := p.selectAlt(d, v)
	p.newAlt[d][v] = a
	p.altCost[d][v] = cost
	if a != p.alt[d][v] || (a >= 0 && strict != p.altStrict[d][v]) {
		r.changed = true
	}
	p.altStrict[d][v] = strict
	if watch && p.newNext[d][v] >= 0 {
		r.watch = append(r.watch, pair{int32(d), int32(v)})
	}
}

// selectAlt returns v's alternate next hop towards d: a neighbour other
// than the next hop whose path cost in the new version is strictly lower
// than v's (so a packet sent there never comes back) and that descends the
// window's potentials too. It prefers one whose path avoids the next hop
// (it then survives the next hop's death, not only the link's), then the
// cheapest; the previous alternate is kept while it is as good a kind.
// watch is true when a better candidate was refused for loop freedom or no
// path-avoiding one exists.
func (p *Planner) selectAlt(d, v int) (alt int32, cost float64, strict, watch bool) {
	nh := p.newNext[d][v]
	if nh < 0 {
		return -1, inf, false, false
	}
	pv, phi, row := p.newPhi[d][v], p.newPhi[d], p.g.cost[v]
	bestP, bestL := int32(-1), int32(-1) // path-avoiding, link-only
	costP, costL := inf, inf
	for a, c := range row {
		if c == inf || int32(a) == nh || !(phi[a] < pv) {
			continue
		}
		t := c + phi[a]
		if t >= costP {
			continue // a cheaper path-avoiding one is known
		}
		protect := int(nh) == d || !p.ancestor(d, nh, int32(a))
		if protect && t < costP {
			if !p.feasible(d, v, a) {
				watch = true
				continue
			}
			bestP, costP = int32(a), t
		} else if !protect && t < costL {
			if !p.feasible(d, v, a) {
				watch = true
				continue
			}
			bestL, costL = int32(a), t
		}
	}
	if bestP < 0 {
		watch = true
	}
	best, bestCost := bestP, costP
	if best < 0 {
		best, bestCost = bestL, costL
	}
	if best < 0 {
		a, cost := p.selectWeakAlt(d, v)
		return a, cost, false, true
	}
	if prev := p.alt[d][v]; prev >= 0 && prev != best && p.altValid(d, v, prev, bestP >= 0) {
		return prev, row[prev] + phi[prev], true, watch
	}
	return best, bestCost, true, watch
}

// selectWeakAlt is the fallback when no neighbour is strictly closer to d
// than v (common in a full mesh, where v's direct link is its best path):
// a neighbour whose own route to d avoids v (so it never sends the packet
// straight back), preferably avoiding v's next hop too. Such an alternate
// is loop-free while it is the only repair on the path; the relay's hop
// limit bounds the rest.
func (p *Planner) selectWeakAlt(d, v int) (int32, float64) {
	nh := p.newNext[d][v]
	phi, row := p.newPhi[d], p.g.cost[v]
	bestP, bestL := int32(-1), int32(-1)
	costP, costL := inf, inf
	for a, c := range row {
		t := c + phi[a]
		if int32(a) == nh || t == inf || p.ancestor(d, int32(v), int32(a)) {
			continue
		}
		if int(nh) == d || !p.ancestor(d, nh, int32(a)) {
			if t < costP {
				bestP, costP = int32(a), t
			}
		} else if t < costL {
			bestL, costL = int32(a), t
		}
	}
	if bestP >= 0 {
		return bestP, costP
	}
	return bestL, costL
}

// altValid reports whether a is still an acceptable alternate for v
// towards d; protecting demands that its path avoid the next hop.
func (p *Planner) altValid(d, v int, a int32, protecting bool) bool {
	nh := p.newNext[d][v]
	if a == nh || p.g.cost[v][a] == inf || !(p.newPhi[d][a] < p.newPhi[d][v]) || !p.feasible(d, v, int(a)) {
		return false
	}
	return !protecting || int(nh) == d || !p.ancestor(d, nh, a)
}
