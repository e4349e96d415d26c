package bus

import "time"

// Relay routing on the bus: nodes report what they measure on their relay
// links; the controller leader turns the reports into routing tables and
// pushes each node its own table. See docs/relay.md ("Routing").

// BucketRoutes holds the routing tables: key RoutesKey(node) is that node's
// NodeRoutes, key RoutesVersionKey the RouteVersion last published (written
// after every node's key, so a new leader continues the numbering).
const BucketRoutes = "rtcloud_routes"

// RoutesVersionKey is the key of the current RouteVersion in BucketRoutes.
const RoutesVersionKey = "version"

// RoutesKey is the key of node nodeID's NodeRoutes in BucketRoutes.
func RoutesKey(nodeID string) string { return "node." + nodeID }

// NodeRoutesSubject is where the leader pushes node nodeID its NodeRoutes
// each time its table gets a new version. A node that starts (or missed a
// push) reads RoutesKey(nodeID) from BucketRoutes.
func NodeRoutesSubject(nodeID string) string { return prefix + ".routes.node." + nodeID }

// AllNodeRoutes matches every node's route pushes (for observers).
const AllNodeRoutes = prefix + ".routes.node.*"

// LinkReports is where node nodeID publishes its LinkReport every second.
// The controller accepts a report only when its NodeID is the subject's
// node (in production, NATS permissions let each node publish only on its
// own subject).
func LinkReports(nodeID string) string { return prefix + ".links." + nodeID }

// AllLinkReports matches every node's link reports; the node id is the
// subject's last token.
const AllLinkReports = prefix + ".links.*"

// RouteVersion announces the version of the routing tables last published.
type RouteVersion struct {
	Version    uint64    `json:"version"`
	ComputedAt time.Time `json:"computed_at"`
	Nodes      []string  `json:"nodes"`
}

// NodeRoutes is one node's routing table at one version: for each
// destination node, the next hop to send relay packets to. Apply a table
// only if its Version is higher than the one in use.
type NodeRoutes struct {
	Version    uint64           `json:"version"`
	Node       string           `json:"node"`
	ComputedAt time.Time        `json:"computed_at"`
	Routes     map[string]Route `json:"routes"` // destination node -> route
}

// Route is how a node reaches one destination.
type Route struct {
	// NextHop is the neighbour to send to (the destination itself when the
	// direct link is best).
	NextHop string `json:"next_hop"`
	// Alternate, when set, is the neighbour to use at once, without waiting
	// for the controller, if the link to NextHop dies. Its own route to the
	// destination never passes through this node. AlternateStrict says it
	// is moreover strictly closer to the destination, so using it cannot
	// loop whatever other nodes do; a non-strict alternate is loop-free
	// while no node after it repairs too (the hop limit bounds the rest).
	Alternate       string `json:"alternate,omitempty"`
	AlternateStrict bool   `json:"alternate_strict,omitempty"`
	// Cost is the cost of the path through NextHop (milliseconds-like
	// units, see docs/relay.md "Link costs"); AlternateCost through
	// Alternate.
	Cost          float64 `json:"cost"`
	AlternateCost float64 `json:"alternate_cost,omitempty"`
	// Reason says why NextHop was chosen, for logs and the admin API.
	Reason string `json:"reason,omitempty"`
}

// RouteTable is every node's table at one version (the admin API's view,
// and a convenient form for tests): source -> destination -> next hop.
type RouteTable struct {
	Version    uint64                        `json:"version"`
	ComputedAt time.Time                     `json:"computed_at"`
	Tables     map[string]map[string]string  `json:"tables"`
	Alternates map[string]map[string]string  `json:"alternates,omitempty"`
	Costs      map[string]map[string]float64 `json:"costs,omitempty"`
	Reasons    map[string]map[string]string  `json:"reasons,omitempty"`
}

// For returns node id's table in t as a NodeRoutes.
func (t RouteTable) For(id string) NodeRoutes {
	nr := NodeRoutes{Version: t.Version, Node: id, ComputedAt: t.ComputedAt, Routes: map[string]Route{}}
	for dst, next := range t.Tables[id] {
		nr.Routes[dst] = Route{
			NextHop:   next,
			Alternate: t.Alternates[id][dst],
			Cost:      t.Costs[id][dst],
			Reason:    t.Reasons[id][dst],
		}
	}
	return nr
}

// LinkReport is what a node measured on its relay links, published on
// LinkReports(NodeID) about every second.
type LinkReport struct {
	NodeID string    `json:"node_id"`
	SentAt time.Time `json:"sent_at"`
	// RoutesVersion is the version of the routing table the node uses
	// (0: none yet).
	RoutesVersion uint64       `json:"routes_version,omitempty"`
	Links         []LinkSample `json:"links"`
}

// LinkSample is the smoothed state of the link from the reporting node to
// Peer.
type LinkSample struct {
	Peer     string  `json:"peer"`
	RTTMs    float64 `json:"rtt_ms"`
	Loss     float64 `json:"loss"` // 0..1, share of probes lost
	JitterMs float64 `json:"jitter_ms"`
	// Up is false once the peer's probes went unanswered for the probe
	// timeout.
	Up        bool      `json:"up"`
	SampledAt time.Time `json:"sampled_at"`
}
