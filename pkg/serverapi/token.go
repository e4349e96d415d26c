// Package serverapi is what an application's backend needs from rtcloud:
// it mints access tokens for its users, calls the controller's admin API
// (rooms, participants, kick, node drain) and the egress and ingress APIs,
// and verifies the webhooks rtcloud sends. See docs/go-sdk.md.
package serverapi

import (
	"fmt"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
)

// DefaultNamespace is the namespace of tokens that name none.
const DefaultNamespace = auth.DefaultNamespace

// TokenOptions describe an access token: who joins which room with which
// rights.
type TokenOptions struct {
	Identity  string // required: the participant's identity
	Name      string // display name
	Metadata  string // application metadata of the participant
	Namespace string // default DefaultNamespace
	Room      string // required; "*" only with Admin
	Publish   bool
	Subscribe bool
	// Admin allows the admin API for Room ("*": every room of Namespace).
	Admin bool
	TTL   time.Duration // default 6h
}

// NewToken signs an access token with an API key and its secret (the
// keys the servers are configured with). Hand it to a browser or a Go
// client to join the room.
func NewToken(key, secret string, o TokenOptions) (string, error) {
	tok, err := auth.Mint(auth.TokenOptions{Key: key, Secret: secret, Identity: o.Identity, Name: o.Name,
		Metadata: o.Metadata, TTL: o.TTL, Grant: auth.Grant{Namespace: o.Namespace, Room: o.Room,
			Publish: o.Publish, Subscribe: o.Subscribe, Admin: o.Admin}})
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	return tok, nil
}
