package sip

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
)

// API serves the SIP endpoints of the controller API:
//
//	POST   /v1/sip/rules              {"to","namespace","room","pin"} -> 201 SIPRule
//	GET    /v1/sip/rules[?namespace=] -> {"rules": [SIPRule]}
//	DELETE /v1/sip/rules/{id}         -> 204
//	POST   /v1/sip/calls              {"namespace","room","to"} -> 201 SIPCall once answered
//
// Each needs an admin token of the namespace (room "*", or the room).
type API struct {
	Rules    *Rules
	Bus      *bus.Client
	Verifier *auth.Verifier
}

// Register adds the routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/sip/rules", a.addRule)
	mux.HandleFunc("GET /v1/sip/rules", a.listRules)
	mux.HandleFunc("DELETE /v1/sip/rules/{id}", a.deleteRule)
	mux.HandleFunc("POST /v1/sip/calls", a.dial)
}

func (a *API) addRule(w http.ResponseWriter, r *http.Request) {
	var req config.DialRule
	if !decode(w, r, &req) {
		return
	}
	if req.Namespace == "" {
		req.Namespace = auth.DefaultNamespace
	}
	if err := req.Validate(); err != nil {
		writeError(w, ErrBadRequest, err.Error())
		return
	}
	if !a.authorize(w, r, req.Namespace, req.Room) {
		return
	}
	rule, err := a.Rules.Add(r.Context(), bus.SIPRule{To: req.To, Namespace: req.Namespace, Room: req.Room, PIN: req.PIN})
	if err != nil {
		writeError(w, err, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, rule)
}

func (a *API) listRules(w http.ResponseWriter, r *http.Request) {
	claims, ok := a.claims(w, r)
	if !ok {
		return
	}
	ns := r.URL.Query().Get("namespace")
	if ns == "" {
		ns = claims.Grant.Namespace
	}
	if claims.Grant.Namespace != ns || claims.Grant.Room != "*" {
		writeError(w, ErrForbidden, "listing needs an admin token for room * of namespace "+ns)
		return
	}
	all, err := a.Rules.List(r.Context())
	if err != nil {
		writeError(w, err, err.Error())
		return
	}
	out := []bus.SIPRule{}
	for _, rule := range all {
		if rule.Namespace == ns {
			out = append(out, rule)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"rules": out})
}

func (a *API) deleteRule(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rule, err := a.Rules.get(r.Context(), id)
	if err != nil {
		writeError(w, err, "no rule "+id)
		return
	}
	if !a.authorize(w, r, rule.Namespace, rule.Room) {
		return
	}
	if err := a.Rules.Delete(r.Context(), id); err != nil {
		writeError(w, err, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) dial(w http.ResponseWriter, r *http.Request) {
	var req bus.SIPCallRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Namespace == "" {
		req.Namespace = auth.DefaultNamespace
	}
	if !bus.ValidName(req.Namespace) || !bus.ValidName(req.Room) || !strings.HasPrefix(strings.ToLower(req.To), "sip:") {
		writeError(w, ErrBadRequest, "namespace and room: 1-128 characters of A-Z a-z 0-9 _ -; to: sip:user@host[:port]")
		return
	}
	if !a.authorize(w, r, req.Namespace, req.Room) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), answerTimeout+5*time.Second)
	defer cancel()
	var call bus.SIPCall
	err := a.Bus.Request(ctx, bus.SIPDial, req, &call)
	switch {
	case err == nil:
		writeJSON(w, http.StatusCreated, call)
	case errors.Is(err, bus.ErrNoResponders):
		writeJSON(w, http.StatusServiceUnavailable, errorJSON{Error: bus.Error{Code: bus.CodeUnavailable, Message: "no SIP gateway is running"}})
	case bus.IsCode(err, bus.CodeBadRequest):
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: *bus.AsError(err)})
	case bus.IsCode(err, "declined"):
		writeJSON(w, http.StatusBadGateway, errorJSON{Error: *bus.AsError(err)})
	default:
		writeJSON(w, http.StatusBadGateway, errorJSON{Error: bus.Error{Code: bus.CodeInternal, Message: err.Error()}})
	}
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, ErrBadRequest, "body: "+err.Error())
		return false
	}
	return true
}

func (a *API) claims(w http.ResponseWriter, r *http.Request) (*auth.Claims, bool) {
	h := r.Header.Get("Authorization")
	tok := ""
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		tok = strings.TrimSpace(h[7:])
	}
	claims, err := a.Verifier.Verify(tok)
	if err != nil {
		writeError(w, ErrUnauthorized, err.Error())
		return nil, false
	}
	if !claims.Grant.Admin {
		writeError(w, ErrForbidden, "the token has no admin grant")
		return nil, false
	}
	return claims, true
}

func (a *API) authorize(w http.ResponseWriter, r *http.Request, namespace, room string) bool {
	claims, ok := a.claims(w, r)
	if !ok {
		return false
	}
	if !claims.Allows(namespace, room) {
		writeError(w, ErrForbidden, "the token is for another namespace or room")
		return false
	}
	return true
}

type errorJSON struct {
	Error bus.Error `json:"error"`
}

func writeError(w http.ResponseWriter, err error, msg string) {
	status, code := http.StatusInternalServerError, bus.CodeInternal
	switch {
	case errors.Is(err, ErrBadRequest):
		status, code = http.StatusBadRequest, bus.CodeBadRequest
	case errors.Is(err, ErrUnauthorized):
		status, code = http.StatusUnauthorized, "unauthorized"
		w.Header().Set("WWW-Authenticate", `Bearer realm="rtcloud"`)
	case errors.Is(err, ErrForbidden):
		status, code = http.StatusForbidden, bus.CodeForbidden
	case errors.Is(err, ErrNotFound):
		status, code = http.StatusNotFound, bus.CodeNotFound
	}
	writeJSON(w, status, errorJSON{Error: bus.Error{Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
