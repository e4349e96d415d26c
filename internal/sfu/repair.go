package sfu

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
)

// Fast local repair: while the link to a route's next hop is down (the
// transport heard nothing from the peer for relay.Config.DownAfter), the
// node sends towards that destination over the route's precomputed
// alternate, or over the direct link, without waiting for the controller.
// The repairs are computed when a link changes state or a table arrives,
// never per packet: the packet path reads one atomically swapped snapshot.
// See docs/relay.md "Fast local repair".

// How a route is repaired (label "via" of the repairs counter).
const (
	repairAlternate = "alternate" // the route's precomputed alternate
	repairDirect    = "direct"    // the direct link to the destination
	repairNone      = "none"      // nothing usable: stay on the table's next hop
)

// repairSet is the repairs in force for one routing table: destination ->
// the hop used instead of the table's next hop ("" when no repair was
// possible; the table's next hop is kept).
type repairSet struct {
	table *bus.NodeRoutes
	hops  map[string]string
}

// repairState is the relay node's fast local repair.
type repairState struct {
	mu      sync.Mutex // serialises update
	set     atomic.Pointer[repairSet]
	repairs *prometheus.CounterVec
	links   config.Relay // the allowed links (relay.links), for the direct fallback
}

// initRepair registers the repair metrics; newRelayNode calls it.
func (r *relayNode) initRepair(labels prometheus.Labels) {
	r.rep.set.Store(&repairSet{})
	r.rep.repairs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rtcloud_sfu_relay_repairs_total", ConstLabels: labels,
		Help: "Routes the node repaired locally because the link to their next hop went down, by what it used instead (alternate, direct, none).",
	}, []string{"via"})
	for _, via := range []string{repairAlternate, repairDirect, repairNone} {
		r.rep.repairs.WithLabelValues(via)
	}
	r.n.metrics.Registry.MustRegister(r.rep.repairs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "rtcloud_sfu_relay_repaired_routes", ConstLabels: labels,
		Help: "Routes currently sent over a local repair instead of the routing table's next hop.",
	}, func() float64 {
		n := 0
		for _, h := range r.rep.set.Load().hops {
			if h != "" {
				n++
			}
		}
		return float64(n)
	}))
}

// repaired returns the hop that replaces the next hop of table rt towards
// dest, if a repair is in force. It runs per packet: no allocation.
func (r *relayNode) repaired(rt *bus.NodeRoutes, dest string) (string, bool) {
	s := r.rep.set.Load()
	if s.table != rt || len(s.hops) == 0 {
		return "", false
	}
	h, ok := s.hops[dest]
	return h, ok && h != ""
}

// repairHop chooses what replaces route's next hop towards dest when the
// peers in down are down: the alternate if its link is up, else the
// direct link if the destination is a relay peer whose link is up and
// allowed (isPeer), else
// nothing (via repairNone). It returns "" and no via while the next hop
// is up.
func repairHop(dest string, route bus.Route, down map[string]bool, isPeer func(string) bool) (hop, via string) {
	if route.NextHop == "" || !down[route.NextHop] {
		return "", ""
	}
	if a := route.Alternate; a != "" && a != route.NextHop && !down[a] {
		return a, repairAlternate
	}
	if dest != route.NextHop && !down[dest] && isPeer(dest) {
		return dest, repairDirect
	}
	return "", repairNone
}

// updateRepairs recomputes the repairs from the table in use and the
// link states, logs and counts each repair that starts or ends, and
// publishes the new set. why says what triggered it (for the logs).
// Callers re-plan the relay outputs afterwards.
func (r *relayNode) updateRepairs(why string) {
	r.rep.mu.Lock()
	defer r.rep.mu.Unlock()
	rt := r.routes.Load()
	old := r.rep.set.Load()
	next := &repairSet{table: rt}
	if rt != nil {
		down := *r.down.Load()
		r.mu.Lock()
		peers := make(map[string]bool, len(r.peers))
		for id, p := range r.peers {
			peers[id] = p.addr.IsValid() && r.rep.links.AllowsLink(r.n.id, r.n.cfg.Region, id, p.info.Region)
		}
		r.mu.Unlock()
		isPeer := func(id string) bool { return peers[id] }
		for dest, route := range rt.Routes {
			hop, via := repairHop(dest, route, down, isPeer)
			if via == "" {
				continue
			}
			if next.hops == nil {
				next.hops = map[string]string{}
			}
			next.hops[dest] = hop
			if prev, had := old.hops[dest]; had && prev == hop {
				continue
			}
			r.rep.repairs.WithLabelValues(via).Inc()
			if via == repairNone {
				r.log.Warn("relay repair impossible", "dest", dest, "next_hop", route.NextHop,
					"alternate", route.Alternate, "reason", "link to the next hop, the alternate and the direct link all down or unknown",
					"trigger", why, "version", rt.Version)
				continue
			}
			r.log.Info("relay repair", "dest", dest, "next_hop", route.NextHop, "via", hop, "kind", via,
				"strict", via == repairAlternate && route.AlternateStrict,
				"reason", repairReason(via, route), "trigger", why, "version", rt.Version)
		}
	}
	for dest, prev := range old.hops {
		if _, still := next.hops[dest]; still || prev == "" {
			continue
		}
		table := ""
		if rt != nil {
			table = rt.Routes[dest].NextHop
		}
		r.log.Info("relay repair ended", "dest", dest, "was_via", prev, "next_hop", table,
			"reason", "following the routing table again", "trigger", why)
	}
	r.rep.set.Store(next)
}

func repairReason(via string, route bus.Route) string {
	switch {
	case via == repairAlternate:
		return "link to the next hop " + route.NextHop + " down: precomputed alternate"
	case route.Alternate != "":
		return "links to the next hop " + route.NextHop + " and the alternate " + route.Alternate + " down: direct link"
	}
	return "link to the next hop " + route.NextHop + " down, no alternate: direct link"
}

func linkTrigger(peer string, up bool) string {
	if up {
		return "link to " + peer + " up"
	}
	return "link to " + peer + " down"
}
