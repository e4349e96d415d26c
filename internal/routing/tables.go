package routing

import (
	"fmt"
	"slices"
)

// Tables are every node's routes at one version. They are immutable.
type Tables struct {
	// Version grows by one each time a next hop or an alternate changes.
	Version uint64
	// NewVersion is true when the plan that returned these tables made a
	// new version.
	NewVersion bool
	// Changes lists the next hops the new version changed or removed, with
	// why; NewRoutes counts the pairs that had no route and got one.
	Changes   []Change
	NewRoutes int
	// Held lists nodes that came back too soon after leaving: they join
	// the tables once no version that knew them before is in use.
	Held []string

	ids       []string
	index     map[string]int
	next, alt [][]int32 // [d][v]
	cost      [][]float64
	altCost   [][]float64
	altStrict [][]bool
	best      [][]float64
	pot       [][]float64 // the version's potential (path costs when it was made)
	why       [][]reason
	gone      []string
}

// Change is one route that changed between two versions.
type Change struct {
	Source, Destination string
	From, To            string // next hops; empty for none
	why                 reason
	name                func(int32) string
}

// Reason says why the route changed.
func (c Change) Reason() string { return c.why.text(c.name) }

// Route is how one node reaches one destination.
type Route struct {
	NextHop   string // empty when the destination is unreachable
	Alternate string // empty when there is none
	// AlternateStrict says Alternate is strictly closer to the destination
	// than the source (in this version and the ones before it in the
	// window): using it cannot loop whatever other nodes do. Otherwise
	// Alternate's own route avoids the source, which is loop-free while no
	// node after it repairs too.
	AlternateStrict bool
	// Cost is the path cost through NextHop (following every hop's table),
	// AlternateCost through Alternate, Best the cheapest path cost the
	// graph offers now (lower than Cost while hysteresis holds a route).
	Cost, AlternateCost, Best float64
	Reason                    string
}

// Nodes returns the node ids, sorted.
func (t *Tables) Nodes() []string { return slices.Clone(t.ids) }

// Route returns src's route to dst; ok is false when either is unknown or
// they are the same node.
func (t *Tables) Route(src, dst string) (r Route, ok bool) {
	v, okV := t.index[src]
	d, okD := t.index[dst]
	if !okV || !okD || v == d {
		return Route{}, false
	}
	r = Route{Cost: t.cost[d][v], AlternateCost: t.altCost[d][v], Best: t.best[d][v]}
	if h := t.next[d][v]; h >= 0 {
		r.NextHop = t.ids[h]
	}
	if a := t.alt[d][v]; a >= 0 {
		r.Alternate, r.AlternateStrict = t.ids[a], t.altStrict[d][v]
	}
	r.Reason = t.why[d][v].text(t.name)
	return r, true
}

// NextHop returns src's next hop towards dst ("" for none).
func (t *Tables) NextHop(src, dst string) string {
	r, _ := t.Route(src, dst)
	return r.NextHop
}

func (t *Tables) name(h int32) string {
	switch {
	case h >= 0 && int(h) < len(t.ids):
		return t.ids[h]
	case h < -1 && int(-2-h) < len(t.gone):
		return t.gone[-2-h]
	}
	return ""
}

// changes lists the next hops that differ between the current and the new
// tables, and marks the plan changed when any does.
func (p *Planner) changes(r *plan) []Change {
	var out []Change
	t := &Tables{ids: p.g.ids, gone: slices.Clone(p.gone)}
	for d := range r.n {
		if !r.colChanged[d] {
			continue
		}
		for v := range r.n {
			old, nw := p.next[d][v], p.newNext[d][v]
			if old == nw || (old < 0 && nw < 0) {
				continue
			}
			r.changed = true
			if old == -1 {
				r.newRoutes++
				continue
			}
			out = append(out, Change{
				Source: p.g.ids[v], Destination: p.g.ids[d],
				From: t.name(old), To: t.name(nw), why: p.why[d][v], name: t.name,
			})
		}
	}
	return out
}

// snapshot copies the new tables (already swapped in) for readers.
func (p *Planner) snapshot(newVersion bool, changes []Change) *Tables {
	n := len(p.g.ids)
	t := &Tables{
		Version: p.version, NewVersion: newVersion, Changes: changes,
		ids: p.g.ids, index: p.g.index, gone: slices.Clone(p.gone),
		next: newIntMatrix(n, -1), alt: newIntMatrix(n, -1),
		cost: newMatrix(n, 0), altCost: newMatrix(n, 0), best: newMatrix(n, 0), pot: newMatrix(n, 0),
		why: make([][]reason, n), altStrict: make([][]bool, n),
	}
	for d := range n {
		copy(t.next[d], p.next[d])
		copy(t.alt[d], p.alt[d])
		copy(t.cost[d], p.cur[d])
		copy(t.pot[d], p.phi[d])
		copy(t.altCost[d], p.altCost[d])
		copy(t.best[d], p.dist[d])
		t.why[d] = slices.Clone(p.why[d])
		t.altStrict[d] = slices.Clone(p.altStrict[d])
	}
	return t
}

type reasonKind uint8

const (
	reasonNone reasonKind = iota
	reasonNew
	reasonBest
	reasonKept
	reasonHeld
	reasonSwitched
	reasonRepair
	reasonRepairLeft
	reasonOrphan
	reasonNoLoopFree
	reasonNoPath
)

// reason is why a pair has its next hop, kept small; text formats it.
type reason struct {
	kind   reasonKind
	rounds uint16
	other  int32 // a candidate or the previous next hop
	cost   float64
	gain   float64 // relative
}

func (r reason) text(name func(int32) string) string {
	switch r.kind {
	case reasonNew:
		return fmt.Sprintf("new route, cheapest path (cost %.1f)", r.cost)
	case reasonBest:
		return fmt.Sprintf("cheapest loop-free path (cost %.1f)", r.cost)
	case reasonKept:
		return fmt.Sprintf("kept: via %s would save only %.0f%% (cost %.1f)", name(r.other), 100*r.gain, r.cost)
	case reasonHeld:
		return fmt.Sprintf("kept for now: via %s is %.0f%% cheaper, round %d of the hysteresis (cost %.1f)",
			name(r.other), 100*r.gain, r.rounds, r.cost)
	case reasonSwitched:
		return fmt.Sprintf("switched from %s: %.0f%% cheaper for %d rounds (cost %.1f)", name(r.other), 100*r.gain, r.rounds, r.cost)
	case reasonRepair:
		return fmt.Sprintf("repair: link to %s unusable (cost %.1f)", name(r.other), r.cost)
	case reasonRepairLeft:
		return fmt.Sprintf("repair: next hop %s left (cost %.1f)", name(r.other), r.cost)
	case reasonOrphan:
		return fmt.Sprintf("no route: next hop %s has none yet", name(r.other))
	case reasonNoLoopFree:
		return "no route yet: every next hop could loop while nodes switch versions"
	case reasonNoPath:
		return "unreachable: no path"
	}
	return ""
}
