package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/placement"
)

// The methods below serve the dashboard (internal/dashboard), which checks
// tokens itself.

// Nodes lists the live nodes with their placement load.
func (c *Controller) Nodes() []NodeStatus {
	nodes := c.liveNodes()
	out := make([]NodeStatus, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, NodeStatus{NodeInfo: n, LoadScore: placement.LoadScore(n), Full: placement.Full(n)})
	}
	return out
}

// Leader returns the id of the leading controller ("" when none is known).
func (c *Controller) Leader() string { _, id := c.elect.status(); return id }

// OperatorNamespace is the namespace whose admin tokens see every namespace.
func (c *Controller) OperatorNamespace() string { return c.opts.Config.OperatorNamespace }

// Room returns a room with its participants, asking every live node;
// ErrNotFound when there is no such room.
func (c *Controller) Room(ctx context.Context, namespace, room string) (RoomStatus, error) {
	if !bus.ValidName(namespace) || !bus.ValidName(room) {
		return RoomStatus{}, fmt.Errorf("%w: bad namespace or room name", ErrBadRequest)
	}
	rec, rev, err := c.rooms.get(ctx, bus.RoomKey(namespace, room))
	if err != nil {
		return RoomStatus{}, err
	}
	if rev == 0 {
		return RoomStatus{}, fmt.Errorf("%w: no room %s in namespace %s", ErrNotFound, room, namespace)
	}
	return c.roomStatus(ctx, rec), nil
}

// Kick closes every session of identity in a room and returns their ids;
// ErrNotFound when the identity is not in the room.
func (c *Controller) Kick(ctx context.Context, namespace, room, identity, by string) ([]string, error) {
	st, err := c.Room(ctx, namespace, room)
	if err != nil {
		return nil, err
	}
	var kicked []string
	for _, p := range st.Participants {
		if p.Identity != identity {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := c.opts.Bus.Request(rctx, bus.NodeCommand(p.NodeID, bus.CmdClose), bus.Close{SessionID: p.SessionID, Reason: bus.ReasonKicked}, nil)
		cancel()
		if err != nil {
			return kicked, fmt.Errorf("close session %s on node %s: %w", p.SessionID, p.NodeID, err)
		}
		kicked = append(kicked, p.SessionID)
	}
	if len(kicked) == 0 {
		return nil, fmt.Errorf("%w: no participant %q in room %s", ErrNotFound, identity, room)
	}
	c.log.Info("participant kicked", "namespace", namespace, "room", room, "identity", identity, "sessions", kicked, "by", by)
	return kicked, nil
}

// SetDrain marks node id as draining (no new sessions) or clears the mark,
// and tells the node; ErrNotFound when it is not live.
func (c *Controller) SetDrain(ctx context.Context, id string, draining bool, by string) error {
	if !hasNode(c.liveNodes(), id) {
		return fmt.Errorf("%w: no live node %s", ErrNotFound, id)
	}
	var err error
	if draining {
		_, err = c.control.Put(ctx, bus.DrainKey(id), []byte(time.Now().UTC().Format(time.RFC3339)))
	} else {
		err = c.control.Delete(ctx, bus.DrainKey(id))
	}
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := c.opts.Bus.Request(rctx, bus.NodeCommand(id, bus.CmdDrain), bus.Drain{Draining: draining}, nil); err != nil {
		c.log.Debug("node did not take the drain command", "node", id, "err", err)
	}
	c.log.Info("node drain changed", "node", id, "draining", draining, "by", by)
	return nil
}

// ReasonNodeDead is the reason of the participant_left event the leader
// publishes for a session whose node died (the node cannot say it). It is
// the reason the signaling servers give when they move such a session's
// client: SDKs show the participant as reconnecting (see docs/protocol.md),
// and it comes back in a new session or is gone after a grace period.
const ReasonNodeDead = "node failed"

// announceLeft tells the room that the participant of a dead node's
// session has left, as its node would have: other participants, the
// dashboard and the webhooks (room_finished) hear of it.
func (c *Controller) announceLeft(rec bus.SessionRecord) {
	if rec.Namespace == "" || rec.Room == "" {
		return
	}
	p := rec.Participant
	p.Kind = rec.Kind
	ev := bus.Event{Type: bus.EventParticipantLeft, Namespace: p.Namespace, Room: p.Room, Participant: &p, Reason: ReasonNodeDead}
	if err := c.opts.Bus.Publish(bus.RoomEvents(p.Namespace, p.Room), ev); err != nil {
		c.log.Debug("announce participant of dead node left", "session", p.SessionID, "err", err)
	}
}
