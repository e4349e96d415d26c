package controller

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/version"
)

// Handler serves the controller's HTTP API: /healthz, /v1/status,
// /v1/allocate and the admin API under /v1/admin/.
func (c *Controller) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !c.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /version", version.Handler())
	mux.HandleFunc("GET /v1/status", c.handleStatus)
	mux.HandleFunc("GET /v1/allocate", c.handleAllocate)
	mux.HandleFunc("GET /v1/admin/nodes", c.admin(true, c.handleNodes))
	mux.HandleFunc("POST /v1/admin/nodes/{id}/drain", c.admin(true, c.handleDrain(true)))
	mux.HandleFunc("DELETE /v1/admin/nodes/{id}/drain", c.admin(true, c.handleDrain(false)))
	mux.HandleFunc("GET /v1/admin/routes", c.admin(true, c.handleRoutes))
	mux.HandleFunc("GET /v1/admin/links", c.admin(true, c.handleLinks))
	mux.HandleFunc("GET /v1/admin/rooms", c.admin(false, c.handleRooms))
	mux.HandleFunc("GET /v1/admin/rooms/{namespace}/{room}", c.admin(false, c.handleRoom))
	mux.HandleFunc("DELETE /v1/admin/rooms/{namespace}/{room}/participants/{identity}", c.admin(false, c.handleKick))
	mux.HandleFunc("GET /v1/admin/streams", c.admin(false, c.handleStreams))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, ErrNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return http.MaxBytesHandler(mux, 64<<10)
}

type statusJSON struct {
	ID       string `json:"id"`
	Leader   bool   `json:"leader"`
	LeaderID string `json:"leader_id,omitempty"`
}

func (c *Controller) handleStatus(w http.ResponseWriter, _ *http.Request) {
	l, id := c.elect.status()
	writeJSON(w, http.StatusOK, statusJSON{ID: c.opts.ID, Leader: l, LeaderID: id})
}

type allocationJSON struct {
	Placement
	Controller string `json:"controller"`
}

func (c *Controller) handleAllocate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := bus.AllocateRequest{Namespace: q.Get("namespace"), Room: q.Get("room"), ClientIP: q.Get("ip")}
	if req.Namespace == "" {
		req.Namespace = auth.DefaultNamespace
	}
	if req.Room == "" {
		writeError(w, ErrBadRequest, "room is required")
		return
	}
	if req.ClientIP == "" {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			req.ClientIP = host
		}
	}
	tok := bearer(r)
	if tok != "" || c.opts.Config.AllocateRequiresToken {
		claims, err := c.opts.Verifier.Verify(tok)
		if err != nil {
			c.log.Debug("token refused", "err", err)
			writeError(w, ErrUnauthorized, auth.Message(err))
			return
		}
		if !claims.Allows(req.Namespace, req.Room) {
			writeError(w, ErrForbidden, "the token does not admit to this room")
			return
		}
	}
	// Without a token the answer is a preview: nothing is stored until a
	// participant joins (through a signaling server) or a token is sent.
	p, err := c.allocate(r.Context(), req, "http", tok != "")
	if err != nil {
		c.fail(w, "allocate", err)
		return
	}
	writeJSON(w, http.StatusOK, allocationJSON{Placement: p, Controller: c.opts.ID})
}

// admin wraps h with the admin token check. operator endpoints (nodes)
// need an admin token for every room ("*") of the operator namespace;
// room endpoints need an admin token of the namespace in question, which
// h checks with claims.
func (c *Controller) admin(operator bool, h func(http.ResponseWriter, *http.Request, *auth.Claims)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		claims, err := c.opts.Verifier.Verify(bearer(r))
		if err != nil {
			c.log.Debug("token refused", "err", err)
			writeError(w, ErrUnauthorized, auth.Message(err))
			return
		}
		if !claims.Grant.Admin {
			writeError(w, ErrForbidden, "the token has no admin grant")
			return
		}
		if operator && (claims.Grant.Namespace != c.opts.Config.OperatorNamespace || claims.Grant.Room != "*") {
			writeError(w, ErrForbidden, "node operations need an admin token for room * of namespace "+c.opts.Config.OperatorNamespace)
			return
		}
		h(w, r, claims)
	}
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

type errorJSON struct {
	Error bus.Error `json:"error"`
}

// plainMessages are what clients read for errors whose details (bus
// subjects, node ids, library errors) go only to the log.
var plainMessages = map[int]string{
	http.StatusServiceUnavailable:  "no media node can take the room now; try again",
	http.StatusInternalServerError: "internal error",
}

// fail writes err's status with a plain message when the error is the
// server's (5xx, whose text may name internals) and logs the details;
// the caller's own mistakes (4xx) keep their message.
func (c *Controller) fail(w http.ResponseWriter, what string, err error) {
	status, _ := statusOf(err)
	msg := err.Error()
	if m, ok := plainMessages[status]; ok {
		c.log.Warn(what+" failed", "err", err)
		msg = m
	}
	writeError(w, err, what+": "+msg)
}

// writeError maps err to an HTTP status and writes a JSON error.
func writeError(w http.ResponseWriter, err error, msg string) {
	status, code := statusOf(err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rtcloud"`)
	}
	writeJSON(w, status, errorJSON{Error: bus.Error{Code: code, Message: msg}})
}

// statusOf maps err to an HTTP status and an error code.
func statusOf(err error) (status int, code string) {
	status, code = http.StatusInternalServerError, bus.CodeInternal
	switch {
	case errors.Is(err, ErrBadRequest):
		status, code = http.StatusBadRequest, bus.CodeBadRequest
	case errors.Is(err, ErrUnauthorized):
		status, code = http.StatusUnauthorized, "unauthorized"
	case errors.Is(err, ErrForbidden):
		status, code = http.StatusForbidden, bus.CodeForbidden
	case errors.Is(err, ErrNotFound):
		status, code = http.StatusNotFound, bus.CodeNotFound
	case errors.Is(err, ErrNoNode), errors.Is(err, ErrRoomFull):
		status, code = http.StatusServiceUnavailable, bus.CodeUnavailable
	}
	return status, code
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
