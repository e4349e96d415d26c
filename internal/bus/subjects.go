package bus

// Every NATS subject rtcloud uses is built here and nowhere else.
//
// Namespaces and room names are restricted by ValidName so they are always
// safe single subject tokens; identities never appear in subjects.

const prefix = "rtcloud"

// Node commands (request/reply), addressed to one SFU node.
const (
	CmdSessionCreate = "session.create" // CreateSession -> SessionAnswer
	CmdNegotiate     = "session.negotiate"
	CmdTrickle       = "session.trickle"
	CmdSubscribe     = "session.subscribe"
	CmdUnsubscribe   = "session.unsubscribe"
	CmdSetLayer      = "session.layer"
	CmdMute          = "session.mute"
	CmdClose         = "session.close"
	CmdRoomState     = "room.state"
	// CmdDrain tells a node to take no new sessions (Drain -> Reply); the
	// node then reports Draining in its heartbeats. Existing sessions stay.
	CmdDrain = "node.drain"
)

// NodeCommand is the subject on which node nodeID serves command cmd.
func NodeCommand(nodeID, cmd string) string { return prefix + ".node." + nodeID + "." + cmd }

// NodeCommands is the wildcard a node subscribes to for all its commands.
func NodeCommands(nodeID string) string { return prefix + ".node." + nodeID + ".>" }

// NodeHeartbeats is where every SFU node publishes its NodeInfo each second.
const NodeHeartbeats = prefix + ".nodes.heartbeat"

// RoomEvents is where room events (joins, leaves, tracks, speakers, data)
// of one room are published, whichever node or signaling server produced them.
func RoomEvents(namespace, room string) string {
	return prefix + ".room." + namespace + "." + room + ".events"
}

// AllRoomEvents matches the events of every room in every namespace.
const AllRoomEvents = prefix + ".room.*.*.events"

// SessionEvents carries events meant for one session only (for example the
// node closing it after ICE failed).
func SessionEvents(sessionID string) string { return prefix + ".session." + sessionID + ".events" }

// KV buckets of the directory.
const (
	BucketNodes    = "rtcloud_nodes"    // node id -> NodeInfo
	BucketRooms    = "rtcloud_rooms"    // namespace.room -> RoomRecord
	BucketSessions = "rtcloud_sessions" // session id -> SessionRecord
)

// RoomKey is the key of a room in BucketRooms.
func RoomKey(namespace, room string) string { return namespace + "." + room }

// ControllerAllocate is served by every controller (queue group
// "controllers"): AllocateRequest -> Allocation. A signaling server that
// gets no responder falls back to its own same-node placement.
const ControllerAllocate = prefix + ".controller.allocate"

// ControllerQueue is the queue group controllers serve requests in.
const ControllerQueue = "controllers"

// Controller state buckets.
const (
	// BucketLeader holds the controller leader lease (key LeaderKey); its
	// entries expire when not renewed.
	BucketLeader = "rtcloud_leader"
	// BucketControl holds controller settings shared by every controller:
	// "drain.<node id>" marks a drained node.
	BucketControl = "rtcloud_control"
)

// LeaderKey is the key of the leader lease in BucketLeader.
const LeaderKey = "controller"

// DrainKey is the key in BucketControl that marks node nodeID as drained.
func DrainKey(nodeID string) string { return "drain." + nodeID }
