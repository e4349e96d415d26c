package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// Stream location: nodes record in bus.BucketStreams where each relayed
// stream is available (its origin and the nodes holding a copy). When a
// node needs a stream it lacks it asks bus.ControllerLocate; a controller
// picks the holder nearest to that node by route cost and sends it one
// bus.CmdForward. From then on the nodes forward by their routing tables.

// streamStore reads the stream records and the routing tables.
type streamStore struct {
	streams jetstream.KeyValue
	routes  jetstream.KeyValue
	sub     *nats.Subscription
}

// startStreams opens the buckets and serves bus.ControllerLocate.
func (c *Controller) startStreams(ctx context.Context) error {
	var err error
	if c.streams.streams, err = c.opts.Bus.KV(ctx, bus.BucketStreams, 0); err != nil {
		return err
	}
	if c.streams.routes, err = c.opts.Bus.KV(ctx, bus.BucketRoutes, 0); err != nil {
		return err
	}
	c.streams.sub, err = c.opts.Bus.Conn().QueueSubscribe(bus.ControllerLocate, bus.ControllerQueue, func(m *nats.Msg) {
		bus.ServeMsg(m, func(ctx context.Context, req bus.LocateRequest) (any, error) {
			loc, err := c.Locate(ctx, req)
			if err != nil {
				return nil, bus.Errorf(bus.CodeNotFound, "%v", err)
			}
			return loc, nil
		})
	})
	if err != nil {
		return fmt.Errorf("controller: serve %s: %w", bus.ControllerLocate, err)
	}
	return nil
}

func (c *Controller) stopStreams() {
	if c.streams.sub != nil {
		_ = c.streams.sub.Drain()
	}
}

// stream reads one stream record.
func (c *Controller) stream(ctx context.Context, ns, room, track string) (bus.StreamRecord, error) {
	var rec bus.StreamRecord
	e, err := c.streams.streams.Get(ctx, bus.StreamKey(ns, room, track))
	if err != nil {
		return rec, err
	}
	return rec, json.Unmarshal(e.Value(), &rec)
}

// routeTables reads every node's routing table (source -> destination ->
// route); empty before the first tables are published.
func (c *Controller) routeTables(ctx context.Context) map[string]map[string]bus.Route {
	out := map[string]map[string]bus.Route{}
	for _, nr := range readNodeRoutes(ctx, c.streams.routes) {
		out[nr.Node] = nr.Routes
	}
	return out
}

// Region-based costs when no routing table knows a pair: the same
// region is cheap, another region dear.
const (
	costSameRegion  = 1
	costOtherRegion = 100
)

// Locate picks the holder of a stream nearest to req.Node and tells it
// to forward the stream there.
func (c *Controller) Locate(ctx context.Context, req bus.LocateRequest) (bus.Location, error) {
	rec, err := c.stream(ctx, req.Namespace, req.Room, req.Track)
	if err != nil {
		return bus.Location{}, fmt.Errorf("stream %s of %s/%s: %w", req.Track, req.Namespace, req.Room, err)
	}
	tables := c.routeTables(ctx)
	regions := map[string]string{}
	for _, n := range c.liveNodes() {
		regions[n.ID] = n.Region
	}
	cost := func(from string) (float64, string) {
		if r, ok := tables[from][req.Node]; ok {
			return r.Cost, fmt.Sprintf("route cost %.1f via %s", r.Cost, r.NextHop)
		}
		if regions[from] != "" && regions[from] == regions[req.Node] {
			return costSameRegion, "same region " + regions[from]
		}
		return costOtherRegion, "another region"
	}
	best := rec.Origin
	bestCost, why := cost(rec.Origin)
	why = "origin " + rec.Origin + ": " + why
	holders := make([]string, 0, len(rec.Holders))
	for h := range rec.Holders {
		holders = append(holders, h)
	}
	sort.Strings(holders)
	for _, h := range holders {
		if _, alive := regions[h]; !alive || h == req.Node {
			continue
		}
		if hc, hwhy := cost(h); hc < bestCost {
			best, bestCost, why = h, hc, "holder "+h+" is nearer than the origin "+rec.Origin+": "+hwhy
		}
	}
	loc := bus.Location{Stream: rec, From: best, Reason: why}
	fctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err = c.opts.Bus.Request(fctx, bus.NodeCommand(best, bus.CmdForward), bus.Forward{
		Namespace: req.Namespace, Room: req.Room, Track: req.Track, Dest: req.Node, Reason: why,
	}, nil)
	if err != nil && best != rec.Origin {
		c.log.Warn("holder refused to forward; the origin feeds", "holder", best, "err", err)
		loc.From, loc.Reason = rec.Origin, "origin "+rec.Origin+" (holder "+best+" did not answer)"
	}
	c.log.Info("stream located", "namespace", req.Namespace, "room", req.Room, "track", req.Track,
		"dest", req.Node, "from", loc.From, "reason", loc.Reason)
	return loc, nil
}

// StreamStatus is a stream record with the path each holder's copy
// takes, from its feeder through the routing tables.
type StreamStatus struct {
	bus.StreamRecord
	Paths map[string][]string `json:"paths,omitempty"`
}

func (c *Controller) handleStreams(w http.ResponseWriter, r *http.Request, claims *auth.Claims) {
	ns, room := r.URL.Query().Get("namespace"), r.URL.Query().Get("room")
	if ns == "" {
		ns = claims.Grant.Namespace
	}
	if !allowsNamespace(claims, ns) {
		writeError(w, ErrForbidden, "the token is for namespace "+claims.Grant.Namespace)
		return
	}
	out := []StreamStatus{}
	lister, err := c.streams.streams.ListKeys(r.Context())
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		writeError(w, err, err.Error())
		return
	}
	tables := c.routeTables(r.Context())
	if lister != nil {
		for key := range lister.Keys() {
			if !strings.HasPrefix(key, ns+".") || (room != "" && !strings.HasPrefix(key, ns+"."+room+".")) {
				continue
			}
			e, err := c.streams.streams.Get(r.Context(), key)
			if err != nil {
				continue
			}
			var st StreamStatus
			if json.Unmarshal(e.Value(), &st.StreamRecord) != nil || st.Namespace != ns || (room != "" && st.Room != room) {
				continue
			}
			st.Paths = map[string][]string{}
			for h, hold := range st.Holders {
				st.Paths[h] = routePath(tables, hold.From, h)
			}
			out = append(out, st)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Room != out[j].Room {
			return out[i].Room < out[j].Room
		}
		return out[i].Track.ID < out[j].Track.ID
	})
	writeJSON(w, http.StatusOK, map[string]any{"streams": out})
}

// routePath follows the routing tables from src to dst; without a table entry
// the link is direct.
func routePath(tables map[string]map[string]bus.Route, src, dst string) []string {
	p := []string{src}
	for cur := src; cur != dst && len(p) <= 8; {
		next := dst
		if r, ok := tables[cur][dst]; ok && r.NextHop != "" {
			next = r.NextHop
		}
		p = append(p, next)
		cur = next
	}
	return p
}

// sweepStreams deletes the stream records of dead origins and drops dead
// holders from the others (leader only).
func (c *Controller) sweepStreams(ctx context.Context, live map[string]bool) {
	type entry struct {
		rec bus.StreamRecord
		rev uint64
	}
	entries, err := listJSON[bus.StreamRecord](ctx, c.streams.streams, func(r bus.StreamRecord, rev uint64) entry { return entry{r, rev} })
	if err != nil {
		return
	}
	for _, e := range entries {
		key := bus.StreamKey(e.rec.Namespace, e.rec.Room, e.rec.Track.ID)
		if !live[e.rec.Origin] {
			if err := c.streams.streams.Delete(ctx, key, jetstream.LastRevision(e.rev)); err == nil {
				c.log.Info("stream record of dead origin removed", "track", e.rec.Track.ID, "origin", e.rec.Origin)
			}
			continue
		}
		changed := false
		for h := range e.rec.Holders {
			if !live[h] {
				delete(e.rec.Holders, h)
				changed = true
			}
		}
		if changed {
			if data, err := json.Marshal(e.rec); err == nil {
				_, _ = c.streams.streams.Update(ctx, key, data, e.rev)
			}
		}
	}
}
