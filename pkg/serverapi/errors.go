package serverapi

import (
	"errors"
	"fmt"
)

// Errors; check them with errors.Is.
var (
	// ErrBadToken: the token options are incomplete or invalid.
	ErrBadToken = errors.New("serverapi: invalid token options")
	// ErrBadWebhook: a webhook's signature or body hash does not verify,
	// or its body is not an event.
	ErrBadWebhook = errors.New("serverapi: webhook does not verify")
	// ErrAPI: the controller answered with an error (see *APIError).
	ErrAPI = errors.New("serverapi: API error")
)

// APIError is an error answer of the controller: the HTTP status and the
// error's stable code (bad_request, unauthorized, forbidden, not_found,
// unavailable) and message.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.Status, e.Message)
}

// Unwrap makes errors.Is(err, ErrAPI) hold.
func (e *APIError) Unwrap() error { return ErrAPI }

// IsCode reports whether err is an APIError with code.
func IsCode(err error, code string) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == code
}
