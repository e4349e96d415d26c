package routing

// Options tune a Planner. Zero values take the defaults.
type Options struct {
	// Model prices links; default DefaultModel().
	Model CostModel
	// A route through another next hop replaces the current one only when
	// it is cheaper by at least Margin of the current cost (default 0.1)
	// and by at least MinGain (default 2), in Rounds consecutive plans
	// (default 3). A next hop that became unusable is replaced at once.
	Margin  float64
	MinGain float64
	Rounds  int
	// Window is how many versions a node may lag behind the newest while
	// the mix of tables in use stays loop-free (default 2).
	Window int

	// full recomputes everything on every plan (tests compare it with the
	// incremental path).
	full bool
}

func (o *Options) defaults() {
	if o.Model == nil {
		o.Model = DefaultModel()
	}
	if o.Margin <= 0 {
		o.Margin = 0.1
	}
	if o.MinGain <= 0 {
		o.MinGain = 2
	}
	if o.Rounds <= 0 {
		o.Rounds = 3
	}
	if o.Window <= 0 {
		o.Window = 2
	}
}

// Planner turns successive graphs into successive versions of the routing
// tables. It is not safe for concurrent use; the Tables it returns are
// immutable and may be shared.
//
// Matrices are indexed [destination][source] so that one destination's
// column is contiguous.
type Planner struct {
	o Options
	g *compiled
	// ct[x][u] is the cost of the link u -> x (g.cost transposed).
	ct   [][]float64
	dist [][]float64 // dist[d][v]: cheapest path cost from v to d now

	next, alt [][]int32   // the current version; -1 none, < -1 a node that left
	phi       [][]float64 // path cost along next: the current version's potential
	altCost   [][]float64
	altStrict [][]bool      // the alternate is strictly closer to the destination
	frozen    [][][]float64 // potentials of the Window-1 versions before, newest first
	tin, tout [][]int32     // DFS intervals of each destination's tree
	pend      [][]pending
	why       [][]reason
	watch     []pair // pairs evaluated every plan: held, constrained or unrouted
	gone      []string

	newNext, newAlt [][]int32
	newPhi          [][]float64
	stamp           [][]uint32 // plan number that last evaluated a pair
	plans           uint32
	version         uint64
	// left records, for nodes that left, the first version without them.
	left map[string]uint64
	// seeded: the current tables came from Seed; the next plan is full.
	seeded  bool
	scratch scratch
}

type pair struct{ d, v int32 }

type pending struct {
	cand   int32
	rounds uint16
}

type scratch struct {
	done       []bool
	head, sib  []int32
	stack, pos []int32
}

// NewPlanner returns a Planner with no tables yet.
func NewPlanner(o Options) *Planner {
	o.defaults()
	return &Planner{o: o}
}

// StartAt makes the first tables' version v+1, so that a planner taking
// over from another (a new controller leader) continues its numbering. It
// has no effect once the planner made tables.
func (p *Planner) StartAt(v uint64) {
	if p.g == nil {
		p.version = v
	}
}

// Version is the version of the newest tables (0 before the first plan).
func (p *Planner) Version() uint64 { return p.version }

// plan is the work of one Plan call.
type plan struct {
	n          int
	full       bool
	distDirty  []bool // destinations whose shortest paths may have changed
	rowDirty   []bool // sources one of whose links changed
	colChanged []bool // destinations whose next hops or path costs changed
	changed    bool   // a next hop or an alternate changed: new version
	newRoutes  int
	watch      []pair
}

// Plan computes the tables for g. It returns the previous tables' content
// under a new version number when anything changed, else the same version
// with fresh costs and reasons. Node joins and leaves and links becoming
// unusable take effect at once; cheaper routes only through hysteresis.
func (p *Planner) Plan(g Graph) (*Tables, error) {
	g, held := p.holdBack(g)
	c, err := compile(g, p.o.Model)
	if err != nil {
		return nil, err
	}
	r := p.prepare(c)
	p.plans++
	for d := range r.n {
		if r.distDirty[d] {
			p.dijkstra(d)
		}
	}
	p.selectAll(r)
	for d := range r.n {
		if r.colChanged[d] {
			p.settleColumn(r, d)
		}
	}
	p.alternates(r)
	changes := p.changes(r)
	p.watch = r.watch
	if !r.changed && (p.unrouted() || len(held) > 0) {
		// Nothing changed, but some node waits for loop freedom: a new
		// version (same routes) moves the window on so it can get one.
		r.changed = true
	}
	if r.changed {
		p.bump()
	} else {
		p.phi, p.newPhi = p.newPhi, p.phi
	}
	p.next, p.newNext = p.newNext, p.next
	p.alt, p.newAlt = p.newAlt, p.alt
	t := p.snapshot(r.changed, changes)
	t.Held, t.NewRoutes = held, r.newRoutes
	return t, nil
}

// holdBack removes from g the nodes that left less than Window versions
// ago: versions that still route through them may be in use, and their
// old potentials are gone, so they rejoin once those versions are out of
// the window (each plan meanwhile makes a new version).
func (p *Planner) holdBack(g Graph) (Graph, []string) {
	if p.left == nil {
		p.left = map[string]uint64{}
	}
	for id, v := range p.left {
		if p.version+1 >= v+uint64(p.o.Window) {
			delete(p.left, id)
		}
	}
	if len(p.left) == 0 {
		return g, nil
	}
	var held []string
	out := Graph{Nodes: make([]Node, 0, len(g.Nodes)), Links: make([]Link, 0, len(g.Links))}
	for _, nd := range g.Nodes {
		if _, ok := p.left[nd.ID]; ok {
			held = append(held, nd.ID)
			continue
		}
		out.Nodes = append(out.Nodes, nd)
	}
	if len(held) == 0 {
		return g, nil
	}
	for _, l := range g.Links {
		_, a := p.left[l.From]
		_, b := p.left[l.To]
		if !a && !b {
			out.Links = append(out.Links, l)
		}
	}
	return out, held
}

// unrouted reports whether a watched pair has a path but no route yet.
func (p *Planner) unrouted() bool {
	for _, pr := range p.watch {
		if p.newNext[pr.d][pr.v] < 0 {
			return true
		}
	}
	return false
}

// bump makes the new tables the current version and shifts the window of
// older potentials.
func (p *Planner) bump() {
	p.version++
	w := p.o.Window - 1
	old := p.phi
	if w == 0 {
		p.phi, p.newPhi = p.newPhi, old
		return
	}
	var spare [][]float64
	if len(p.frozen) == w {
		spare = p.frozen[w-1]
		p.frozen = p.frozen[:w-1]
	}
	p.frozen = append([][][]float64{old}, p.frozen...)
	p.phi = p.newPhi
	if spare == nil {
		spare = newMatrix(len(old), inf)
	}
	p.newPhi = spare
}

// prepare installs the compiled graph and finds what must be recomputed.
func (p *Planner) prepare(c *compiled) *plan {
	n := len(c.ids)
	r := &plan{n: n, distDirty: make([]bool, n), rowDirty: make([]bool, n), colChanged: make([]bool, n)}
	if p.g == nil || !equalIDs(p.g.ids, c.ids) {
		p.remap(c)
		r.full = true
		r.changed = true
	} else {
		r.full = p.o.full || p.seeded || !p.diff(c, r)
	}
	p.seeded = false
	p.g = c
	p.ct = transpose(c.cost, p.ct)
	if r.full {
		for i := range n {
			r.distDirty[i], r.rowDirty[i], r.colChanged[i] = true, true, true
		}
	}
	for d := range n {
		copy(p.newNext[d], p.next[d])
		copy(p.newAlt[d], p.alt[d])
		copy(p.newPhi[d], p.phi[d])
	}
	return r
}

// diff marks what the link changes between the last graph and c affect,
// and reports false when too much changed to be worth doing incrementally.
func (p *Planner) diff(c *compiled, r *plan) bool {
	n, changes := r.n, 0
	for u := range n {
		oldRow, newRow := p.g.cost[u], c.cost[u]
		for w := range n {
			if oldRow[w] == newRow[w] {
				continue
			}
			if changes++; changes > n {
				return false
			}
			p.linkChanged(r, u, w, oldRow[w], newRow[w])
		}
	}
	return true
}

// linkChanged marks the destinations whose shortest paths or table paths
// the change of the link u -> w from old to cost may affect.
func (p *Planner) linkChanged(r *plan, u, w int, old, cost float64) {
	r.rowDirty[u] = true
	for d := range r.n {
		du, dw := p.dist[d][u], p.dist[d][w]
		tight := old < inf && dw < inf && nearlyEqual(old+dw, du)
		better := cost < inf && dw < inf && cost+dw < du
		if (tight && cost > old) || better {
			r.distDirty[d], r.colChanged[d] = true, true
		}
		if p.next[d][u] == int32(w) {
			r.colChanged[d] = true
		}
	}
}

func nearlyEqual(a, b float64) bool {
	diff := a - b
	if diff < 0 {
		diff = -diff
	}
	return diff <= 1e-9*max(1, a, b)
}

func equalIDs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func transpose(m, into [][]float64) [][]float64 {
	n := len(m)
	if len(into) != n {
		into = newMatrix(n, inf)
	}
	for u := range n {
		for v := range n {
			into[v][u] = m[u][v]
		}
	}
	return into
}

// dijkstra computes every node's cheapest path cost to d over the
// reversed links; the graphs are dense, so no heap.
func (p *Planner) dijkstra(d int) {
	dist := p.dist[d]
	for i := range dist {
		dist[i] = inf
	}
	dist[d] = 0
	done := p.scratch.done
	clear(done)
	for {
		x, bx := -1, inf
		for i, di := range dist {
			if di < bx && !done[i] {
				x, bx = i, di
			}
		}
		if x < 0 {
			return
		}
		done[x] = true
		for u, c := range p.ct[x] {
			if t := c + bx; t < dist[u] {
				dist[u] = t
			}
		}
	}
}
