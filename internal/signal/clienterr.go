package signal

import (
	"errors"
	"log/slog"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
)

// plainMessages are what clients read for each error code: stable, and
// free of internals (bus subjects, node ids, library errors), which go to
// the server's log only.
var plainMessages = map[string]string{
	protocol.CodeBadRequest:  "the request is invalid",
	protocol.CodeNotFound:    "no such session, track or mid",
	protocol.CodeForbidden:   "not allowed by the token",
	protocol.CodeUnsupported: "nothing in the offer can be used (no supported codec)",
	protocol.CodeUnavailable: "no media node can serve this now; try again",
	protocol.CodeInternal:    "internal error",
}

// clientError maps err to a protocol code and a plain message for the
// client, and logs the details.
func (s *Server) clientError(log *slog.Logger, what string, err error) (code, msg string) {
	var le *limitError
	if errors.As(err, &le) {
		return le.code, what + ": " + le.msg
	}
	var be *bus.Error
	if errors.As(err, &be) && be.Code == bus.CodeLimit {
		// The node's own words about which of its limits was hit.
		s.met.refused.WithLabelValues("node").Inc()
		log.Info(what+" refused by a node limit", "err", err)
		return protocol.CodeLimit, what + ": " + be.Message
	}
	if errors.Is(err, ErrBadSDP) {
		// This package's own words about the client's own SDP.
		return protocol.CodeBadRequest, what + ": " + err.Error()
	}
	code = protocolCode(err)
	msg = plainMessages[code]
	if msg == "" {
		msg = plainMessages[protocol.CodeInternal]
	}
	if code == protocol.CodeInternal || code == protocol.CodeUnavailable {
		log.Warn(what+" failed", "code", code, "err", err)
	} else {
		log.Info(what+" refused", "code", code, "err", err)
	}
	return code, what + ": " + msg
}
