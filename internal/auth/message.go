package auth

import "errors"

// Message is a plain, stable sentence for a Verify error, for clients: it
// never carries the token library's words.
func Message(err error) string {
	switch {
	case errors.Is(err, ErrMissingToken):
		return "no token"
	case errors.Is(err, ErrExpired):
		return "token expired"
	case errors.Is(err, ErrUnknownKey):
		return "token signed with an unknown API key"
	}
	return "invalid token"
}
