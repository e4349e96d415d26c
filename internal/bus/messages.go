package bus

import "time"

// The messages below are the contract between signaling servers, the
// controller and SFU nodes. They travel as JSON on the subjects in
// subjects.go. Add fields; never change the meaning of an existing one.

// Track kinds and sources.
const (
	KindAudio = "audio"
	KindVideo = "video"

	SourceCamera     = "camera"
	SourceMicrophone = "microphone"
	SourceScreen     = "screen"
	SourceUnknown    = "unknown"
)

// Simulcast layer names, from the lowest to the highest quality. The empty
// layer means "let the node choose from the subscriber's bandwidth".
const (
	LayerAuto   = ""
	LayerLow    = "low"
	LayerMedium = "medium"
	LayerHigh   = "high"
)

// Grants say what a participant may do in its room.
type Grants struct {
	Publish   bool `json:"publish"`
	Subscribe bool `json:"subscribe"`
	Admin     bool `json:"admin,omitempty"`
	// Hidden participants (recorders) are in no room state and cause no
	// join or leave events; they may not publish.
	Hidden bool `json:"hidden,omitempty"`
}

// Participant identifies one connected participant (one session).
type Participant struct {
	Namespace string `json:"namespace"`
	Room      string `json:"room"`
	Identity  string `json:"identity"`
	SessionID string `json:"session_id"`
	Name      string `json:"name,omitempty"`
	Metadata  string `json:"metadata,omitempty"`
	// Kind is how the client signals: "ws", "whip" or "whep" (a passive
	// viewer). Set by the signaling server when it creates the session;
	// empty from older servers. SessionRecord.Kind holds the same value
	// and shadows this field there (and in the record's JSON).
	Kind string `json:"kind,omitempty"`
}

// TrackInfo describes a published track.
type TrackInfo struct {
	ID        string   `json:"id"`
	SessionID string   `json:"session_id"` // publisher's session
	Identity  string   `json:"identity"`   // publisher's identity
	Kind      string   `json:"kind"`       // KindAudio or KindVideo
	Source    string   `json:"source"`     // SourceCamera, ...
	Name      string   `json:"name,omitempty"`
	MimeType  string   `json:"mime_type"`        // e.g. video/VP8
	Layers    []string `json:"layers,omitempty"` // simulcast layers received, low to high
	Muted     bool     `json:"muted,omitempty"`
	// BitsPerS is the bitrate the node receives, all layers together,
	// when the message was made (0, so absent, at publication).
	BitsPerS uint64 `json:"bits_per_s,omitempty"`
}

// ParticipantInfo is a participant with its published tracks.
type ParticipantInfo struct {
	Participant
	Tracks   []TrackInfo `json:"tracks"`
	JoinedAt time.Time   `json:"joined_at"`
	// Node is the SFU node the participant is connected to (its tracks'
	// origin).
	Node string `json:"node,omitempty"`
	// Connection is the state of the participant's PeerConnection on its
	// node ("new", "connecting", "connected", "disconnected", "failed";
	// empty before the first offer). Room state replies only.
	Connection string `json:"connection,omitempty"`
}

// PublishSpec describes a track the client offers to send, by the mid of
// its transceiver in the offer.
type PublishSpec struct {
	MID    string `json:"mid"`
	Source string `json:"source,omitempty"`
	Name   string `json:"name,omitempty"`
}

// Subscription binds the transceiver with MID (recvonly from the client's
// side) to the published track TrackID, starting at Layer.
type Subscription struct {
	MID     string `json:"mid"`
	TrackID string `json:"track_id"`
	Layer   string `json:"layer,omitempty"`
}

// Candidate is a trickled ICE candidate, as in RTCIceCandidateInit.
type Candidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// CreateSession asks a node to create a session for a participant. Offer
// may be empty: the participant then joins the room without media and
// negotiates later with Negotiate.
type CreateSession struct {
	Participant Participant    `json:"participant"`
	Grants      Grants         `json:"grants"`
	Offer       string         `json:"offer,omitempty"`
	Publish     []PublishSpec  `json:"publish,omitempty"`
	Subscribe   []Subscription `json:"subscribe,omitempty"`
}

// Negotiate carries a new offer from the client for an existing session:
// more tracks to publish or receive, or an ICE restart.
type Negotiate struct {
	SessionID string         `json:"session_id"`
	Offer     string         `json:"offer"`
	Publish   []PublishSpec  `json:"publish,omitempty"`
	Subscribe []Subscription `json:"subscribe,omitempty"`
}

// SessionAnswer is the reply to CreateSession and Negotiate. The answer
// holds every candidate of the node (its one UDP and one TCP port).
type SessionAnswer struct {
	Reply
	SessionID string `json:"session_id,omitempty"`
	Answer    string `json:"answer,omitempty"`
}

// Trickle adds a remote ICE candidate to a session.
type Trickle struct {
	SessionID string    `json:"session_id"`
	Candidate Candidate `json:"candidate"`
}

// Subscribe binds existing transceivers to tracks without renegotiation.
type Subscribe struct {
	SessionID     string         `json:"session_id"`
	Subscriptions []Subscription `json:"subscriptions"`
}

// Unsubscribe stops sending on the transceivers with the given mids.
type Unsubscribe struct {
	SessionID string   `json:"session_id"`
	MIDs      []string `json:"mids"`
}

// SetLayer sets the preferred simulcast layer of a subscription.
type SetLayer struct {
	SessionID string `json:"session_id"`
	MID       string `json:"mid"`
	Layer     string `json:"layer"`
}

// Mute mutes or unmutes a track the session publishes.
type Mute struct {
	SessionID string `json:"session_id"`
	TrackID   string `json:"track_id"`
	Muted     bool   `json:"muted"`
}

// Close ends a session; its tracks are unpublished.
type Close struct {
	SessionID string `json:"session_id"`
	Reason    string `json:"reason,omitempty"`
	// IfNoMedia closes the session only if its media is not flowing (no
	// PeerConnection, or one that is not connected). The signaling server
	// sends it when a client's WebSocket drops without "leave": a client
	// whose media still flows may resume through any signaling server.
	IfNoMedia bool `json:"if_no_media,omitempty"`
}

// RoomStateRequest asks a node for the participants of a room it serves.
type RoomStateRequest struct {
	Namespace string `json:"namespace"`
	Room      string `json:"room"`
	// Session, when set, is listed even if hidden: a hidden participant
	// (a recorder) resuming its session asks whether it is still there.
	Session string `json:"session,omitempty"`
}

// RoomState is the reply to RoomStateRequest.
type RoomState struct {
	Reply
	Participants []ParticipantInfo `json:"participants"`
}

// Reply is embedded in every reply. Error is nil on success.
type Reply struct {
	Error *Error `json:"error,omitempty"`
}

// Error is an error carried over the bus. Code is one of the Code* values.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Error codes carried over the bus; the signaling server maps them to
// protocol error codes and HTTP statuses.
const (
	CodeBadRequest  = "bad_request" // malformed command, bad SDP
	CodeNotFound    = "not_found"   // unknown session, track or mid
	CodeForbidden   = "forbidden"   // missing grant
	CodeUnsupported = "unsupported" // offer has nothing usable
	CodeUnavailable = "unavailable" // node draining or full
	CodeInternal    = "internal"    // anything else
)

// Event types published on RoomEvents and SessionEvents.
const (
	EventParticipantJoined = "participant_joined"
	EventParticipantLeft   = "participant_left"
	EventTrackPublished    = "track_published"
	EventTrackUnpublished  = "track_unpublished"
	EventTrackMuted        = "track_muted" // Track.Muted says which way
	EventActiveSpeakers    = "active_speakers"
	EventData              = "data"           // application data, relayed by signaling
	EventSessionClosed     = "session_closed" // on SessionEvents: the node ended the session
	EventLayerChanged      = "layer_changed"  // on SessionEvents: a subscription's layer changed
)

// Event is a room or session event.
type Event struct {
	Type        string       `json:"type"`
	Namespace   string       `json:"namespace"`
	Room        string       `json:"room"`
	Participant *Participant `json:"participant,omitempty"`
	Track       *TrackInfo   `json:"track,omitempty"`
	Speakers    []Speaker    `json:"speakers,omitempty"`
	Reason      string       `json:"reason,omitempty"`
	// MID and Layer, for EventLayerChanged.
	MID   string `json:"mid,omitempty"`
	Layer string `json:"layer,omitempty"`
	// Data, for EventData: from the sender's identity, to the listed
	// identities (all when empty).
	From    string   `json:"from,omitempty"`
	To      []string `json:"to,omitempty"`
	Payload []byte   `json:"payload,omitempty"`
	// Node is the SFU node that published the event (room events from
	// nodes). Active speakers are per node: a room that spans nodes gets
	// one set from each, and receivers merge them.
	Node string `json:"node,omitempty"`
}

// Speaker is one entry of an active-speakers event; Level is 0 (silent) to 1.
type Speaker struct {
	Identity  string  `json:"identity"`
	SessionID string  `json:"session_id"`
	Level     float64 `json:"level"`
}

// NodeInfo describes an SFU node; it is published as a heartbeat every
// second and stored in BucketNodes.
type NodeInfo struct {
	ID        string   `json:"id"`
	Region    string   `json:"region,omitempty"`
	Zone      string   `json:"zone,omitempty"`
	ISP       string   `json:"isp,omitempty"`
	PublicIPs []string `json:"public_ips"`
	MediaPort int      `json:"media_port"`
	// RelayAddr is the node's relay UDP address (ip:port) for other nodes;
	// empty when the node runs no relay.
	RelayAddr string    `json:"relay_addr,omitempty"`
	Capacity  int       `json:"capacity"` // max participants, 0 = unlimited
	Draining  bool      `json:"draining,omitempty"`
	StartedAt time.Time `json:"started_at"`
	SentAt    time.Time `json:"sent_at"`
	Load      NodeLoad  `json:"load"`
}

// NodeLoad is a node's current load.
type NodeLoad struct {
	CPU          float64 `json:"cpu"` // 0..1 of the node's cores
	MemoryBytes  uint64  `json:"memory_bytes"`
	BitsInPerS   uint64  `json:"bits_in_per_s"`
	BitsOutPerS  uint64  `json:"bits_out_per_s"`
	Rooms        int     `json:"rooms"`
	Participants int     `json:"participants"`
	Tracks       int     `json:"tracks"`
}

// RoomRecord says which node serves a room (same-node placement).
type RoomRecord struct {
	Namespace string    `json:"namespace"`
	Room      string    `json:"room"`
	NodeID    string    `json:"node_id"`
	CreatedAt time.Time `json:"created_at"`
	// Nodes are the live nodes the room has been placed on: with the
	// relay a room spans nodes (NodeID is the first).
	Nodes []string `json:"nodes,omitempty"`
}

// SessionRecord lets any signaling server find a session's node.
type SessionRecord struct {
	Participant
	NodeID    string    `json:"node_id"`
	Grants    Grants    `json:"grants"`
	CreatedAt time.Time `json:"created_at"`
	// Kind is "ws", "whip" or "whep": how the client signals.
	Kind string `json:"kind,omitempty"`
	// Offer is the client's latest offer, kept for WHIP/WHEP sessions so an
	// ICE restart by PATCH (which carries only new credentials) can be
	// turned into a full offer by any signaling server.
	Offer string `json:"offer,omitempty"`
}

// Room placement policies.
const (
	PolicySameNode = "same-node" // the whole room on one node
	PolicyNearest  = "nearest"   // each client on its best node (needs the relay)
)

// AllocateRequest asks where a client should join a room.
type AllocateRequest struct {
	Namespace string `json:"namespace"`
	Room      string `json:"room"`
	ClientIP  string `json:"client_ip,omitempty"`
}

// Allocation is the reply to AllocateRequest: the node, and why.
type Allocation struct {
	Reply
	Node   NodeInfo `json:"node"`
	Reason string   `json:"reason"`
	Policy string   `json:"policy,omitempty"`
}

// Drain asks a node to stop (Draining true) or resume (false) taking new
// sessions. Close reasons of sessions ended by an administrator are
// ReasonKicked.
type Drain struct {
	Draining bool `json:"draining"`
}

// ReasonKicked is the Close reason when an administrator removes a
// participant.
const ReasonKicked = "kicked"
