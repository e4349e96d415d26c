package routing

import "math"

// CostModel turns a link into a cost. ok is false when the link must not
// be used. Costs are in milliseconds-like units and must be positive.
type CostModel interface {
	Cost(from, to Node, l Link) (cost float64, ok bool)
}

// Model is the default cost model.
//
// A link that is not allowed or not up is unusable. A measured link costs
//
//	HopCost + RTTMs + JitterWeight*JitterMs + LossWeight*Loss
//
// and is unusable at Loss >= MaxLoss. With the defaults (1, 2, 500, 0.5)
// a 40 ms link with 2 ms jitter and 1 % loss costs 1 + 40 + 4 + 5 = 50:
// each percent of loss weighs like 5 ms, the price of per-hop NACK and FEC
// recovery, and jitter counts twice because the receiver's jitter buffer
// grows with it. An unmeasured link (no probes yet) costs HopCost +
// SameRegion within a region and HopCost + CrossRegion across regions.
// HopCost makes a path of more hops dearer than a direct link of the same
// latency: every hop costs CPU and a queue.
type Model struct {
	SameRegion   float64 `json:"same_region"`
	CrossRegion  float64 `json:"cross_region"`
	HopCost      float64 `json:"hop_cost"`
	JitterWeight float64 `json:"jitter_weight"`
	LossWeight   float64 `json:"loss_weight"`
	MaxLoss      float64 `json:"max_loss"`
}

// DefaultModel returns the default cost model.
func DefaultModel() Model {
	return Model{SameRegion: 5, CrossRegion: 100, HopCost: 1, JitterWeight: 2, LossWeight: 500, MaxLoss: 0.5}
}

// Cost implements CostModel.
func (m Model) Cost(from, to Node, l Link) (float64, bool) {
	if !l.Allowed || !l.Up {
		return 0, false
	}
	if l.Measured {
		if bad(l.RTTMs) || bad(l.JitterMs) || bad(l.Loss) || l.Loss >= m.MaxLoss {
			return 0, false
		}
		return m.HopCost + l.RTTMs + m.JitterWeight*l.JitterMs + m.LossWeight*l.Loss, true
	}
	if from.Region == to.Region {
		return m.HopCost + m.SameRegion, true
	}
	return m.HopCost + m.CrossRegion, true
}

func bad(x float64) bool { return x < 0 || math.IsNaN(x) || math.IsInf(x, 0) }
