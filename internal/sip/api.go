package sip

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/rtcloud/rtcloud/internal/adminapi"
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
	if !adminapi.Authorize(w, r, a.Verifier, req.Namespace, req.Room) {
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
	claims, ok := adminapi.Admin(w, r, a.Verifier)
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
	if !adminapi.Authorize(w, r, a.Verifier, rule.Namespace, rule.Room) {
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
	if !adminapi.Authorize(w, r, a.Verifier, req.Namespace, req.Room) {
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
		adminapi.WriteError(w, http.StatusServiceUnavailable, bus.CodeUnavailable, "no SIP gateway is running")
	case bus.IsCode(err, bus.CodeBadRequest):
		writeBusError(w, http.StatusBadRequest, err)
	case bus.IsCode(err, "declined"):
		writeBusError(w, http.StatusBadGateway, err)
	default:
		adminapi.WriteError(w, http.StatusBadGateway, bus.CodeInternal, err.Error())
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

// writeError maps err to an HTTP status and writes msg.
func writeError(w http.ResponseWriter, err error, msg string) {
	status, code := http.StatusInternalServerError, bus.CodeInternal
	switch {
	case errors.Is(err, ErrBadRequest):
		status, code = http.StatusBadRequest, bus.CodeBadRequest
	case errors.Is(err, ErrForbidden):
		status, code = http.StatusForbidden, bus.CodeForbidden
	case errors.Is(err, ErrNotFound):
		status, code = http.StatusNotFound, bus.CodeNotFound
	}
	adminapi.WriteError(w, status, code, msg)
}

func writeJSON(w http.ResponseWriter, status int, v any) { adminapi.WriteJSON(w, status, v) }

// writeBusError passes on the code and message of a gateway's reply.
func writeBusError(w http.ResponseWriter, status int, err error) {
	e := bus.AsError(err)
	adminapi.WriteError(w, status, e.Code, e.Message)
}
