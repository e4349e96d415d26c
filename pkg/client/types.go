package client

import (
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
)

// The room model, as the server sends it (docs/protocol.md). These are
// aliases: their fields are documented in docs/go-sdk.md.
type (
	// Participant is one session in a room: Namespace, Room, Identity,
	// SessionID, Name, Metadata and Kind ("ws", "whip" or "whep").
	Participant = bus.Participant
	// ParticipantInfo is a participant with its published Tracks and
	// JoinedAt.
	ParticipantInfo = bus.ParticipantInfo
	// TrackInfo describes a published track: ID, SessionID and Identity of
	// its publisher, Kind, Source, Name, MimeType, simulcast Layers, Muted.
	TrackInfo = bus.TrackInfo
	// Speaker is one entry of an active_speakers event: Identity,
	// SessionID and Level (0..1).
	Speaker = bus.Speaker
	// RoomName names a room: Namespace and Name.
	RoomName = protocol.Room
	// ErrorInfo is the payload of an "error" event: Code and Message.
	ErrorInfo = protocol.Error
)

// Track kinds (TrackInfo.Kind, RemoteTrack.Kind).
const (
	KindAudio = bus.KindAudio
	KindVideo = bus.KindVideo
)

// Track sources (TrackSpec.Source, TrackInfo.Source).
const (
	SourceCamera     = bus.SourceCamera
	SourceMicrophone = bus.SourceMicrophone
	SourceScreen     = bus.SourceScreen
	SourceUnknown    = bus.SourceUnknown
)

// Simulcast layers (Subscribe, SetLayer); LayerAuto lets the server choose.
const (
	LayerAuto   = bus.LayerAuto
	LayerLow    = bus.LayerLow
	LayerMedium = bus.LayerMedium
	LayerHigh   = bus.LayerHigh
)

// Event types (Event.Type).
const (
	EventParticipantJoined = protocol.TypeParticipantJoined
	EventParticipantLeft   = protocol.TypeParticipantLeft
	EventTrackPublished    = protocol.TypeTrackPublished
	EventTrackUnpublished  = protocol.TypeTrackUnpublished
	EventTrackMuted        = protocol.TypeTrackMuted
	EventActiveSpeakers    = protocol.TypeActiveSpeakers
	EventLayerChanged      = protocol.TypeLayerChanged
	EventData              = protocol.TypeData
	EventClosed            = protocol.TypeClosed
	EventError             = protocol.TypeError
)

// Codes of a ServerError (see IsCode).
const (
	CodeBadRequest   = protocol.CodeBadRequest
	CodeUnauthorized = protocol.CodeUnauthorized
	CodeForbidden    = protocol.CodeForbidden
	CodeNotFound     = protocol.CodeNotFound
	CodeUnsupported  = protocol.CodeUnsupported
	CodeUnavailable  = protocol.CodeUnavailable
	CodeInternal     = protocol.CodeInternal
)
