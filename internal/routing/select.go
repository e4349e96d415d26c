package routing

// selectAll chooses the next hops of the pairs this plan must look at:
// every pair of a dirty destination or a dirty source, and the watched
// pairs (held by hysteresis, constrained by loop freedom, or unrouted).
func (p *Planner) selectAll(r *plan) {
	for d := range r.n {
		if r.distDirty[d] || r.full {
			for v := range r.n {
				p.evaluate(r, d, v)
			}
		}
	}
	for v := range r.n {
		if r.rowDirty[v] {
			for d := range r.n {
				p.evaluate(r, d, v)
			}
		}
	}
	for _, pr := range p.watch {
		p.evaluate(r, int(pr.d), int(pr.v))
	}
}

func (p *Planner) evaluate(r *plan, d, v int) {
	if d == v || p.stamp[d][v] == p.plans {
		return
	}
	p.stamp[d][v] = p.plans
	watch := p.selectNext(d, v)
	if p.newNext[d][v] != p.next[d][v] {
		r.colChanged[d] = true
	}
	if watch {
		r.watch = append(r.watch, pair{int32(d), int32(v)})
	}
}

// selectNext sets newNext[d][v] and its reason, and reports whether the
// pair must be looked at again next plan.
func (p *Planner) selectNext(d, v int) (watch bool) {
	cur := p.next[d][v]
	best, bestCost, freeCost := p.bestFeasible(d, v)
	pd := &p.pend[d][v]
	why := &p.why[d][v]
	if best < 0 {
		*pd = pending{}
		p.newNext[d][v] = -1
		if freeCost < inf {
			*why = reason{kind: reasonNoLoopFree}
			return true
		}
		*why = reason{kind: reasonNoPath}
		return false
	}
	constrained := bestCost > freeCost
	if gain := bestCost - freeCost; constrained && gain >= p.o.MinGain && gain >= p.o.Margin*bestCost {
		p.blocked = append(p.blocked, blockedPair{int32(d), int32(v), int32(p.cheapest(d, v))})
	}
	switch {
	case cur == -1:
		*pd = pending{}
		p.newNext[d][v] = int32(best)
		*why = reason{kind: reasonNew, cost: bestCost}
		return constrained
	case cur < -1:
		*pd = pending{}
		p.newNext[d][v] = int32(best)
		*why = reason{kind: reasonRepairLeft, other: cur, cost: bestCost}
		return constrained
	case !p.usable(d, v, int(cur)):
		*pd = pending{}
		p.newNext[d][v] = int32(best)
		*why = reason{kind: reasonRepair, other: cur, cost: bestCost}
		return constrained
	case int(cur) == best:
		*pd = pending{}
		*why = reason{kind: reasonBest, cost: bestCost}
		return constrained
	}
	curCost := p.g.cost[v][cur] + p.dist[d][cur]
	gain := curCost - bestCost
	if gain < p.o.MinGain || gain < p.o.Margin*curCost {
		*pd = pending{}
		*why = reason{kind: reasonKept, other: int32(best), cost: curCost, gain: gain / curCost}
		return constrained
	}
	if pd.cand == int32(best) && pd.rounds > 0 {
		pd.rounds++
	} else {
		*pd = pending{cand: int32(best), rounds: 1}
	}
	if int(pd.rounds) >= p.o.Rounds {
		*why = reason{kind: reasonSwitched, other: cur, cost: bestCost, gain: gain / curCost, rounds: pd.rounds}
		*pd = pending{}
		p.newNext[d][v] = int32(best)
		return constrained
	}
	*why = reason{kind: reasonHeld, other: int32(best), cost: curCost, gain: gain / curCost, rounds: pd.rounds}
	return true
}

// usable reports whether v can still send towards d through n.
func (p *Planner) usable(d, v, n int) bool {
	return p.g.cost[v][n] < inf && p.dist[d][n] < inf && p.feasible(d, v, n)
}

// bestFeasible returns the cheapest next hop from v towards d that keeps
// every version in the window loop-free, its path cost, and the cost of
// the cheapest next hop ignoring that condition.
func (p *Planner) bestFeasible(d, v int) (best int, bestCost, freeCost float64) {
	row, dist := p.g.cost[v], p.dist[d]
	best, bestCost, freeCost = -1, inf, inf
	for n, c := range row {
		t := c + dist[n]
		if t >= bestCost {
			continue
		}
		freeCost = min(freeCost, t)
		if !p.feasible(d, v, n) {
			continue
		}
		best, bestCost = n, t
	}
	return best, bestCost, freeCost
}

// feasible reports whether the hop v -> n (towards d) descends every
// potential in the window: in each recent version where v had a route, n's
// path cost was strictly lower than v's. Every next hop and alternate of
// every version descends the potentials of the versions before it, which
// is what keeps any mix of versions in the window loop-free.
func (p *Planner) feasible(d, v, n int) bool {
	if pv := p.phi[d][v]; pv < inf && !(p.phi[d][n] < pv) {
		return false
	}
	for _, f := range p.frozen {
		if pv := f[d][v]; pv < inf && !(f[d][n] < pv) {
			return false
		}
	}
	return true
}

// cheapest returns v's next hop towards d on the cheapest path, ignoring
// loop freedom.
func (p *Planner) cheapest(d, v int) int {
	row, dist := p.g.cost[v], p.dist[d]
	best, bestCost := -1, inf
	for n, c := range row {
		if t := c + dist[n]; t < bestCost {
			best, bestCost = n, t
		}
	}
	return best
}

// stillBlocked reports whether a blocked pair's cheapest next hop is still
// forbidden by the potentials of the window (after adoptCosts).
func (p *Planner) stillBlocked() bool {
	for _, b := range p.blocked {
		if b.n >= 0 && !p.feasible(int(b.d), int(b.v), int(b.n)) {
			return true
		}
	}
	return false
}
