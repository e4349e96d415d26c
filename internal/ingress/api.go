package ingress

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/rtcloud/rtcloud/internal/adminapi"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// API serves the ingress key endpoints of the controller API:
//
//	POST   /v1/ingress              {"namespace","room","identity","name"} -> 201 IngressInfo
//	GET    /v1/ingress[?namespace=] -> {"ingress": [IngressInfo]}
//	DELETE /v1/ingress/{key}        -> 204
//
// Each needs an admin token of the namespace (room "*" or the room).
type API struct {
	Keys     *Keys
	Verifier *auth.Verifier
	// URL is the RTMP URL handed to encoders (rtmp://HOST:1935/live).
	URL string
}

// Register adds the routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/ingress", a.create)
	mux.HandleFunc("GET /v1/ingress", a.list)
	mux.HandleFunc("DELETE /v1/ingress/{key}", a.remove)
}

type createRequest struct {
	Namespace string `json:"namespace"`
	Room      string `json:"room"`
	Identity  string `json:"identity"`
	Name      string `json:"name"`
}

func (a *API) create(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10)).Decode(&req); err != nil {
		writeError(w, ErrBadRequest, "body: "+err.Error())
		return
	}
	if req.Namespace == "" {
		req.Namespace = auth.DefaultNamespace
	}
	if !bus.ValidName(req.Namespace) || !bus.ValidName(req.Room) {
		writeError(w, ErrBadRequest, "namespace and room: 1-128 characters of A-Z a-z 0-9 _ -")
		return
	}
	if req.Identity == "" {
		req.Identity = "rtmp-" + req.Room
	}
	if len(req.Identity) > 128 || len(req.Name) > 256 {
		writeError(w, ErrBadRequest, "identity: at most 128 bytes; name: at most 256")
		return
	}
	if !adminapi.Authorize(w, r, a.Verifier, req.Namespace, req.Room) {
		return
	}
	info, err := a.Keys.Create(r.Context(), bus.IngressInfo{URL: a.URL, Namespace: req.Namespace, Room: req.Room,
		Identity: req.Identity, Name: req.Name})
	if err != nil {
		writeError(w, err, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, info)
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	ns := r.URL.Query().Get("namespace")
	claims, ok := adminapi.Admin(w, r, a.Verifier)
	if !ok {
		return
	}
	if ns == "" {
		ns = claims.Grant.Namespace
	}
	if claims.Grant.Namespace != ns || claims.Grant.Room != "*" {
		writeError(w, ErrForbidden, "listing needs an admin token for room * of namespace "+ns)
		return
	}
	list, err := a.Keys.List(r.Context(), ns)
	if err != nil {
		writeError(w, err, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ingress": list})
}

func (a *API) remove(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	info, err := a.Keys.Get(r.Context(), key)
	if err != nil {
		writeError(w, err, "no ingress key "+key)
		return
	}
	if !adminapi.Authorize(w, r, a.Verifier, info.Namespace, info.Room) {
		return
	}
	if err := a.Keys.Delete(r.Context(), key); err != nil {
		writeError(w, err, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
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
