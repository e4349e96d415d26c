package signal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
)

// joinResult is what a successful join sends.
type joinResult struct {
	sess    *session
	others  []bus.ParticipantInfo
	answer  string
	subs    []*nats.Subscription
	resumed bool
}

// handleJoin authenticates, creates or resumes the session and sends
// "joined". A failed join sends an error and closes the connection.
func (c *conn) handleJoin(m protocol.Message) {
	token := m.Token
	if token == "" {
		token = c.urlToken
	}
	claims, err := c.s.opts.Verifier.Verify(token)
	if err != nil {
		c.failJoin(m.ID, protocol.CodeUnauthorized, tokenMessage(err))
		return
	}
	if claims.Grant.Room == "*" {
		c.failJoin(m.ID, protocol.CodeForbidden, "a token for every room cannot join over the WebSocket; mint one for the room")
		return
	}
	if m.SDP != "" {
		if err := c.s.vetOffer(m.SDP); err != nil {
			code, msg := c.s.clientError(c.log, "join", err)
			c.s.met.refused.WithLabelValues("join").Inc()
			c.failJoin(m.ID, code, msg)
			return
		}
	}
	res, err := c.s.join(c.ctx, claims, m, c.clientIP, c.onRoomEvent, c.onSessionEvent)
	if err != nil {
		if errors.As(err, new(*limitError)) {
			c.s.met.refused.WithLabelValues("join").Inc()
		}
		code, msg := c.s.clientError(c.log, "join", err)
		c.failJoin(m.ID, code, msg)
		return
	}
	c.joinTimer.Stop()
	c.mu.Lock()
	c.sess, c.subs = res.sess, res.subs
	self := res.sess.Participant
	c.send(protocol.Message{
		Type: protocol.TypeJoined, ID: m.ID, Version: protocol.Version, SessionID: self.SessionID,
		Self: &self, Room: &protocol.Room{Namespace: self.Namespace, Name: self.Room},
		Participants: res.others,
	})
	if res.answer != "" {
		c.send(protocol.Message{Type: protocol.TypeAnswer, ID: m.ID, SDP: res.answer})
	}
	for _, ev := range c.pending {
		if forSession(ev, c.sess) {
			c.send(eventMessage(ev))
		}
	}
	c.pending, c.joined = nil, true
	c.mu.Unlock()
	c.log = c.log.With("session", self.SessionID, "identity", self.Identity)
	c.log.Info("joined", "namespace", self.Namespace, "room", self.Room, "node", res.sess.NodeID, "resumed", res.resumed)
}

func (c *conn) failJoin(id, code, msg string) {
	c.sendError(id, code, msg)
	c.closeWith(joinCloseCode(code), truncate(msg, 100), true)
}

func tokenMessage(err error) string {
	switch {
	case errors.Is(err, auth.ErrMissingToken):
		return "no token: put it in join.token or ?access_token="
	case errors.Is(err, auth.ErrExpired):
		return "token expired"
	}
	return "invalid token"
}

// join resumes the session named in m or creates a new one. onRoom and
// onSession receive the session's events from before the node is asked,
// so none is missed.
func (s *Server) join(ctx context.Context, claims *auth.Claims, m protocol.Message, clientIP string, onRoom, onSession nats.MsgHandler) (*joinResult, error) {
	ns, room := claims.Grant.Namespace, claims.Grant.Room
	p := bus.Participant{Namespace: ns, Room: room, Identity: claims.Identity(), Name: m.Name, Metadata: m.Metadata, Kind: "ws"}
	if p.Name == "" {
		p.Name = claims.Name
	}
	if p.Metadata == "" {
		p.Metadata = claims.Metadata
	}
	if le := checkParticipant(p); le != nil {
		return nil, le
	}
	if m.SessionID != "" {
		if res := s.resume(ctx, p, m.SessionID, onRoom, onSession); res != nil {
			return res, nil
		}
	}
	nodeID, err := s.place.Place(ctx, ns, room, clientIP)
	if err != nil {
		return nil, err
	}
	p.SessionID = newSessionID()
	sess := &session{Participant: p, NodeID: nodeID, Grants: claims.Grants()}
	rec := bus.SessionRecord{Participant: p, NodeID: nodeID, Grants: sess.Grants, CreatedAt: time.Now().UTC(), Kind: "ws"}
	if err := s.dir.CreateSession(ctx, rec); err != nil {
		return nil, err
	}
	subs, err := s.subscribeEvents(p, onRoom, onSession)
	if err != nil {
		_ = s.dir.DeleteSession(ctx, p.SessionID)
		return nil, err
	}
	var ans bus.SessionAnswer
	req := bus.CreateSession{Participant: p, Grants: sess.Grants, Offer: m.SDP, Publish: m.Publish, Subscribe: m.Subscribe}
	if err := s.nodeCmd(ctx, nodeID, bus.CmdSessionCreate, req, &ans); err != nil {
		unsubscribe(subs)
		_ = s.dir.DeleteSession(ctx, p.SessionID)
		return nil, err
	}
	res := &joinResult{sess: sess, subs: subs, answer: ans.Answer}
	res.others, err = s.others(ctx, sess)
	if err != nil {
		s.log.Warn("room state after join", "session", p.SessionID, "err", err)
	}
	return res, nil
}

// resume re-attaches to an existing session of the same participant; nil
// when there is nothing to resume.
func (s *Server) resume(ctx context.Context, p bus.Participant, sessionID string, onRoom, onSession nats.MsgHandler) *joinResult {
	rec, err := s.dir.Session(ctx, sessionID)
	if err != nil || rec.Namespace != p.Namespace || rec.Room != p.Room || rec.Identity != p.Identity {
		return nil
	}
	p.SessionID = sessionID
	sess := &session{Participant: rec.Participant, NodeID: rec.NodeID, Grants: rec.Grants}
	subs, err := s.subscribeEvents(p, onRoom, onSession)
	if err != nil {
		return nil
	}
	parts, err := s.roomState(ctx, rec.NodeID, p.Namespace, p.Room, sessionID)
	alive := false
	for _, q := range parts {
		alive = alive || q.SessionID == sessionID
	}
	if err != nil || !alive {
		unsubscribe(subs)
		_ = s.dir.DeleteSession(ctx, sessionID)
		return nil
	}
	return &joinResult{sess: sess, subs: subs, others: without(parts, sessionID), resumed: true}
}

func (s *Server) others(ctx context.Context, sess *session) ([]bus.ParticipantInfo, error) {
	parts, err := s.roomState(ctx, sess.NodeID, sess.Namespace, sess.Room)
	return without(parts, sess.SessionID), err
}

func without(parts []bus.ParticipantInfo, sessionID string) []bus.ParticipantInfo {
	out := make([]bus.ParticipantInfo, 0, len(parts))
	for _, p := range parts {
		if p.SessionID != sessionID {
			out = append(out, p)
		}
	}
	return out
}

func (s *Server) subscribeEvents(p bus.Participant, onRoom, onSession nats.MsgHandler) ([]*nats.Subscription, error) {
	var subs []*nats.Subscription
	if onRoom != nil {
		sub, err := s.opts.Bus.Subscribe(bus.RoomEvents(p.Namespace, p.Room), onRoom)
		if err != nil {
			return nil, fmt.Errorf("subscribe room events: %w", err)
		}
		subs = append(subs, sub)
	}
	if onSession != nil {
		sub, err := s.opts.Bus.Subscribe(bus.SessionEvents(p.SessionID), onSession)
		if err != nil {
			unsubscribe(subs)
			return nil, fmt.Errorf("subscribe session events: %w", err)
		}
		subs = append(subs, sub)
	}
	// Make sure the server knows the subscriptions before the node acts.
	if err := s.opts.Bus.Conn().Flush(); err != nil {
		unsubscribe(subs)
		return nil, fmt.Errorf("subscribe events: %w", err)
	}
	return subs, nil
}

func unsubscribe(subs []*nats.Subscription) {
	for _, sub := range subs {
		_ = sub.Unsubscribe()
	}
}
