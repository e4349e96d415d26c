package ingress

import "errors"

// Why a publisher is refused or a stream ends; the API maps the first
// three to HTTP statuses.
var (
	ErrBadRequest = errors.New("bad request")
	ErrForbidden  = errors.New("forbidden")
	ErrNotFound   = errors.New("not found")

	// ErrBadKey: the stream key is neither a valid token nor an ingress key.
	ErrBadKey = errors.New("unknown stream key")
	// ErrNoPublish: the token's grant does not allow publishing.
	ErrNoPublish = errors.New("the token does not allow publishing")
	// ErrUnsupported: a codec other than H.264 video and AAC or Opus audio.
	ErrUnsupported = errors.New("unsupported codec")
	// ErrKeyInUse: another encoder is publishing with the same key.
	ErrKeyInUse = errors.New("another encoder is already publishing with this key")
	// ErrBadApp: the URL's application is not "live".
	ErrBadApp = errors.New("unknown RTMP application (use rtmp://HOST:1935/live)")
	// ErrPlay: the gateway only takes publishers.
	ErrPlay = errors.New("playback is not supported; this server only ingests")
)
