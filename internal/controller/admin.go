package controller

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/placement"
)

// NodeStatus is a node as the admin API lists it.
type NodeStatus struct {
	bus.NodeInfo
	// LoadScore is the load from 0 (idle) to 1 (full) placement uses.
	LoadScore float64 `json:"load_score"`
	Full      bool    `json:"full"`
}

func (c *Controller) handleNodes(w http.ResponseWriter, _ *http.Request, _ *auth.Claims) {
	nodes := c.liveNodes()
	out := make([]NodeStatus, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, NodeStatus{NodeInfo: n, LoadScore: placement.LoadScore(n), Full: placement.Full(n)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"nodes": out})
}

func (c *Controller) handleDrain(draining bool) func(http.ResponseWriter, *http.Request, *auth.Claims) {
	return func(w http.ResponseWriter, r *http.Request, claims *auth.Claims) {
		id := r.PathValue("id")
		if !hasNode(c.liveNodes(), id) {
			writeError(w, ErrNotFound, "no live node "+id)
			return
		}
		var err error
		if draining {
			_, err = c.control.Put(r.Context(), bus.DrainKey(id), []byte(time.Now().UTC().Format(time.RFC3339)))
		} else {
			err = c.control.Delete(r.Context(), bus.DrainKey(id))
		}
		if err != nil {
			c.fail(w, "drain", err)
			return
		}
		// Tell the node too, so it refuses new sessions itself; placement
		// already avoids it through the mark.
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		if err := c.opts.Bus.Request(ctx, bus.NodeCommand(id, bus.CmdDrain), bus.Drain{Draining: draining}, nil); err != nil {
			c.log.Debug("node did not take the drain command", "node", id, "err", err)
		}
		cancel()
		migrate := draining && r.URL.Query().Get("migrate") == "true"
		if migrate {
			// Every signaling server tells the node's clients to rejoin;
			// placement puts them on other nodes.
			if err := c.opts.Bus.Publish(bus.NodeMigrations, bus.NodeMigrate{NodeID: id}); err != nil {
				writeError(w, err, "could not ask the signaling servers to migrate the node's clients")
				return
			}
		}
		c.log.Info("node drain changed", "node", id, "draining", draining, "migrate", migrate, "by", claims.Identity())
		writeJSON(w, http.StatusOK, map[string]any{"node": id, "draining": draining, "migrating": migrate})
	}
}

// RoomStatus is a room with its participants, each with the node it is on.
type RoomStatus struct {
	Namespace    string              `json:"namespace"`
	Room         string              `json:"room"`
	NodeID       string              `json:"node_id"`
	Nodes        []string            `json:"nodes,omitempty"` // every node the room was placed on
	CreatedAt    time.Time           `json:"created_at"`
	Participants []ParticipantStatus `json:"participants"`
	// Unreachable lists nodes that did not answer for the room.
	Unreachable []string `json:"unreachable_nodes,omitempty"`
}

// ParticipantStatus is a participant, its tracks and its node.
type ParticipantStatus struct {
	bus.ParticipantInfo
	NodeID string `json:"node_id"`
}

func (c *Controller) handleRooms(w http.ResponseWriter, r *http.Request, claims *auth.Claims) {
	ns := r.URL.Query().Get("namespace")
	if ns == "" {
		ns = claims.Grant.Namespace
	}
	if !allowsNamespace(claims, ns) {
		writeError(w, ErrForbidden, "the token is for namespace "+claims.Grant.Namespace)
		return
	}
	entries, err := c.rooms.list(r.Context())
	if err != nil {
		c.fail(w, "list rooms", err)
		return
	}
	out := []RoomStatus{}
	for _, e := range entries {
		// A room-scoped admin token sees its own room only.
		if e.rec.Namespace == ns && (claims.Grant.Room == "*" || claims.Grant.Room == e.rec.Room) {
			out = append(out, c.roomStatus(r.Context(), e.rec))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Room < out[j].Room })
	writeJSON(w, http.StatusOK, map[string]any{"rooms": out})
}

func (c *Controller) handleRoom(w http.ResponseWriter, r *http.Request, claims *auth.Claims) {
	rec, ok := c.findRoom(w, r, claims)
	if ok {
		writeJSON(w, http.StatusOK, c.roomStatus(r.Context(), rec))
	}
}

// findRoom checks the path's namespace and room against the token and
// reads the room record, writing the error response when it fails.
func (c *Controller) findRoom(w http.ResponseWriter, r *http.Request, claims *auth.Claims) (bus.RoomRecord, bool) {
	ns, room := r.PathValue("namespace"), r.PathValue("room")
	if !bus.ValidName(ns) || !bus.ValidName(room) {
		writeError(w, ErrBadRequest, "namespace and room must be 1-128 characters of A-Z a-z 0-9 _ -")
		return bus.RoomRecord{}, false
	}
	if !allowsNamespace(claims, ns) || !(claims.Grant.Room == "*" || claims.Grant.Room == room) {
		writeError(w, ErrForbidden, "the token does not cover this room")
		return bus.RoomRecord{}, false
	}
	rec, rev, err := c.rooms.get(r.Context(), bus.RoomKey(ns, room))
	if err != nil {
		c.fail(w, "read room", err)
		return rec, false
	}
	if rev == 0 {
		writeError(w, ErrNotFound, fmt.Sprintf("no room %s in namespace %s", room, ns))
		return rec, false
	}
	return rec, true
}

func allowsNamespace(claims *auth.Claims, ns string) bool {
	return claims.Grant.Admin && claims.Grant.Namespace == ns
}

// roomStatus asks every live node for the room's participants connected
// to it: with the nearest policy a room spans nodes.
func (c *Controller) roomStatus(ctx context.Context, rec bus.RoomRecord) RoomStatus {
	st := RoomStatus{Namespace: rec.Namespace, Room: rec.Room, NodeID: rec.NodeID, Nodes: rec.Nodes, CreatedAt: rec.CreatedAt, Participants: []ParticipantStatus{}}
	nodes := c.liveNodes()
	replies := make([]bus.RoomState, len(nodes))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			errs[i] = c.opts.Bus.Request(rctx, bus.NodeCommand(n.ID, bus.CmdRoomStateLocal),
				bus.RoomStateRequest{Namespace: rec.Namespace, Room: rec.Room}, &replies[i])
		}()
	}
	wg.Wait()
	for i, n := range nodes {
		if errs[i] != nil {
			if n.ID == rec.NodeID || !bus.IsCode(errs[i], bus.CodeNotFound) {
				st.Unreachable = append(st.Unreachable, n.ID)
			}
			continue
		}
		for _, p := range replies[i].Participants {
			st.Participants = append(st.Participants, ParticipantStatus{ParticipantInfo: p, NodeID: n.ID})
		}
	}
	sort.Slice(st.Participants, func(i, j int) bool { return st.Participants[i].Identity < st.Participants[j].Identity })
	return st
}

func (c *Controller) handleKick(w http.ResponseWriter, r *http.Request, claims *auth.Claims) {
	rec, ok := c.findRoom(w, r, claims)
	if !ok {
		return
	}
	identity := r.PathValue("identity")
	st := c.roomStatus(r.Context(), rec)
	var kicked []string
	for _, p := range st.Participants {
		if p.Identity != identity {
			continue
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		err := c.opts.Bus.Request(ctx, bus.NodeCommand(p.NodeID, bus.CmdClose), bus.Close{SessionID: p.SessionID, Reason: bus.ReasonKicked}, nil)
		cancel()
		if err != nil {
			c.log.Warn("kick", "session", p.SessionID, "node", p.NodeID, "err", err)
			writeError(w, err, "the participant's media node did not answer; try again")
			return
		}
		kicked = append(kicked, p.SessionID)
	}
	if len(kicked) == 0 {
		writeError(w, ErrNotFound, fmt.Sprintf("no participant %q in room %s", identity, rec.Room))
		return
	}
	c.log.Info("participant kicked", "namespace", rec.Namespace, "room", rec.Room, "identity", identity, "sessions", kicked, "by", claims.Identity())
	writeJSON(w, http.StatusOK, map[string]any{"kicked": kicked})
}
