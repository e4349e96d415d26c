package transcode

import "errors"

var (
	// ErrBadStream is a malformed Ogg or Opus stream.
	ErrBadStream = errors.New("malformed stream")
	// ErrClosed is a write to a stopped process.
	ErrClosed = errors.New("transcoder closed")
)
