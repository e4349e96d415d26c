package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
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

// topology is the nodes, where rooms live and what the relay reports:
// links with RTT, loss and the streams crossing them, the relayed
// streams and the routing tables.
type topology struct {
	Regions []regionNodes `json:"regions"`
	Rooms   []roomSummary `json:"rooms"`
	relayView
}

func (d *Dashboard) handleTopology(w http.ResponseWriter, _ *http.Request, v viewer) {
	if !v.Operator {
		writeError(w, http.StatusForbidden, "the topology needs an operator token")
		return
	}
	o := d.overview(v)
	writeJSON(w, http.StatusOK, topology{Regions: o.Regions, Rooms: o.Rooms, relayView: d.relayView(time.Now())})
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
	out := roomPage{RoomStatus: st, Egress: []bus.EgressInfo{}}
	for _, e := range d.egress.values() {
		if e.Namespace == ns && e.Room == room && recentEgress(e) {
			out.Egress = append(out.Egress, e)
		}
	}
	sort.Slice(out.Egress, func(i, j int) bool { return out.Egress[i].StartedAt.After(out.Egress[j].StartedAt) })
	writeJSON(w, http.StatusOK, out)
}

// roomPage is a room with its participants and its egresses (running, or
// ended within the hour).
type roomPage struct {
	controller.RoomStatus
	Egress []bus.EgressInfo `json:"egress"`
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

// streamWriteTimeout bounds writing one server-sent event.
const streamWriteTimeout = 10 * time.Second

// handleStream sends Server-Sent Events: "overview" whenever what v sees
// changes (checked on every directory change and room event, and each
// second for node loads), "history" every history step for operators.
func (d *Dashboard) handleStream(w http.ResponseWriter, r *http.Request, v viewer) {
	rc := http.NewResponseController(w)
	// The stream outlives the HTTP server's read and write timeouts; each
	// event gets its own write deadline, so a client that stops reading
	// still ends it.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(event string, v any) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
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
