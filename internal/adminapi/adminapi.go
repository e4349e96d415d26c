// Package adminapi holds what the admin HTTP APIs of the controller
// (ingress keys, SIP, egress) share: the admin-token check and the JSON
// replies, errors included, in the shape {"error":{"code","message"}}.
package adminapi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// Admin verifies the request's bearer token and that it carries the admin
// grant. On failure it writes 401 or 403 and returns false.
func Admin(w http.ResponseWriter, r *http.Request, v *auth.Verifier) (*auth.Claims, bool) {
	tok := ""
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		tok = strings.TrimSpace(h[7:])
	}
	claims, err := v.Verify(tok)
	if err != nil {
		WriteError(w, http.StatusUnauthorized, "unauthorized", auth.Message(err))
		return nil, false
	}
	if !claims.Grant.Admin {
		WriteError(w, http.StatusForbidden, bus.CodeForbidden, "the token has no admin grant")
		return nil, false
	}
	return claims, true
}

// Authorize is Admin for a token of namespace, for room or "*".
func Authorize(w http.ResponseWriter, r *http.Request, v *auth.Verifier, namespace, room string) bool {
	claims, ok := Admin(w, r, v)
	if !ok {
		return false
	}
	if !claims.Allows(namespace, room) {
		WriteError(w, http.StatusForbidden, bus.CodeForbidden, "the token is for another namespace or room")
		return false
	}
	return true
}

type errorJSON struct {
	Error bus.Error `json:"error"`
}

// WriteError writes {"error":{"code","message"}} with status; a 401 also
// gets the WWW-Authenticate challenge.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rtcloud"`)
	}
	WriteJSON(w, status, errorJSON{Error: bus.Error{Code: code, Message: msg}})
}

// WriteJSON writes v, indented, with status; replies are not cached.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
