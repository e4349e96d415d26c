package routing

// Options tune a Planner. Zero values take the defaults.
type Options struct {
	// Model prices links; default DefaultModel().
	Model CostModel
	// A route through another next hop replaces the current one only when
	// it is cheaper by at least Margin of the current cost (default 0.1)
	// and by at least MinGain (default 5), in Rounds consecutive plans
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
		o.MinGain = 5
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
	phi       [][]float64 // the current version's potential: path costs when it was made
	cur       [][]float64 // path costs along the current next hops now
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
	seeded bool
	// renumber: the next plan makes a new version (Renumber).
	renumber bool
	// blocked lists the pairs whose cheapest next hop was, in this plan,
	// clearly cheaper (by the hysteresis gain) than every loop-free one.
	// If the potentials of the window still forbid it once the current
	// version's potential followed the measured costs, a new version (same
	// routes) moves the window on, as for an unrouted pair.
	blocked []blockedPair
	// blockedBumps counts the versions made in a row for blocked pairs;
	// after Window of them every potential of the window is fresh, and
	// more versions would not help.
	blockedBumps int
	scratch      scratch
}

type pair struct{ d, v int32 }

// blockedPair is v's cheapest next hop n towards d, not loop-free yet.
type blockedPair struct{ d, v, n int32 }

type pending struct {
	cand   int32
	rounds uint16
}

type scratch struct {
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

// Renumber makes the next plan a new version numbered above v, even if
// nothing changes: the controller calls it when a node runs a version the
// planner has not made (the bus lost the stored tables and their version,
// and nodes apply only versions above the one they run).
func (p *Planner) Renumber(v uint64) {
	if v > p.version {
		p.version, p.renumber = v, true
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

// Plan computes the tables for g. When a next hop or an alternate changed
// they get a new version (Tables.NewVersion); otherwise they keep the
// version, with fresh costs and reasons. Node joins and leaves and links
// becoming unusable take effect at once; cheaper routes only through
// hysteresis. Each call is one round of the hysteresis.
func (p *Planner) Plan(g Graph) (*Tables, error) {
	g, held := p.holdBack(g)
	c, err := compile(g, p.o.Model)
	if err != nil {
		return nil, err
	}
	r := p.prepare(c)
	p.plans++
	p.blocked = p.blocked[:0]
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
	if !r.changed && (p.unrouted() || len(held) > 0 || p.renumber) {
		// Nothing changed, but a node waits for loop freedom or a node
		// is held back: a new version (same routes) moves the window on.
		// Or the caller asked for a new number.
		r.changed = true
	}
	p.renumber = false
	if !r.changed {
		p.adoptCosts()
		if !p.stillBlocked() {
			p.blockedBumps = 0
		} else if p.blockedBumps < p.o.Window {
			// A clearly cheaper route waits for potentials of the
			// window: a new version (same routes) moves the window on.
			p.blockedBumps++
			r.changed = true
		}
	} else {
		p.blockedBumps = 0
	}
	if r.changed {
		p.revalidateAlts(r)
		p.bump()
	}
	p.cur, p.newPhi = p.newPhi, p.cur
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

// bump makes the new tables the current version: the potential of the
// version before joins the window and the new path costs become the new
// version's potential.
func (p *Planner) bump() {
	p.version++
	w := p.o.Window - 1
	var spare [][]float64
	if w == 0 {
		spare = p.phi
	} else {
		if len(p.frozen) == w {
			spare = p.frozen[w-1]
			p.frozen = p.frozen[:w-1]
		}
		p.frozen = append([][][]float64{p.phi}, p.frozen...)
	}
	if spare == nil {
		spare = newMatrix(len(p.newPhi), inf)
	}
	copyMatrix(spare, p.newPhi)
	p.phi = spare
}

// adoptCosts lets the current version's potential follow the link costs
// while the version lasts: for each destination, the current path costs
// replace it when every strict alternate is still strictly lower under
// them (along next hops they always fall). Without this, a version made
// before probes measured anything would keep constraining new routes with
// its region estimates until something else made a new version.
func (p *Planner) adoptCosts() {
	for d := range p.phi {
		fresh, alt, strict := p.newPhi[d], p.newAlt[d], p.altStrict[d]
		ok := true
		for v, a := range alt {
			if a >= 0 && strict[v] && !(fresh[a] < fresh[v]) {
				ok = false
				break
			}
		}
		if ok {
			copy(p.phi[d], fresh)
		}
	}
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
		copy(p.newPhi[d], p.cur[d])
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
// reversed links; the graphs are dense, so no heap: the nodes not yet
// settled are kept in a list that shrinks as they settle.
func (p *Planner) dijkstra(d int) {
	dist := p.dist[d]
	for i := range dist {
		dist[i] = inf
	}
	dist[d] = 0
	open := p.scratch.stack[:0]
	for i := range dist {
		open = append(open, int32(i))
	}
	for len(open) > 0 {
		k, bx := -1, inf
		for j, i := range open {
			if di := dist[i]; di < bx {
				k, bx = j, di
			}
		}
		if k < 0 {
			break // the rest cannot reach d
		}
		x := open[k]
		open[k] = open[len(open)-1]
		open = open[:len(open)-1]
		in := p.ct[x]
		for _, u := range open {
			if t := in[u] + bx; t < dist[u] {
				dist[u] = t
			}
		}
	}
	p.scratch.stack = open[:0]
}
