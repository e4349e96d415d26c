package sfu

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// streamDir keeps this node's part of the stream directory
// (bus.BucketStreams): the origin writes a record per published track and
// deletes it on unpublish; a node receiving the track over the relay adds
// itself as a holder. One goroutine applies the updates in order.
type streamDir struct {
	n    *Node
	kv   jetstream.KeyValue
	work chan func(context.Context, jetstream.KeyValue)
}

// streamQueue bounds the directory updates waiting to be written.
const streamQueue = 256

func newStreamDir(n *Node) *streamDir {
	return &streamDir{n: n, work: make(chan func(context.Context, jetstream.KeyValue), streamQueue)}
}

// run applies the updates until ctx ends.
func (d *streamDir) run(ctx context.Context) {
	var kv jetstream.KeyValue
	for {
		select {
		case <-ctx.Done():
			return
		case fn := <-d.work:
			if kv == nil {
				kctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				var err error
				kv, err = d.n.bus.KV(kctx, bus.BucketStreams, 0)
				cancel()
				if err != nil {
					d.n.log.Warn("stream directory", "err", err)
					continue
				}
			}
			wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			fn(wctx, kv)
			cancel()
		}
	}
}

func (d *streamDir) enqueue(fn func(context.Context, jetstream.KeyValue)) {
	select {
	case d.work <- fn:
	default:
		d.n.log.Warn("stream directory update dropped: queue full")
	}
}

func trackKey(up *upTrack) string { return bus.StreamKey(up.owner.Namespace, up.owner.Room, up.id) }

// published records a local track with this node as its origin.
func (d *streamDir) published(up *upTrack) {
	rec := bus.StreamRecord{Namespace: up.owner.Namespace, Room: up.owner.Room, Track: up.trackInfo(), Origin: d.n.id}
	d.enqueue(func(ctx context.Context, kv jetstream.KeyValue) {
		data, _ := json.Marshal(rec)
		if _, err := kv.Put(ctx, trackKey(up), data); err != nil {
			d.n.log.Debug("record stream", "track", up.id, "err", err)
		}
	})
}

// unpublished deletes a local track's record.
func (d *streamDir) unpublished(up *upTrack) {
	d.enqueue(func(ctx context.Context, kv jetstream.KeyValue) {
		if err := kv.Delete(ctx, trackKey(up)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			d.n.log.Debug("delete stream record", "track", up.id, "err", err)
		}
	})
}

// holding adds (h non-nil) or removes this node as a holder of up.
func (d *streamDir) holding(up *upTrack, h *bus.StreamHolder) {
	self := d.n.id
	d.enqueue(func(ctx context.Context, kv jetstream.KeyValue) {
		for range 10 {
			e, err := kv.Get(ctx, trackKey(up))
			if errors.Is(err, jetstream.ErrKeyNotFound) && h != nil {
				// The origin's record may not be written yet (its own
				// queue): wait a little, unless the track is gone.
				select {
				case <-ctx.Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			if err != nil {
				return
			}
			var rec bus.StreamRecord
			if json.Unmarshal(e.Value(), &rec) != nil {
				return
			}
			if h == nil {
				delete(rec.Holders, self)
			} else {
				if rec.Holders == nil {
					rec.Holders = map[string]bus.StreamHolder{}
				}
				rec.Holders[self] = *h
			}
			data, _ := json.Marshal(rec)
			if _, err := kv.Update(ctx, trackKey(up), data, e.Revision()); err == nil {
				return
			}
		}
		d.n.log.Debug("stream holder not recorded", "track", up.id)
	})
}

// locate asks the controllers which node should feed this node track id
// (published on origin); without an answer the origin does.
func (r *relayNode) locate(ctx context.Context, namespace, room, id, origin string) (from, reason string) {
	if r.n.bus == nil {
		return origin, "from the origin (no bus)"
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var loc bus.Location
	err := r.n.bus.Request(ctx, bus.ControllerLocate, bus.LocateRequest{Namespace: namespace, Room: room, Track: id, Node: r.n.id}, &loc)
	switch {
	case err != nil:
		return origin, "from the origin (no controller located the stream: " + err.Error() + ")"
	case loc.From == "" || loc.From == r.n.id:
		return origin, "from the origin (the controller named no other holder)"
	}
	return loc.From, loc.Reason
}

// forwardCommand is bus.CmdForward: the controller picked this node to
// feed Dest. The destination's own demand (over the relay) follows and
// says which layers it needs; until then nothing is sent.
func (n *Node) forwardCommand(_ context.Context, req bus.Forward) (any, error) {
	if n.relay == nil {
		return nil, errRelay("no relay on this node")
	}
	n.mu.Lock()
	up := n.tracks[req.Track]
	n.mu.Unlock()
	if up == nil || up.owner.Namespace != req.Namespace || up.owner.Room != req.Room {
		return nil, ErrNoTrack
	}
	n.relay.log.Info("forward command", "track", req.Track, "dest", req.Dest, "next_hop", n.relay.nextHop(req.Dest), "reason", req.Reason)
	return bus.Reply{}, nil
}
