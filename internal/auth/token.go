// Package auth mints and verifies rtcloud access tokens: HS256 JWTs issued
// by an API key, scoped to one namespace and room, carrying an identity and
// grants.
package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// Errors returned by Verify; callers map them to 401/403.
var (
	ErrMissingToken = errors.New("missing token")
	ErrInvalidToken = errors.New("invalid token")
	ErrExpired      = errors.New("token expired")
	ErrUnknownKey   = errors.New("unknown API key")
)

// Dev credentials used by `rtcloud dev` and by default everywhere.
const (
	DevKey    = "devkey"
	DevSecret = "secret"
)

// DefaultNamespace is the namespace of tokens that name none.
const DefaultNamespace = "default"

// Grant is what a token allows, in which room.
type Grant struct {
	Namespace string `json:"namespace"`
	// Room is the room the token admits to; "*" with Admin admits to every
	// room of the namespace.
	Room      string `json:"room"`
	Publish   bool   `json:"publish"`
	Subscribe bool   `json:"subscribe"`
	Admin     bool   `json:"admin,omitempty"`
	// Hidden joins unseen by the others (egress recorders).
	Hidden bool `json:"hidden,omitempty"`
}

// Claims are the JWT claims of an access token.
type Claims struct {
	jwt.RegisteredClaims
	Name     string `json:"name,omitempty"`
	Metadata string `json:"metadata,omitempty"`
	Grant    Grant  `json:"rtc"`
}

// Identity is the participant identity (the JWT subject).
func (c *Claims) Identity() string { return c.Subject }

// Grants converts the token's grant into bus grants.
func (c *Claims) Grants() bus.Grants {
	return bus.Grants{Publish: c.Grant.Publish, Subscribe: c.Grant.Subscribe, Admin: c.Grant.Admin, Hidden: c.Grant.Hidden}
}

// TokenOptions describe a token to mint.
type TokenOptions struct {
	Key, Secret string
	Identity    string
	Name        string
	Metadata    string
	Grant       Grant
	TTL         time.Duration // default 6h
	Now         time.Time     // default time.Now()
}

// Mint signs a token.
func Mint(o TokenOptions) (string, error) {
	if o.Key == "" || o.Secret == "" {
		return "", errors.New("API key and secret are required")
	}
	if o.Identity == "" {
		return "", errors.New("identity is required")
	}
	if o.Grant.Namespace == "" {
		o.Grant.Namespace = DefaultNamespace
	}
	if !bus.ValidName(o.Grant.Namespace) {
		return "", fmt.Errorf("namespace %q: use 1-128 characters of A-Z a-z 0-9 _ -", o.Grant.Namespace)
	}
	if !(o.Grant.Room == "*" && o.Grant.Admin) && !bus.ValidName(o.Grant.Room) {
		return "", fmt.Errorf("room %q: use 1-128 characters of A-Z a-z 0-9 _ - (or * with admin)", o.Grant.Room)
	}
	if o.TTL <= 0 {
		o.TTL = 6 * time.Hour
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    o.Key,
			Subject:   o.Identity,
			IssuedAt:  jwt.NewNumericDate(o.Now),
			NotBefore: jwt.NewNumericDate(o.Now.Add(-time.Minute)),
			ExpiresAt: jwt.NewNumericDate(o.Now.Add(o.TTL)),
		},
		Name:     o.Name,
		Metadata: o.Metadata,
		Grant:    o.Grant,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = o.Key
	return tok.SignedString([]byte(o.Secret))
}

// Verifier checks tokens against a set of API keys.
type Verifier struct {
	secrets map[string]string // key -> secret
	now     func() time.Time
}

// NewVerifier returns a Verifier for keys (API key -> secret).
func NewVerifier(keys map[string]string) *Verifier {
	m := make(map[string]string, len(keys))
	for k, v := range keys {
		m[k] = v
	}
	return &Verifier{secrets: m, now: time.Now}
}

// Verify parses and checks a token: signature, algorithm, expiry, and that
// it names a valid namespace, room and identity.
func (v *Verifier) Verify(token string) (*Claims, error) {
	if token == "" {
		return nil, ErrMissingToken
	}
	if len(token) > 8<<10 {
		return nil, fmt.Errorf("%w: too long", ErrInvalidToken)
	}
	claims := &Claims{}
	_, err := jwt.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		key, _ := t.Claims.(*Claims)
		if key == nil {
			return nil, ErrInvalidToken
		}
		secret, ok := v.secrets[key.Issuer]
		if !ok {
			return nil, fmt.Errorf("%w %q", ErrUnknownKey, key.Issuer)
		}
		return []byte(secret), nil
	}, jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(v.now), jwt.WithExpirationRequired(), jwt.WithLeeway(5*time.Second))
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrExpired
	case errors.Is(err, ErrUnknownKey):
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	default:
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	g := claims.Grant
	if claims.Subject == "" || len(claims.Subject) > 256 {
		return nil, fmt.Errorf("%w: identity missing or too long", ErrInvalidToken)
	}
	if !bus.ValidName(g.Namespace) {
		return nil, fmt.Errorf("%w: bad namespace", ErrInvalidToken)
	}
	if !(g.Room == "*" && g.Admin) && !bus.ValidName(g.Room) {
		return nil, fmt.Errorf("%w: bad room", ErrInvalidToken)
	}
	return claims, nil
}

// Allows reports whether the claims admit to room in namespace.
func (c *Claims) Allows(namespace, room string) bool {
	if c.Grant.Namespace != namespace {
		return false
	}
	return c.Grant.Room == room || (c.Grant.Admin && c.Grant.Room == "*")
}
