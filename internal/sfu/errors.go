package sfu

import "errors"

// Sentinel errors of the node. Command handlers map them to bus error
// codes in commands.go.
var (
	ErrClosed        = errors.New("sfu: node closed")
	ErrBadSDP        = errors.New("sfu: malformed SDP")
	ErrNothingUsable = errors.New("sfu: offer has no usable media")
	ErrNoSession     = errors.New("sfu: unknown session")
	ErrNoTrack       = errors.New("sfu: unknown track")
	ErrNoMID         = errors.New("sfu: unknown mid")
	ErrForbidden     = errors.New("sfu: not allowed by grants")
	ErrBadRequest    = errors.New("sfu: bad request")
	ErrCodec         = errors.New("sfu: codec not negotiated on this mid")
	// ErrLimit: a command over one of the limits of limits.go.
	ErrLimit = errors.New("over a limit")
	// errSenderMismatch means Pion attached a down track to another
	// transceiver than the one it was made for (a bug, never expected).
	errSenderMismatch = errors.New("sfu: sender attached to another transceiver")
)
