package dashboard

import "errors"

// Errors of the dashboard API; handlers map them to HTTP statuses.
var (
	// ErrUnauthorized means the token is missing, forged or expired.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden means the token does not cover what was asked.
	ErrForbidden = errors.New("forbidden")
)
