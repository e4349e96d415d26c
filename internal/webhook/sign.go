package webhook

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// claims are those of the Authorization token: the API key as issuer and
// the base64 SHA-256 of the body, as LiveKit's webhooks carry them.
type claims struct {
	jwt.RegisteredClaims
	SHA256 string `json:"sha256"`
}

// Sign returns the Authorization header value for body: an HS256 JWT
// issued by key, signed with secret, valid for 5 minutes, whose sha256
// claim is the base64 SHA-256 of body.
func Sign(body []byte, key, secret string, now time.Time) (string, error) {
	sum := sha256.Sum256(body)
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    key,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)),
		},
		SHA256: base64.StdEncoding.EncodeToString(sum[:]),
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["kid"] = key
	return tok.SignedString([]byte(secret))
}

// Verify checks an Authorization header value (with or without "Bearer ")
// against body and the API keys (key -> secret); it returns the key.
func Verify(authorization string, body []byte, keys map[string]string) (string, error) {
	tok := strings.TrimSpace(authorization)
	if len(tok) > 7 && strings.EqualFold(tok[:7], "bearer ") {
		tok = strings.TrimSpace(tok[7:])
	}
	var c claims
	_, err := jwt.ParseWithClaims(tok, &c, func(t *jwt.Token) (any, error) {
		secret, ok := keys[c.Issuer]
		if !ok {
			return nil, fmt.Errorf("unknown key %q", c.Issuer)
		}
		return []byte(secret), nil
	}, jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithLeeway(5*time.Second))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	sum := sha256.Sum256(body)
	if c.SHA256 != base64.StdEncoding.EncodeToString(sum[:]) {
		return "", fmt.Errorf("%w: body hash differs", ErrBadSignature)
	}
	return c.Issuer, nil
}
