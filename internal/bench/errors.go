package bench

import "errors"

// Errors of the load generator; check them with errors.Is.
var (
	ErrOptions = errors.New("bench: invalid options")
	ErrNoJoins = errors.New("bench: no subscriber joined")
	ErrMetrics = errors.New("bench: server metrics")
	ErrPublish = errors.New("bench: publisher failed")
)
