package client

import (
	"errors"
	"fmt"
	"io"

	"github.com/rtcloud/rtcloud/internal/protocol"
)

// Errors returned by the client; check them with errors.Is.
var (
	ErrClosed       = errors.New("client: closed")
	ErrNotFound     = errors.New("client: no such track or subscription")
	ErrBadSpec      = errors.New("client: invalid track spec")
	ErrUnexpected   = errors.New("client: unexpected server message")
	ErrHTTPStatus   = errors.New("client: unexpected HTTP status")
	ErrNotPublished = errors.New("client: nothing published yet")
	// ErrSessionLost: Reconnect found the session ended; join anew.
	ErrSessionLost = errors.New("client: session lost")
	// ErrNoMedia: nothing was received on the track yet.
	ErrNoMedia = errors.New("client: no media received yet")
	// ErrBadPacket: a received packet is not valid RTP.
	ErrBadPacket = errors.New("client: malformed RTP packet")
	// ErrBadMedia: a stream given to PublishReader cannot be read.
	ErrBadMedia = errors.New("client: unreadable media stream")
	// ErrUnpublished: the track was unpublished (LocalTrack.Err).
	ErrUnpublished = errors.New("client: track unpublished")
)

// ServerError is an error message received from the server.
type ServerError struct {
	Code    string
	Message string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("server error %s: %s", e.Code, e.Message)
}

func serverError(e *protocol.Error) error {
	if e == nil {
		return &ServerError{Code: protocol.CodeInternal, Message: "error without details"}
	}
	return &ServerError{Code: e.Code, Message: e.Message}
}

// IsCode reports whether err is a ServerError with the given code.
func IsCode(err error, code string) bool {
	var se *ServerError
	return errors.As(err, &se) && se.Code == code
}

func isClosedErr(err error) bool {
	return errors.Is(err, io.ErrClosedPipe) || errors.Is(err, io.EOF)
}
