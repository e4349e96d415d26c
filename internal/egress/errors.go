// Package egress takes media out of rooms: track egress (one published
// track to a file without transcoding), room composite (every
// participant's video in a layout and all audio mixed, encoded by an
// ffmpeg subprocess to MP4, RTMP and HLS), and storage of the results in
// a local directory or an S3 bucket. A Worker runs egresses for the bus;
// the API serves /v1/egress and hands jobs to workers.
package egress

import "errors"

// Errors; the API maps them to HTTP statuses.
var (
	ErrBadRequest  = errors.New("bad request")
	ErrNotFound    = errors.New("not found")
	ErrForbidden   = errors.New("forbidden")
	ErrUnavailable = errors.New("no egress worker can take the job")
	ErrCodec       = errors.New("codec does not fit the output")
)
