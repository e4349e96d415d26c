package bus

// Node liveness: besides its one-second NodeInfo heartbeat, every SFU node
// publishes an empty message on NodeAlive(id) every AliveInterval (a few
// hundred milliseconds), and answers CmdPing. Followers suspect a node that
// stopped beating and confirm with a ping: NATS answers "no responders" at
// once for a node whose connection is gone (its process died), so a dead
// node is known within about a second, while a live one that merely missed
// a beat answers the ping.

// NodeAlive is where node nodeID publishes its liveness beats.
func NodeAlive(nodeID string) string { return prefix + ".nodes.alive." + nodeID }

// AllNodesAlive matches every node's liveness beats.
const AllNodesAlive = prefix + ".nodes.alive.*"

// CmdPing asks a node whether it is alive (Ping -> Reply).
const CmdPing = "node.ping"

// Ping is the body of CmdPing.
type Ping struct{}

// NodeMigrate asks every signaling server to move the clients of a node
// elsewhere (a drain with migration): each client is told to rejoin and is
// placed on another node. Published by the controller on NodeMigrations.
type NodeMigrate struct {
	NodeID string `json:"node_id"`
}

// NodeMigrations carries NodeMigrate.
const NodeMigrations = prefix + ".nodes.migrate"
