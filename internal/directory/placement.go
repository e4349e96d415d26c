package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/placement"
)

// SameNode is the placement of a signaling server when no controller
// answers. It records a room's node with a KV create, so servers racing
// for the same new room agree on one node. Policies (the controller's,
// from internal/placement, chosen by PolicyName for the namespace) decide
// among the live nodes, namespace pins included; a node with a drain mark
// counts as draining. Without Policies the room stays on its node while
// that node is alive and not draining, else goes to the least-loaded
// node.
type SameNode struct {
	Dir        *Directory
	Policies   map[string]placement.Policy
	PolicyName func(namespace string) string
}

// decide picks the node for a session of namespace/room whose room lives
// on roomNode ("" when new, dead or draining).
func (p SameNode) decide(namespace, room, roomNode string, nodes []bus.NodeInfo) (bus.NodeInfo, error) {
	if p.PolicyName != nil {
		if pol := p.Policies[p.PolicyName(namespace)]; pol != nil {
			d, err := pol.Place(placement.Request{Namespace: namespace, Room: room, RoomNode: roomNode}, nodes)
			if err != nil {
				return bus.NodeInfo{}, fmt.Errorf("%w: %w", ErrNoNode, err)
			}
			return d.Node, nil
		}
	}
	for _, n := range nodes {
		if n.ID == roomNode {
			return n, nil
		}
	}
	n, ok := LeastLoaded(nodes)
	if !ok {
		return bus.NodeInfo{}, ErrNoNode
	}
	return n, nil
}

// Place returns the node for a new session of namespace/room.
func (p SameNode) Place(ctx context.Context, namespace, room string) (bus.NodeInfo, error) {
	d := p.Dir
	key := bus.RoomKey(namespace, room)
	for attempt := 0; attempt < 5; attempt++ {
		var rec bus.RoomRecord
		rev, err := get(ctx, d.rooms, key, &rec)
		roomNode := ""
		switch {
		case err == nil:
			if n, ok := d.Node(rec.NodeID); ok && !n.Draining && !d.drainMarked(ctx, n.ID) {
				roomNode = n.ID
			}
		case !errors.Is(err, ErrNotFound):
			return bus.NodeInfo{}, err
		}
		n, err := p.decide(namespace, room, roomNode, d.placeable(ctx))
		if err != nil {
			return bus.NodeInfo{}, err
		}
		if roomNode != "" || (rev != 0 && n.ID == rec.NodeID) {
			// The room's node, or another one of a room that spans
			// nodes: the record stays.
			return n, nil
		}
		data, err := json.Marshal(bus.RoomRecord{Namespace: namespace, Room: room, NodeID: n.ID, CreatedAt: d.opts.Now().UTC()})
		if err != nil {
			return bus.NodeInfo{}, err
		}
		if rev == 0 {
			_, err = d.rooms.Create(ctx, key, data)
		} else {
			// The room's node is dead: move the room, unless another
			// server moved it first.
			_, err = d.rooms.Update(ctx, key, data, rev)
		}
		if err == nil {
			d.log.Info("room placed", "namespace", namespace, "room", room, "node", n.ID)
			return n, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
			return bus.NodeInfo{}, fmt.Errorf("place room %s: %w", key, err)
		}
		// Lost a race: read what the winner wrote.
	}
	return bus.NodeInfo{}, fmt.Errorf("place room %s: too much contention", key)
}

// drainMarked reports whether node id has a drain mark (false when the
// marks cannot be read).
func (d *Directory) drainMarked(ctx context.Context, id string) bool {
	drains, err := d.DrainingNodes(ctx)
	return err == nil && drains[id]
}

// placeable returns the live nodes, those with a drain mark flagged
// Draining. Without the marks (KV trouble) it goes by the nodes' own flag.
func (d *Directory) placeable(ctx context.Context) []bus.NodeInfo {
	nodes := d.LiveNodes()
	drains, err := d.DrainingNodes(ctx)
	if err != nil {
		d.log.Warn("placing without drain marks", "err", err)
	}
	for i := range nodes {
		if drains[nodes[i].ID] {
			nodes[i].Draining = true
		}
	}
	return nodes
}

func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) ||
		(errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence)
}

// LeastLoaded picks, among nodes, the non-draining node with spare
// capacity and the fewest participants (then the lowest CPU, then the
// smallest id, so the choice is deterministic).
func LeastLoaded(nodes []bus.NodeInfo) (bus.NodeInfo, bool) {
	var cand []bus.NodeInfo
	for _, n := range nodes {
		if n.Draining || (n.Capacity > 0 && n.Load.Participants >= n.Capacity) {
			continue
		}
		cand = append(cand, n)
	}
	if len(cand) == 0 {
		return bus.NodeInfo{}, false
	}
	sort.Slice(cand, func(i, j int) bool {
		a, b := cand[i], cand[j]
		if a.Load.Participants != b.Load.Participants {
			return a.Load.Participants < b.Load.Participants
		}
		if a.Load.CPU != b.Load.CPU {
			return a.Load.CPU < b.Load.CPU
		}
		return a.ID < b.ID
	})
	return cand[0], true
}
