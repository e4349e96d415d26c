package serverapi

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// WebhookEvent is the JSON body of one webhook request. A redelivered
// event keeps its ID, so receivers can drop duplicates.
type WebhookEvent struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"` // room_started, room_finished, participant_joined, ...
	Timestamp time.Time `json:"timestamp"`
	Namespace string    `json:"namespace"`
	Room      string    `json:"room"`
	// Object is the event's subject: the room, participant or track, as
	// JSON (decode it by Type).
	Object json.RawMessage `json:"object,omitempty"`
}

// webhookClaims are the claims of a webhook's Authorization token: the
// API key as issuer and the base64 SHA-256 of the body.
type webhookClaims struct {
	jwt.RegisteredClaims
	SHA256 string `json:"sha256"`
}

// MaxWebhookBody bounds the body VerifyWebhook reads.
const MaxWebhookBody = 1 << 20

// VerifyWebhook reads and verifies a webhook request: its Authorization
// header must be an HS256 JWT signed by one of keys (API key -> secret),
// unexpired, whose sha256 claim is the hash of the body. Answer 2xx only
// after handling the event: rtcloud redelivers until then.
func VerifyWebhook(r *http.Request, keys map[string]string) (*WebhookEvent, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxWebhookBody+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read body: %w", ErrBadWebhook, err)
	}
	if len(body) > MaxWebhookBody {
		return nil, fmt.Errorf("%w: body over %d bytes", ErrBadWebhook, MaxWebhookBody)
	}
	return VerifyWebhookBody(r.Header.Get("Authorization"), body, keys)
}

// VerifyWebhookBody is VerifyWebhook for a body already read.
func VerifyWebhookBody(authorization string, body []byte, keys map[string]string) (*WebhookEvent, error) {
	tok := strings.TrimSpace(authorization)
	if len(tok) > 7 && strings.EqualFold(tok[:7], "bearer ") {
		tok = strings.TrimSpace(tok[7:])
	}
	var c webhookClaims
	_, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) {
		secret, ok := keys[c.Issuer]
		if !ok {
			return nil, fmt.Errorf("unknown API key %q", c.Issuer)
		}
		return []byte(secret), nil
	}, jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithLeeway(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadWebhook, err)
	}
	sum := sha256.Sum256(body)
	if c.SHA256 != base64.StdEncoding.EncodeToString(sum[:]) {
		return nil, fmt.Errorf("%w: the body's hash differs from the signed one", ErrBadWebhook)
	}
	var ev WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, fmt.Errorf("%w: body: %w", ErrBadWebhook, err)
	}
	return &ev, nil
}

// SignWebhook returns the Authorization header value rtcloud sends with
// body, for testing a receiver: an HS256 JWT issued by key, valid for
// five minutes from now, with the body's hash.
func SignWebhook(body []byte, key, secret string, now time.Time) (string, error) {
	sum := sha256.Sum256(body)
	c := webhookClaims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: key, IssuedAt: jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)), ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute))},
		SHA256: base64.StdEncoding.EncodeToString(sum[:]),
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["kid"] = key
	return tok.SignedString([]byte(secret))
}
