package controller

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/routing"
)

// Limits on what a link report may carry.
const (
	maxReportLinks = 4096
	maxLinkMs      = 60_000
)

// receivedReport is a node's latest link report and when it arrived.
type receivedReport struct {
	rep bus.LinkReport
	at  time.Time
	// peers indexes rep.Links by peer.
	peers map[string]bus.LinkSample
}

// checkReport accepts a report only from the node it names (the subject's
// last token) and only with sane values.
func checkReport(subjectNode string, rep bus.LinkReport) error {
	switch {
	case rep.NodeID == "" || rep.NodeID != subjectNode:
		return fmt.Errorf("%w: report for node %q published on the subject of %q", ErrBadRequest, rep.NodeID, subjectNode)
	case len(rep.Links) > maxReportLinks:
		return fmt.Errorf("%w: %d links in one report", ErrBadRequest, len(rep.Links))
	}
	seen := make(map[string]bool, len(rep.Links))
	for _, l := range rep.Links {
		switch {
		case l.Peer == "" || l.Peer == rep.NodeID || seen[l.Peer]:
			return fmt.Errorf("%w: link to %q (empty, itself or twice)", ErrBadRequest, l.Peer)
		case !inRange(l.RTTMs, maxLinkMs) || !inRange(l.JitterMs, maxLinkMs) || !inRange(l.Loss, 1):
			return fmt.Errorf("%w: link to %s: rtt %v jitter %v loss %v out of range", ErrBadRequest, l.Peer, l.RTTMs, l.JitterMs, l.Loss)
		}
		seen[l.Peer] = true
	}
	return nil
}

func inRange(x, hi float64) bool { return x >= 0 && x <= hi && !math.IsNaN(x) }

// LinkStatus is one directed link as the admin API shows it: what each end
// reported, the state the controller concluded and the cost the routing
// uses.
type LinkStatus struct {
	From    string  `json:"from"`
	To      string  `json:"to"`
	Allowed bool    `json:"allowed"`
	State   string  `json:"state"` // up, down, unmeasured, not_allowed
	RTTMs   float64 `json:"rtt_ms,omitempty"`
	Loss    float64 `json:"loss,omitempty"`
	Jitter  float64 `json:"jitter_ms,omitempty"`
	// Cost is the cost model's output (absent when the link is unusable).
	Cost *float64 `json:"cost,omitempty"`
	// FromReport and ToReport are the samples each end reported of the
	// link (the To end's sample is of its link back to From).
	FromReport *bus.LinkSample `json:"from_report,omitempty"`
	ToReport   *bus.LinkSample `json:"to_report,omitempty"`
}

// Link states.
const (
	LinkUp         = "up"
	LinkDown       = "down"
	LinkUnmeasured = "unmeasured"
	LinkNotAllowed = "not_allowed"
)

// relayNodes are the nodes that run a relay (they advertise its address),
// sorted by id.
func relayNodes(all []bus.NodeInfo) []bus.NodeInfo {
	var nodes []bus.NodeInfo
	for _, n := range all {
		if n.RelayAddr != "" {
			nodes = append(nodes, n)
		}
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].ID < nodes[j].ID })
	return nodes
}

// buildGraph turns the live nodes that run a relay, the allowed links and the fresh link
// reports into the routing graph.
//
// A node "probes" when its last report is younger than timeout. The link
// a -> b is up when every probing end of it reports the other end up:
// both when both probe, so a node that lies about a link cannot keep it up
// past the other end's next report; the one that probes when only one
// does; and, when neither probes (no relay probes running yet), it is up
// and priced from the regions. Measured values are the worse of the two
// ends' (a node cannot make its links look better than its peers see
// them).
func buildGraph(all []bus.NodeInfo, reports map[string]receivedReport, cfg config.Relay, model routing.CostModel, now time.Time, withStatus bool) (routing.Graph, []LinkStatus) {
	nodes := relayNodes(all)
	g := routing.Graph{Nodes: make([]routing.Node, len(nodes)), Links: make([]routing.Link, 0, len(nodes)*len(nodes))}
	fresh := make(map[string]map[string]bus.LinkSample, len(nodes))
	for i, n := range nodes {
		g.Nodes[i] = routing.Node{ID: n.ID, Region: n.Region}
		if r, ok := reports[n.ID]; ok && now.Sub(r.at) < cfg.LinkTimeout {
			fresh[n.ID] = r.peers
		}
	}
	var status []LinkStatus
	for i, a := range nodes {
		for j, b := range nodes {
			if a.ID == b.ID {
				continue
			}
			l := linkBetween(a, b, fresh, cfg)
			g.Links = append(g.Links, l)
			if withStatus {
				status = append(status, linkStatus(l, fresh, model, g.Nodes[i], g.Nodes[j]))
			}
		}
	}
	return g, status
}

// linkBetween is the link a -> b from the allowed links and the fresh
// reports of both ends (see buildGraph).
func linkBetween(a, b bus.NodeInfo, fresh map[string]map[string]bus.LinkSample, cfg config.Relay) routing.Link {
	l := routing.Link{From: a.ID, To: b.ID, Allowed: cfg.AllowsLink(a.ID, a.Region, b.ID, b.Region)}
	aPeers, aProbes := fresh[a.ID]
	bPeers, bProbes := fresh[b.ID]
	if !aProbes && !bProbes {
		l.Up = true
		return l
	}
	sa, hasA := aPeers[b.ID]
	sb, hasB := bPeers[a.ID]
	l.Up = (!aProbes || (hasA && sa.Up)) && (!bProbes || (hasB && sb.Up))
	l.Measured = true
	if hasA {
		l.RTTMs, l.Loss, l.JitterMs = sa.RTTMs, sa.Loss, sa.JitterMs
	}
	if hasB {
		l.RTTMs, l.Loss, l.JitterMs = max(l.RTTMs, sb.RTTMs), max(l.Loss, sb.Loss), max(l.JitterMs, sb.JitterMs)
	}
	return l
}

// linkStatus describes l for the admin API.
func linkStatus(l routing.Link, fresh map[string]map[string]bus.LinkSample, model routing.CostModel, from, to routing.Node) LinkStatus {
	st := LinkStatus{From: l.From, To: l.To, Allowed: l.Allowed, RTTMs: l.RTTMs, Loss: l.Loss, Jitter: l.JitterMs}
	if s, ok := fresh[l.From][l.To]; ok {
		st.FromReport = &s
	}
	if s, ok := fresh[l.To][l.From]; ok {
		st.ToReport = &s
	}
	if c, ok := model.Cost(from, to, l); ok {
		st.Cost = &c
	}
	switch {
	case !l.Allowed:
		st.State = LinkNotAllowed
	case !l.Up:
		st.State = LinkDown
	case !l.Measured:
		st.State = LinkUnmeasured
	default:
		st.State = LinkUp
	}
	return st
}
