package client

// Subtract removes the counts of o, an earlier snapshot (see Merge) of the
// same histogram, from h, leaving what was recorded in between. Max then
// becomes the lower bound of the highest bucket still counted.
func (h *Histogram) Subtract(o *Histogram) {
	highest := -1
	for i := range h.counts {
		c, oc := h.counts[i].Load(), o.counts[i].Load()
		oc = min(oc, c)
		h.counts[i].Store(c - oc)
		if c-oc > 0 {
			highest = i
		}
	}
	h.total.Store(h.total.Load() - min(o.total.Load(), h.total.Load()))
	h.max.Store(0)
	if highest >= 0 {
		h.max.Store(histLower(highest))
	}
}
