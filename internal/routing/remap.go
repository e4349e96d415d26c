package routing

// remap carries the current tables over to a new set of nodes: entries of
// nodes that left are dropped (a next hop that left is remembered, so the
// replacement says why), nodes that joined start without routes.
func (p *Planner) remap(c *compiled) {
	n := len(c.ids)
	from := make([]int, n) // new index -> old index, -1 for a new node
	oldN := 0
	var oldIDs []string
	if p.g != nil {
		oldIDs = p.g.ids
		oldN = len(oldIDs)
	}
	oldIndex := make(map[string]int, oldN)
	for i, id := range oldIDs {
		oldIndex[id] = i
	}
	to := make([]int32, oldN) // old index -> new index, -1 when gone
	for i := range to {
		to[i] = -1
	}
	if p.left == nil {
		p.left = map[string]uint64{}
	}
	for i, id := range c.ids {
		from[i] = -1
		if o, ok := oldIndex[id]; ok {
			from[i] = o
			to[o] = int32(i)
		}
	}
	for o, id := range oldIDs {
		if to[o] < 0 {
			p.left[id] = p.version + 1 // remap always makes a new version
		}
	}
	p.gone = p.gone[:0]
	mapHop := func(h int32) int32 {
		switch {
		case h < 0:
			return -1
		case to[h] >= 0:
			return to[h]
		}
		p.gone = append(p.gone, oldIDs[h])
		return -2 - int32(len(p.gone)-1)
	}
	p.next = remapHops(p.next, from, mapHop)
	p.alt = remapHops(p.alt, from, func(h int32) int32 { return max(-1, mapHopKeep(h, to)) })
	p.phi = remapFloats(p.phi, from)
	p.cur = remapFloats(p.cur, from)
	p.altCost = remapFloats(p.altCost, from)
	for i := range p.frozen {
		p.frozen[i] = remapFloats(p.frozen[i], from)
	}
	p.dist = newMatrix(n, inf)
	p.newNext, p.newAlt, p.newPhi = newIntMatrix(n, -1), newIntMatrix(n, -1), newMatrix(n, inf)
	p.tin, p.tout = newIntMatrix(n, 0), newIntMatrix(n, 0)
	p.pend = make([][]pending, n)
	p.why = make([][]reason, n)
	p.altStrict = make([][]bool, n)
	p.stamp = make([][]uint32, n)
	for d := range n {
		p.pend[d] = make([]pending, n)
		p.why[d] = make([]reason, n)
		p.altStrict[d] = make([]bool, n)
		p.stamp[d] = make([]uint32, n)
	}
	p.watch = nil
	p.scratch = scratch{
		head: make([]int32, n), sib: make([]int32, n),
		stack: make([]int32, 0, n), pos: make([]int32, n),
	}
}

func mapHopKeep(h int32, to []int32) int32 {
	if h < 0 {
		return -1
	}
	return to[h]
}

func remapHops(m [][]int32, from []int, hop func(int32) int32) [][]int32 {
	n := len(from)
	out := newIntMatrix(n, -1)
	for d := range n {
		od := from[d]
		if od < 0 {
			continue
		}
		for v := range n {
			if ov := from[v]; ov >= 0 {
				out[d][v] = hop(m[od][ov])
			}
		}
	}
	return out
}

func remapFloats(m [][]float64, from []int) [][]float64 {
	n := len(from)
	out := newMatrix(n, inf)
	for d := range n {
		od := from[d]
		if od < 0 {
			continue
		}
		for v := range n {
			if ov := from[v]; ov >= 0 {
				out[d][v] = m[od][ov]
			}
		}
	}
	return out
}
