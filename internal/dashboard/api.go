package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/rtcloud/rtcloud/internal/controller"
)

func (d *Dashboard) handleOverview(w http.ResponseWriter, _ *http.Request, v viewer) {
	writeJSON(w, http.StatusOK, d.overview(v))
}

type historyJSON struct {
	StepSeconds int          `json:"step_seconds"`
	Nodes       []nodeSeries `json:"nodes"`
}

func (d *Dashboard) history(v viewer) historyJSON {
	h := historyJSON{StepSeconds: int(historyStep / time.Second), Nodes: []nodeSeries{}}
	if v.Operator {
		h.Nodes = d.hist.snapshot()
	}
	return h
}

func (d *Dashboard) handleHistory(w http.ResponseWriter, _ *http.Request, v viewer) {
	if !v.Operator {
		writeError(w, http.StatusForbidden, "node history needs an operator token")
		return
	}
	writeJSON(w, http.StatusOK, d.history(v))
}

// topology is the nodes, where rooms live and, once the relay serves
// them, its links, routes and streams (raw, as the admin API gives them).
type topology struct {
	Regions []regionNodes   `json:"regions"`
	Rooms   []roomSummary   `json:"rooms"`
	Links   json.RawMessage `json:"links"`
	Routes  json.RawMessage `json:"routes"`
	Streams json.RawMessage `json:"streams"`
}

func (d *Dashboard) handleTopology(w http.ResponseWriter, r *http.Request, v viewer) {
	if !v.Operator {
		writeError(w, http.StatusForbidden, "the topology needs an operator token")
		return
	}
	o := d.overview(v)
	t := topology{Regions: o.Regions, Rooms: o.Rooms}
	t.Links = d.adminGet(r, "/v1/admin/links")
	t.Routes = d.adminGet(r, "/v1/admin/routes")
	t.Streams = d.adminGet(r, "/v1/admin/streams")
	writeJSON(w, http.StatusOK, t)
}

// adminGet asks the controller's admin API, with the viewer's own token;
// null when the endpoint does not exist (yet) or fails.
func (d *Dashboard) adminGet(r *http.Request, path string) json.RawMessage {
	req := httptest.NewRequestWithContext(r.Context(), http.MethodGet, path, nil)
	req.Header.Set("Authorization", r.Header.Get("Authorization"))
	rec := httptest.NewRecorder()
	d.opts.Cluster.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !json.Valid(rec.Body.Bytes()) {
		return json.RawMessage("null")
	}
	return json.RawMessage(bytes.TrimSpace(rec.Body.Bytes()))
}

func (d *Dashboard) handleRoom(w http.ResponseWriter, r *http.Request, v viewer) {
	ns, room := r.PathValue("namespace"), r.PathValue("room")
	if !v.sees(ns) {
		writeError(w, http.StatusForbidden, "the token is for namespace "+v.Namespace)
		return
	}
	st, err := d.opts.Cluster.Room(r.Context(), ns, room)
	if err != nil {
		writeClusterError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (d *Dashboard) handleKick(w http.ResponseWriter, r *http.Request, v viewer) {
	ns, room, identity := r.PathValue("namespace"), r.PathValue("room"), r.PathValue("identity")
	if !v.sees(ns) {
		writeError(w, http.StatusForbidden, "the token is for namespace "+v.Namespace)
		return
	}
	kicked, err := d.opts.Cluster.Kick(r.Context(), ns, room, identity, v.Identity+" (dashboard)")
	if err != nil {
		writeClusterError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"kicked": kicked})
}

func (d *Dashboard) handleDrain(draining bool) func(http.ResponseWriter, *http.Request, viewer) {
	return func(w http.ResponseWriter, r *http.Request, v viewer) {
		if !v.Operator {
			writeError(w, http.StatusForbidden, "draining a node needs an operator token")
			return
		}
		id := r.PathValue("id")
		if err := d.opts.Cluster.SetDrain(r.Context(), id, draining, v.Identity+" (dashboard)"); err != nil {
			writeClusterError(w, err)
			return
		}
		d.changed.bump()
		writeJSON(w, http.StatusOK, map[string]any{"node": id, "draining": draining})
	}
}

func writeClusterError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, controller.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, controller.ErrBadRequest):
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		writeError(w, http.StatusBadGateway, err.Error())
	}
}

// handleStream sends Server-Sent Events: "overview" whenever what v sees
// changes (checked on every directory change and room event, and each
// second for node loads), "history" every history step for operators.
func (d *Dashboard) handleStream(w http.ResponseWriter, r *http.Request, v viewer) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(event string, v any) bool {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last []byte
	var lastHist time.Time
	ctx := r.Context()
	for {
		wake := d.changed.wait()
		o := d.overview(v)
		b, _ := json.Marshal(o)
		if !bytes.Equal(b, last) {
			if !send("overview", json.RawMessage(b)) {
				return
			}
			last = b
		}
		if v.Operator && time.Since(lastHist) >= historyStep {
			if !send("history", d.history(v)) {
				return
			}
			lastHist = time.Now()
		}
		if !waitAny(ctx, wake, tick.C) {
			return
		}
		// Coalesce bursts of changes (a room filling up) into one update.
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func waitAny(ctx context.Context, a <-chan struct{}, b <-chan time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-a:
	case <-b:
	}
	return true
}
