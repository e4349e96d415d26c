package relay

import "errors"

// Sentinel errors. Wrapped with %w; test with errors.Is.
var (
	// ErrClosed is returned by Send after Close.
	ErrClosed = errors.New("relay: transport closed")
	// ErrUnknownPeer: Send names a node that SetPeer never added.
	ErrUnknownPeer = errors.New("relay: unknown peer")
	// ErrBadConfig: Listen was given an unusable Config.
	ErrBadConfig = errors.New("relay: bad config")
	// ErrPacketType: Send accepts only TypeMedia and TypeFeedback.
	ErrPacketType = errors.New("relay: packet type not sendable")
	// ErrHopLimit: the packet has already crossed Config.MaxHops links.
	ErrHopLimit = errors.New("relay: hop limit exceeded")
	// ErrTooLarge: the payload or the header fields do not fit the framing.
	ErrTooLarge = errors.New("relay: packet too large")
	// ErrMalformed: bytes that are not a relay packet of this version.
	ErrMalformed = errors.New("relay: malformed packet")
)
