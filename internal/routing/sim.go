package routing

import (
	"fmt"
	"math/rand/v2"
)

// Simulated returns a seeded random topology of n nodes spread round-robin
// over the given number of regions ("r0", "r1", ...), for tests and
// benchmarks: every pair of nodes linked both ways and measured; RTTs of
// 1-10 ms within a region and 40-250 ms across (a base per region pair,
// plus up to 10 % per link); jitter up to 5 % of the RTT; one link in 10
// asymmetric (one direction up to 60 % dearer), one in 20 lossy (1-10 %
// loss), one cross-region pair in 20 not allowed. The same seed gives the
// same graph.
func Simulated(seed uint64, n, regions int) Graph {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	nodes := make([]Node, n)
	for i := range nodes {
		r := i % regions
		nodes[i] = Node{ID: fmt.Sprintf("sfu-r%d-%03d", r, i), Region: fmt.Sprintf("r%d", r)}
	}
	base := make([][]float64, regions)
	for a := range base {
		base[a] = make([]float64, regions)
	}
	for a := range regions {
		for b := a + 1; b < regions; b++ {
			base[a][b] = 40 + rng.Float64()*190
			base[b][a] = base[a][b]
		}
	}
	g := Graph{Nodes: nodes, Links: make([]Link, 0, n*(n-1))}
	for i := range n {
		for j := i + 1; j < n; j++ {
			ri, rj := i%regions, j%regions
			rtt := 1 + rng.Float64()*9
			allowed := true
			if ri != rj {
				rtt = min(250, base[ri][rj]*(1+rng.Float64()*0.1))
				allowed = rng.IntN(20) != 0
			}
			ab := Link{From: nodes[i].ID, To: nodes[j].ID, Allowed: allowed, Up: true, Measured: true,
				Metrics: Metrics{RTTMs: rtt, JitterMs: rtt * 0.05 * rng.Float64()}}
			ba := ab
			ba.From, ba.To = ab.To, ab.From
			ba.JitterMs = rtt * 0.05 * rng.Float64()
			if rng.IntN(10) == 0 {
				ba.RTTMs = rtt * (1 + 0.6*rng.Float64())
			}
			if rng.IntN(20) == 0 {
				ab.Loss = 0.01 + 0.09*rng.Float64()
			}
			g.Links = append(g.Links, ab, ba)
		}
	}
	return g
}
