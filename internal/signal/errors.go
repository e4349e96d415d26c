package signal

import (
	"context"
	"errors"
	"net/http"

	"github.com/coder/websocket"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/directory"
	"github.com/rtcloud/rtcloud/internal/protocol"
)

// Sentinel errors of the signaling server.
var (
	// ErrBadSDP means an offer or sdpfrag does not parse.
	ErrBadSDP = errors.New("SDP does not parse")
	// ErrNoPublisher means a WHEP request found nothing to watch.
	ErrNoPublisher = errors.New("nothing published yet")
	// ErrClosed means the server is shutting down.
	ErrClosed = errors.New("signal: server closed")
)

// protocolCode maps an error from the bus, the directory or this package
// to a protocol error code.
func protocolCode(err error) string {
	var be *bus.Error
	var le *limitError
	switch {
	case errors.As(err, &le):
		return le.code
	case errors.As(err, &be):
		switch be.Code {
		case bus.CodeLimit:
			return protocol.CodeLimit
		case bus.CodeBadRequest, bus.CodeNotFound, bus.CodeForbidden, bus.CodeUnsupported, bus.CodeUnavailable:
			return be.Code
		}
		return protocol.CodeInternal
	case errors.Is(err, ErrBadSDP):
		return protocol.CodeBadRequest
	case errors.Is(err, directory.ErrNotFound):
		return protocol.CodeNotFound
	case errors.Is(err, directory.ErrNoNode), errors.Is(err, bus.ErrNoResponders),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, ErrClosed):
		return protocol.CodeUnavailable
	}
	return protocol.CodeInternal
}

// httpStatus maps a protocol error code to an HTTP status.
func httpStatus(code string) int {
	switch code {
	case protocol.CodeMalformed, protocol.CodeBadRequest, protocol.CodeUnsupported:
		return http.StatusBadRequest
	case protocol.CodeUnauthorized:
		return http.StatusUnauthorized
	case protocol.CodeForbidden:
		return http.StatusForbidden
	case protocol.CodeNotFound:
		return http.StatusNotFound
	case protocol.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case protocol.CodeLimit:
		return http.StatusBadRequest
	case protocol.CodeRateLimited:
		return http.StatusTooManyRequests
	case protocol.CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// joinCloseCode is the WebSocket close code after a failed join.
func joinCloseCode(code string) websocket.StatusCode {
	switch code {
	case protocol.CodeUnauthorized:
		return protocol.CloseUnauthorized
	case protocol.CodeForbidden:
		return protocol.CloseForbidden
	case protocol.CodeUnavailable:
		return websocket.StatusTryAgainLater
	case protocol.CodeInternal:
		return websocket.StatusInternalError
	}
	return websocket.StatusPolicyViolation
}
