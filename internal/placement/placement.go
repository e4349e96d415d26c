// Package placement holds the strategies that choose the SFU node of a
// client (same-node, nearest, least loaded, namespace pinning), each
// behind the one-method Policy interface. The controller uses them to
// answer allocations, and a signaling server uses the same ones when no
// controller answers.
package placement

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/geoip"
)

// Request is one placement question: where should this client join?
type Request struct {
	Namespace string
	Room      string
	ClientIP  netip.Addr
	Location  geoip.Location
	// RoomNode is the live node the room already lives on ("" if none).
	RoomNode string
}

// Decision is a placement answer with a reason a person can read.
type Decision struct {
	Node   bus.NodeInfo
	Reason string
}

// Policy places a client on one of nodes, the live nodes (drained ones
// flagged Draining).
type Policy interface {
	Place(req Request, nodes []bus.NodeInfo) (Decision, error)
}

// Full reports whether n has no room for one more participant.
func Full(n bus.NodeInfo) bool { return n.Capacity > 0 && n.Load.Participants >= n.Capacity }

// LoadScore is the node's load from 0 (idle) to 1 (full): the larger of
// its participant share of capacity and its CPU.
func LoadScore(n bus.NodeInfo) float64 {
	s := n.Load.CPU
	if n.Capacity > 0 {
		s = max(s, float64(n.Load.Participants)/float64(n.Capacity))
	}
	return s
}

func describeLoad(n bus.NodeInfo) string {
	if n.Capacity > 0 {
		return fmt.Sprintf("%d/%d participants, cpu %.0f%%", n.Load.Participants, n.Capacity, n.Load.CPU*100)
	}
	return fmt.Sprintf("%d participants, cpu %.0f%%", n.Load.Participants, n.Load.CPU*100)
}

// available drops draining and full nodes.
func available(nodes []bus.NodeInfo) []bus.NodeInfo {
	var out []bus.NodeInfo
	for _, n := range nodes {
		if !n.Draining && !Full(n) {
			out = append(out, n)
		}
	}
	return out
}

// lessLoaded orders by load score, then participants, then id.
func lessLoaded(a, b bus.NodeInfo) bool {
	if sa, sb := LoadScore(a), LoadScore(b); sa != sb {
		return sa < sb
	}
	if a.Load.Participants != b.Load.Participants {
		return a.Load.Participants < b.Load.Participants
	}
	return a.ID < b.ID
}

// LeastLoaded picks the least-loaded node that is neither draining nor full.
type LeastLoaded struct{}

// Place implements Policy.
func (LeastLoaded) Place(_ Request, nodes []bus.NodeInfo) (Decision, error) {
	cand := available(nodes)
	if len(cand) == 0 {
		return Decision{}, fmt.Errorf("%w: %d live, none with capacity", ErrNoNode, len(nodes))
	}
	sort.Slice(cand, func(i, j int) bool { return lessLoaded(cand[i], cand[j]) })
	n := cand[0]
	return Decision{Node: n, Reason: "least loaded node (" + describeLoad(n) + ")"}, nil
}

// Nearest picks a node in the client's region (and then of its ISP), the
// least loaded among equals; without a match it falls back to load alone.
type Nearest struct{}

// Place implements Policy.
func (Nearest) Place(req Request, nodes []bus.NodeInfo) (Decision, error) {
	cand := available(nodes)
	if len(cand) == 0 {
		return Decision{}, fmt.Errorf("%w: %d live, none with capacity", ErrNoNode, len(nodes))
	}
	loc := req.Location
	rank := func(n bus.NodeInfo) int {
		r := 0
		if loc.Region != "" && n.Region == loc.Region {
			r += 2
		}
		if loc.ISP != "" && n.ISP == loc.ISP {
			r++
		}
		return r
	}
	sort.Slice(cand, func(i, j int) bool {
		if ri, rj := rank(cand[i]), rank(cand[j]); ri != rj {
			return ri > rj
		}
		return lessLoaded(cand[i], cand[j])
	})
	n := cand[0]
	var why string
	switch r := rank(n); {
	case r == 3:
		why = fmt.Sprintf("client region %s and ISP %s match the node", loc.Region, loc.ISP)
	case r == 2:
		why = fmt.Sprintf("client region %s matches the node", loc.Region)
	case r == 1:
		why = fmt.Sprintf("client ISP %s matches the node", loc.ISP)
	case loc.Region != "":
		why = fmt.Sprintf("no node with capacity in client region %s", loc.Region)
	default:
		why = "client location unknown"
	}
	return Decision{Node: n, Reason: why + "; least loaded there (" + describeLoad(n) + ")"}, nil
}

// SameNode keeps a whole room on one node: the room's node while it is
// alive and not draining, else First decides (for the room's first
// client, or when the room's node drains: new sessions go elsewhere and
// the relay joins them to the participants still on the draining node).
// A full node takes no more participants: with Grow (nodes relay media to
// each other) the room grows onto the node First picks, else the
// participant is refused.
type SameNode struct {
	First Policy
	Grow  bool
}

// Place implements Policy.
func (p SameNode) Place(req Request, nodes []bus.NodeInfo) (Decision, error) {
	if req.RoomNode != "" {
		for _, n := range nodes {
			if n.ID != req.RoomNode {
				continue
			}
			if Full(n) && p.Grow {
				d, err := p.First.Place(req, nodes)
				if err != nil {
					return d, fmt.Errorf("room's node %s is full: %w", n.ID, err)
				}
				d.Reason = "room's node " + n.ID + " is full, the room grows onto this node: " + d.Reason
				return d, nil
			}
			if Full(n) {
				return Decision{}, fmt.Errorf("%w: node %s (%s)", ErrRoomFull, n.ID, describeLoad(n))
			}
			return Decision{Node: n, Reason: "room already on node " + n.ID + " (same-node policy)"}, nil
		}
	}
	d, err := p.First.Place(req, nodes)
	if err != nil {
		return d, err
	}
	d.Reason = "first client of the room: " + d.Reason
	return d, nil
}

// Pinned restricts a namespace to node pools or regions before Next
// decides. Pools map a pool name to node id patterns (path.Match syntax).
type Pinned struct {
	Pools   map[string][]string
	Allowed func(namespace string) (pools, regions []string)
	Next    Policy
}

// Place implements Policy.
func (p Pinned) Place(req Request, nodes []bus.NodeInfo) (Decision, error) {
	pools, regions := p.Allowed(req.Namespace)
	if len(pools) == 0 && len(regions) == 0 {
		return p.Next.Place(req, nodes)
	}
	var kept []bus.NodeInfo
	for _, n := range nodes {
		if (len(regions) == 0 || slices.Contains(regions, n.Region)) && (len(pools) == 0 || p.inPools(n.ID, pools)) {
			kept = append(kept, n)
		}
	}
	pin := pinText(req.Namespace, pools, regions)
	if len(kept) == 0 {
		return Decision{}, fmt.Errorf("%w: %s and no live node there", ErrNoNode, pin)
	}
	d, err := p.Next.Place(req, kept)
	if err != nil {
		return d, fmt.Errorf("%s: %w", pin, err)
	}
	d.Reason += "; " + pin
	return d, nil
}

func (p Pinned) inPools(id string, pools []string) bool {
	for _, pool := range pools {
		for _, pat := range p.Pools[pool] {
			if ok, _ := path.Match(pat, id); ok {
				return true
			}
		}
	}
	return false
}

func pinText(ns string, pools, regions []string) string {
	var parts []string
	if len(pools) > 0 {
		parts = append(parts, "pools "+strings.Join(pools, ","))
	}
	if len(regions) > 0 {
		parts = append(parts, "regions "+strings.Join(regions, ","))
	}
	return "namespace " + ns + " pinned to " + strings.Join(parts, " and ")
}

// Build returns the composed policy of each policy name of cfg: the
// namespace pin first, then the room policy. grow says nodes relay media
// to each other (relay.secret is set), so a same-node room whose node is
// full grows onto another node.
func Build(cfg config.Controller, grow bool) map[string]Policy {
	allowed := func(ns string) ([]string, []string) {
		np := cfg.Namespaces[ns]
		return np.Pools, np.Regions
	}
	return map[string]Policy{
		config.PolicySameNode: Pinned{Pools: cfg.Pools, Allowed: allowed, Next: SameNode{First: Nearest{}, Grow: grow}},
		config.PolicyNearest:  Pinned{Pools: cfg.Pools, Allowed: allowed, Next: Nearest{}},
	}
}

// PolicyName is the policy of namespace ns under cfg.
func PolicyName(cfg config.Controller, ns string) string {
	if p := cfg.Namespaces[ns].Policy; p != "" {
		return p
	}
	return cfg.Policy
}
