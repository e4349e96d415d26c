package signal

import (
	"context"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
)

// maxDataPayload bounds one relayed data message.
const maxDataPayload = 64 << 10

// handle serves one decoded request.
func (c *conn) handle(m protocol.Message) {
	c.mu.Lock()
	sess := c.sess
	c.mu.Unlock()
	if le := checkRequest(m); le != nil {
		c.refuse(truncate(m.ID, MaxIDBytes), "size", le)
		return
	}
	switch {
	case m.Type == protocol.TypePing:
		c.send(protocol.Message{Type: protocol.TypePong, ID: m.ID})
		return
	case m.Type == protocol.TypeJoin && sess == nil:
		c.handleJoin(m)
		return
	case m.Type == protocol.TypeJoin:
		c.sendError(m.ID, protocol.CodeNotJoined, "already joined")
		return
	case sess == nil:
		c.sendError(m.ID, protocol.CodeNotJoined, "send join first")
		return
	}
	if m.Type == protocol.TypeLeave {
		c.leave(sess)
		return
	}
	if m.Type == protocol.TypeData {
		c.relayData(sess, m)
		return
	}
	le, bad := c.checkLimits(m)
	if bad != nil {
		c.sendError(m.ID, protocol.CodeBadRequest, bad.Error())
		return
	}
	if le != nil {
		c.refuse(m.ID, le.reason, le.limitError)
		return
	}
	cmd, req, errMsg := nodeRequest(sess, m)
	if errMsg != "" {
		c.sendError(m.ID, protocol.CodeBadRequest, errMsg)
		return
	}
	if cmd == "" { // end-of-candidates: nothing to tell the node
		return
	}
	var ans bus.SessionAnswer
	if err := c.s.nodeCmd(c.ctx, sess.NodeID, cmd, req, &ans); err != nil {
		code, msg := c.s.clientError(c.log, m.Type, err)
		c.sendError(m.ID, code, msg)
		return
	}
	switch m.Type {
	case protocol.TypeOffer:
		c.send(protocol.Message{Type: protocol.TypeAnswer, ID: m.ID, SDP: ans.Answer})
	case protocol.TypeTrickle:
	default:
		c.send(protocol.Message{Type: protocol.TypeOK, ID: m.ID})
	}
}

// nodeRequest turns a client request into a node command, or says what is
// wrong with it.
func nodeRequest(sess *session, m protocol.Message) (cmd string, req any, errMsg string) {
	sid := sess.SessionID
	switch m.Type {
	case protocol.TypeOffer: // parsed by checkLimits
		return bus.CmdNegotiate, bus.Negotiate{SessionID: sid, Offer: m.SDP, Publish: m.Publish, Subscribe: m.Subscribe}, ""
	case protocol.TypeTrickle:
		if m.Candidate == nil {
			return "", nil, "trickle: candidate is missing"
		}
		if m.Candidate.Candidate == "" {
			return "", nil, ""
		}
		return bus.CmdTrickle, bus.Trickle{SessionID: sid, Candidate: *m.Candidate}, ""
	case protocol.TypeSubscribe:
		if len(m.Subscribe) == 0 {
			return "", nil, "subscribe: the subscribe list is empty"
		}
		for _, s := range m.Subscribe {
			if s.MID == "" || s.TrackID == "" || !validLayer(s.Layer) {
				return "", nil, "subscribe: every entry needs mid, track_id and a layer of low, medium, high or empty"
			}
		}
		return bus.CmdSubscribe, bus.Subscribe{SessionID: sid, Subscriptions: m.Subscribe}, ""
	case protocol.TypeUnsubscribe:
		if len(m.MIDs) == 0 {
			return "", nil, "unsubscribe: mids is empty"
		}
		return bus.CmdUnsubscribe, bus.Unsubscribe{SessionID: sid, MIDs: m.MIDs}, ""
	case protocol.TypeSetLayer:
		if m.MID == "" || !validLayer(m.Layer) {
			return "", nil, "set_layer: needs mid and a layer of low, medium, high or empty"
		}
		return bus.CmdSetLayer, bus.SetLayer{SessionID: sid, MID: m.MID, Layer: m.Layer}, ""
	case protocol.TypeMute:
		if m.TrackID == "" {
			return "", nil, "mute: track_id is missing"
		}
		return bus.CmdMute, bus.Mute{SessionID: sid, TrackID: m.TrackID, Muted: m.Muted}, ""
	}
	return "", nil, "unexpected message type " + m.Type
}

func validLayer(l string) bool {
	switch l {
	case bus.LayerAuto, bus.LayerLow, bus.LayerMedium, bus.LayerHigh:
		return true
	}
	return false
}

// leave ends the session on its node and closes the connection.
func (c *conn) leave(sess *session) {
	c.mu.Lock()
	c.ended = true
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), bus.DefaultRequestTimeout)
	defer cancel()
	if err := c.s.nodeCmd(ctx, sess.NodeID, bus.CmdClose, bus.Close{SessionID: sess.SessionID, Reason: "left"}, nil); err != nil &&
		!bus.IsCode(err, bus.CodeNotFound) {
		c.log.Warn("close session on leave", "err", err)
	}
	c.send(protocol.Message{Type: protocol.TypeClosed, Reason: "left"})
	c.closeWith(1000, "left", true)
}

// relayData publishes application data to the room.
func (c *conn) relayData(sess *session, m protocol.Message) {
	if len(m.Payload) > maxDataPayload {
		c.sendError(m.ID, protocol.CodeTooLarge, "data: payload over 64 KiB")
		return
	}
	now := time.Now()
	if !c.dataRate.take(now, 1) || !c.dataBytes.take(now, float64(len(m.Payload))) {
		c.s.met.refused.WithLabelValues("rate").Inc()
		// One error a second: a flood of replies would only fill the
		// sender's own queue.
		if now.Sub(c.lastRateError) >= time.Second {
			c.lastRateError = now
			c.refuse(m.ID, "", &limitError{code: protocol.CodeRateLimited, msg: "data: too many messages; slow down"})
		}
		return
	}
	self := sess.Participant
	ev := bus.Event{Type: bus.EventData, Namespace: self.Namespace, Room: self.Room, Participant: &self,
		From: self.Identity, To: m.To, Payload: m.Payload}
	if err := c.s.opts.Bus.Publish(bus.RoomEvents(self.Namespace, self.Room), ev); err != nil {
		c.log.Warn("relay data", "err", err)
		c.sendError(m.ID, protocol.CodeInternal, "data: not relayed")
	}
}
