package signal

import (
	"context"
	"encoding/json"
	"sync"
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
	var moving []*conn
	var sessions []*session
	for _, c := range conns {
		c.mu.Lock()
		sess, ended := c.sess, c.ended
		if sess != nil && sess.NodeID == nodeID && !ended {
			c.ended = true
			moving = append(moving, c)
			sessions = append(sessions, sess)
		}
		c.mu.Unlock()
	}
	if len(moving) == 0 {
		return
	}
	// First every session ends (a live, drained node ends it itself and
	// tells the room; for a dead one this server tells the room), then the
	// clients are told: a client that rejoins at once finds none of the
	// old sessions in the room state.
	var wg sync.WaitGroup
	limit := make(chan struct{}, 16)
	for _, sess := range sessions {
		wg.Add(1)
		limit <- struct{}{}
		go func() {
			defer func() { <-limit; wg.Done() }()
			s.endMovedSession(nodeID, sess.Participant, reason)
		}()
	}
	wg.Wait()
	for _, c := range moving {
		c.send(protocol.Message{Type: protocol.TypeClosed, Reason: reason})
		c.closeWith(protocol.CloseSessionEnded, reason, true)
	}
	s.log.Warn("clients told to rejoin elsewhere", "node", nodeID, "reason", reason, "sessions", len(moving))
}

// endMovedSession ends one session of a node its clients move off.
func (s *Server) endMovedSession(nodeID string, p bus.Participant, reason string) {
	ctx, cancel := context.WithTimeout(s.ctx, time.Second)
	defer cancel()
	if err := s.nodeCmd(ctx, nodeID, bus.CmdClose, bus.Close{SessionID: p.SessionID, Reason: reason}, nil); err != nil {
		ev := bus.Event{Type: bus.EventParticipantLeft, Namespace: p.Namespace, Room: p.Room, Participant: &p, Reason: reason}
		if err := s.opts.Bus.Publish(bus.RoomEvents(p.Namespace, p.Room), ev); err != nil {
			s.log.Warn("announce a moving participant", "session", p.SessionID, "err", err)
		}
	}
	_ = s.dir.DeleteSession(ctx, p.SessionID)
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
