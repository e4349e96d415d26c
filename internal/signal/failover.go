package signal

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
)

// Reasons a server ends sessions whose node is going away. A
// participant_left carrying one of them announces a participant that is
// moving to another node and will be back within seconds; the client of
// the session gets "closed" with the same reason and rejoins at once.
const (
	ReasonNodeFailed   = "node failed"
	ReasonNodeDraining = "node draining"
)

// moveOffNode ends, on this server, every WebSocket session held by node
// nodeID (dead, or drained with migration): the room hears that each
// participant left for reason, the session record is removed, and the
// client gets "closed" and the close code 4010, on which the SDKs join
// again at once, in a new session that placement puts on a live node.
func (s *Server) moveOffNode(nodeID, reason string) {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	moved := 0
	for _, c := range conns {
		c.mu.Lock()
		sess, ended := c.sess, c.ended
		if sess != nil && sess.NodeID == nodeID && !ended {
			c.ended = true
		}
		c.mu.Unlock()
		if sess == nil || sess.NodeID != nodeID || ended {
			continue
		}
		p := sess.Participant
		ctx, cancel := context.WithTimeout(s.ctx, time.Second)
		// A live node (drained) ends the session itself and tells the
		// room; for a dead one this server tells the room.
		if err := s.nodeCmd(ctx, nodeID, bus.CmdClose, bus.Close{SessionID: p.SessionID, Reason: reason}, nil); err != nil {
			ev := bus.Event{Type: bus.EventParticipantLeft, Namespace: p.Namespace, Room: p.Room, Participant: &p, Reason: reason}
			if err := s.opts.Bus.Publish(bus.RoomEvents(p.Namespace, p.Room), ev); err != nil {
				s.log.Warn("announce a moving participant", "session", p.SessionID, "err", err)
			}
		}
		_ = s.dir.DeleteSession(ctx, p.SessionID)
		cancel()
		c.send(protocol.Message{Type: protocol.TypeClosed, Reason: reason})
		c.closeWith(protocol.CloseSessionEnded, reason, true)
		moved++
	}
	if moved > 0 {
		s.log.Warn("clients told to rejoin elsewhere", "node", nodeID, "reason", reason, "sessions", moved)
	}
}

// onMigrate moves the clients of a node drained with migration.
func (s *Server) onMigrate(m *nats.Msg) {
	var req bus.NodeMigrate
	if err := json.Unmarshal(m.Data, &req); err != nil || req.NodeID == "" {
		s.log.Debug("ignoring a bad migration request", "err", err)
		return
	}
	s.moveOffNode(req.NodeID, ReasonNodeDraining)
}
