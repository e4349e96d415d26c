package webhook_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rtcloud/rtcloud/internal/webhook"
)

// verifySnippet is the receiver code of docs/api.md, word for word: it must
// accept what the service signs.
func verifySnippet(r *http.Request, secrets map[string]string) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	var c struct {
		jwt.RegisteredClaims
		SHA256 string `json:"sha256"`
	}
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	_, err = jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) {
		s, ok := secrets[c.Issuer]
		if !ok {
			return nil, errors.New("unknown key")
		}
		return []byte(s), nil
	}, jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	if c.SHA256 != base64.StdEncoding.EncodeToString(sum[:]) {
		return nil, errors.New("body does not match its signature")
	}
	return body, nil
}

func TestDocsSnippetVerifies(t *testing.T) {
	body := []byte(`{"id":"EV_7_0","type":"room_started"}`)
	tok, err := webhook.Sign(body, "k", "s", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/hook", bytes.NewReader(body))
	req.Header.Set("Authorization", tok)
	if got, err := verifySnippet(req, map[string]string{"k": "s"}); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("the documented receiver refuses a genuine request: %v", err)
	}
	req = httptest.NewRequest("POST", "/hook", bytes.NewReader(append(body, '!')))
	req.Header.Set("Authorization", tok)
	if _, err := verifySnippet(req, map[string]string{"k": "s"}); err == nil {
		t.Fatal("the documented receiver accepts a changed body")
	}
}
