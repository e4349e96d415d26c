package webhook

import "errors"

// Errors of the webhook package.
var (
	// ErrNoKey means no API key is configured to sign requests with.
	ErrNoKey = errors.New("webhook: no API key to sign with")
	// ErrBadSignature means a request's Authorization token or body hash
	// does not verify.
	ErrBadSignature = errors.New("webhook: bad signature")
	// ErrStatus means a receiver answered with a status other than 2xx.
	ErrStatus = errors.New("webhook: receiver answered with an error status")
)
