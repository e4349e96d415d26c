// Package protocol defines the WebSocket room protocol spoken between
// clients and signaling servers (specified in docs/protocol.md). Every
// frame is one JSON object: a Message with a Type and the fields that type
// uses.
package protocol

import "github.com/rtcloud/rtcloud/internal/bus"

// Version is sent in "joined"; clients may check it.
const Version = 1

// MaxMessageBytes is the largest frame a server accepts.
const MaxMessageBytes = 256 << 10

// Client to server message types.
const (
	TypeJoin        = "join"        // Token, Name, Metadata, SessionID (to resume)
	TypeOffer       = "offer"       // SDP, Publish, Subscribe -> TypeAnswer
	TypeTrickle     = "trickle"     // Candidate
	TypeSubscribe   = "subscribe"   // Subscribe -> TypeOK
	TypeUnsubscribe = "unsubscribe" // MIDs -> TypeOK
	TypeSetLayer    = "set_layer"   // MID, Layer -> TypeOK
	TypeMute        = "mute"        // TrackID, Muted -> TypeOK
	TypeData        = "data"        // Payload, To; also server to client with From
	TypePing        = "ping"        // -> TypePong
	TypeLeave       = "leave"       // the server closes the connection
)

// Server to client message types.
const (
	TypeJoined            = "joined" // Self, Room, Participants
	TypeAnswer            = "answer" // SDP
	TypeOK                = "ok"     // acknowledges a request by ID
	TypePong              = "pong"
	TypeError             = "error" // Error; ID of the request when there is one
	TypeParticipantJoined = bus.EventParticipantJoined
	TypeParticipantLeft   = bus.EventParticipantLeft
	TypeTrackPublished    = bus.EventTrackPublished
	TypeTrackUnpublished  = bus.EventTrackUnpublished
	TypeTrackMuted        = bus.EventTrackMuted
	TypeActiveSpeakers    = bus.EventActiveSpeakers
	TypeLayerChanged      = bus.EventLayerChanged
	TypeClosed            = "closed" // Reason; the server closes the connection next
)

// Message is every frame of the protocol.
type Message struct {
	Type string `json:"type"`
	// ID correlates a request with its answer, ok or error; chosen by the
	// client, echoed by the server.
	ID string `json:"id,omitempty"`

	// join
	Token     string `json:"token,omitempty"`
	Name      string `json:"name,omitempty"`
	Metadata  string `json:"metadata,omitempty"`
	SessionID string `json:"session_id,omitempty"`

	// joined
	Self         *bus.Participant      `json:"self,omitempty"`
	Room         *Room                 `json:"room,omitempty"`
	Participants []bus.ParticipantInfo `json:"participants,omitempty"`
	Version      int                   `json:"version,omitempty"`

	// offer, answer
	SDP       string             `json:"sdp,omitempty"`
	Publish   []bus.PublishSpec  `json:"publish,omitempty"`
	Subscribe []bus.Subscription `json:"subscribe,omitempty"`

	// trickle
	Candidate *bus.Candidate `json:"candidate,omitempty"`

	// unsubscribe, set_layer, layer_changed
	MIDs  []string `json:"mids,omitempty"`
	MID   string   `json:"mid,omitempty"`
	Layer string   `json:"layer,omitempty"`

	// mute
	TrackID string `json:"track_id,omitempty"`
	Muted   bool   `json:"muted,omitempty"`

	// data: Payload is application bytes (base64 in JSON), at most 64 KiB
	Payload []byte   `json:"payload,omitempty"`
	To      []string `json:"to,omitempty"`
	From    string   `json:"from,omitempty"`

	// events
	Participant *bus.Participant `json:"participant,omitempty"`
	Track       *bus.TrackInfo   `json:"track,omitempty"`
	Speakers    []bus.Speaker    `json:"speakers,omitempty"`
	Reason      string           `json:"reason,omitempty"`

	// error
	Error *Error `json:"error,omitempty"`
}

// Room names a room.
type Room struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// Error is the payload of an error message.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error codes of the protocol.
const (
	CodeMalformed    = "malformed"    // not JSON, or fields of the wrong type
	CodeUnknownType  = "unknown_type" // a type this server does not know
	CodeBadRequest   = "bad_request"  // a field is missing or invalid, SDP does not parse
	CodeUnauthorized = "unauthorized" // no token, expired, forged
	CodeForbidden    = "forbidden"    // the token does not grant this
	CodeNotFound     = "not_found"    // no such room, track, mid or session
	CodeTooLarge     = "too_large"    // frame over MaxMessageBytes
	CodeUnsupported  = "unsupported"  // the offer has nothing usable
	CodeUnavailable  = "unavailable"  // no media node can take the session now
	CodeNotJoined    = "not_joined"   // a request before a successful join
	CodeInternal     = "internal"
	// CodeLimit: a field, a list or an offer is over one of the limits of
	// docs/protocol.md (name length, m-lines per offer, tracks, candidates).
	CodeLimit = "limit_exceeded"
	// CodeRateLimited: the client sends faster than it may (data
	// messages); the request was dropped, later ones are served again.
	CodeRateLimited = "rate_limited"
)

// WebSocket close codes the server uses, besides the standard ones.
const (
	CloseUnauthorized = 4001
	CloseForbidden    = 4003
	CloseSessionEnded = 4010 // the media session ended (ICE failure, kicked)
)
