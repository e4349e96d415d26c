package sip

import "errors"

// Why a call is refused or ends; the API maps the first three to HTTP
// statuses.
var (
	ErrBadRequest = errors.New("bad request")
	ErrForbidden  = errors.New("forbidden")
	ErrNotFound   = errors.New("not found")

	// ErrNoRule: no dial rule matches the called number or URI.
	ErrNoRule = errors.New("no dial rule for this number")
	// ErrNoCodec: the offer has none of PCMU, PCMA and Opus.
	ErrNoCodec = errors.New("no common codec (PCMU, PCMA or Opus)")
	// ErrBadSDP: the session description cannot be used.
	ErrBadSDP = errors.New("bad session description")
	// ErrNoPorts: every RTP port of the configured range is in use.
	ErrNoPorts = errors.New("no free RTP port")
	// ErrWrongPIN: the caller keyed in a wrong PIN or none in time.
	ErrWrongPIN = errors.New("wrong or missing PIN")
	// ErrRTPTimeout: the caller sent no RTP for sip.rtp_timeout.
	ErrRTPTimeout = errors.New("no RTP from the caller")
	// ErrDeclined: the callee of an outbound call did not answer.
	ErrDeclined = errors.New("the call was not answered")
	// ErrRemoved: the room ended the call's session (a kick, the room
	// closing), possibly while the call was still joining.
	ErrRemoved = errors.New("removed from the room")
)
