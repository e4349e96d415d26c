package bus

// Commands and records of rooms that span nodes (docs/relay.md).

// CmdRoomStateLocal asks a node for the participants of a room that are
// connected to that node only (RoomStateRequest -> RoomState). CmdRoomState
// answers with the participants of the whole room, on every node; a node
// builds that answer from the CmdRoomStateLocal replies of the others. It
// is its own subject so that a node gathering the room's state never waits
// behind another node doing the same.
const CmdRoomStateLocal = "room.state.local"

// BucketStreams holds where each relayed stream is available: key
// StreamKey(namespace, room, track) -> StreamRecord.
const BucketStreams = "rtcloud_streams"

// StreamKey is the key of a track's StreamRecord in BucketStreams.
func StreamKey(namespace, room, track string) string { return namespace + "." + room + "." + track }

// StreamRecord says where a published track is available: its origin
// node (where the publisher is connected) and every node holding a copy
// through the relay, with the path each copy takes.
type StreamRecord struct {
	Namespace string    `json:"namespace"`
	Room      string    `json:"room"`
	Track     TrackInfo `json:"track"`
	Origin    string    `json:"origin"`
	// Holders are the nodes receiving the stream over the relay, each
	// with the node it is fed from and the path from there.
	Holders map[string]StreamHolder `json:"holders,omitempty"`
}

// StreamHolder is one node holding a relayed copy of a stream.
type StreamHolder struct {
	From   string   `json:"from"`           // the holder that sends it
	Path   []string `json:"path,omitempty"` // From, hops..., the holder
	Layers []string `json:"layers,omitempty"`
	Reason string   `json:"reason,omitempty"`
}

// ControllerLocate is served by the controllers (queue group
// ControllerQueue): LocateRequest -> Location. The leader picks the
// holder nearest to the asking node by route cost and sends it one
// CmdForward.
const ControllerLocate = prefix + ".controller.locate"

// LocateRequest asks where node Node can get track Track of a room.
type LocateRequest struct {
	Namespace string `json:"namespace"`
	Room      string `json:"room"`
	Track     string `json:"track"`
	Node      string `json:"node"`
}

// Location is the reply to LocateRequest: the node that will feed the
// asking node, and why.
type Location struct {
	Reply
	Stream StreamRecord `json:"stream"`
	From   string       `json:"from"`
	Reason string       `json:"reason"`
}

// CmdForward tells a holder of a stream to forward it to node Dest
// (Forward -> Reply). The destination then keeps the forwarding alive
// (and says which simulcast layers it needs) over the relay itself.
const CmdForward = "relay.forward"

// Forward is the body of CmdForward.
type Forward struct {
	Namespace string   `json:"namespace"`
	Room      string   `json:"room"`
	Track     string   `json:"track"`
	Dest      string   `json:"dest"`
	Layers    []string `json:"layers,omitempty"`
	Reason    string   `json:"reason,omitempty"`
}
