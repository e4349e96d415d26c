package signal

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
)

// onRoomEvent forwards a room event to the client (called on a NATS
// goroutine).
func (c *conn) onRoomEvent(msg *nats.Msg) {
	var ev bus.Event
	if err := json.Unmarshal(msg.Data, &ev); err != nil {
		c.log.Debug("ignoring bad room event", "err", err)
		return
	}
	c.deliver(ev)
}

// deliver sends ev to the client, or keeps it until "joined" is sent.
// c.mu is not held while sending: send may wait up to SlowClientGrace for
// a full queue, and nothing else that takes c.mu (requests of this client,
// moveOffNode over every connection) should wait with it.
func (c *conn) deliver(ev bus.Event) {
	c.mu.Lock()
	if !c.joined {
		if len(c.pending) >= c.s.opts.SendQueue {
			c.closeWith(websocket.StatusPolicyViolation, "slow client", false)
		} else {
			c.pending = append(c.pending, ev)
		}
		c.mu.Unlock()
		return
	}
	mine := forSession(ev, c.sess)
	if mine && ev.Type == bus.EventActiveSpeakers && ev.Node != "" {
		ev.Speakers = c.mergeSpeakers(ev.Node, ev.Speakers)
	}
	c.mu.Unlock()
	if !mine {
		return
	}
	// Data messages may be dropped for a client whose queue is half full:
	// the room's state events keep the other half, so another
	// participant's flood never disconnects this one as too slow.
	if ev.Type == bus.EventData && len(c.out) >= cap(c.out)/2 {
		c.s.met.dropped.WithLabelValues(ev.Type).Inc()
		return
	}
	c.send(eventMessage(ev))
}

// mergeSpeakers records node's active speakers and returns those of every
// node of the room, loudest first; c.mu is held.
func (c *conn) mergeSpeakers(node string, sp []bus.Speaker) []bus.Speaker {
	if c.speakers == nil {
		c.speakers = map[string][]bus.Speaker{}
	}
	if len(sp) == 0 {
		delete(c.speakers, node)
	} else {
		c.speakers[node] = sp
	}
	out := []bus.Speaker{}
	for _, s := range c.speakers {
		out = append(out, s...)
	}
	slices.SortStableFunc(out, func(a, b bus.Speaker) int {
		switch {
		case a.Level > b.Level:
			return -1
		case a.Level < b.Level:
			return 1
		}
		return strings.Compare(a.SessionID, b.SessionID)
	})
	return out
}

// forSession reports whether a room event is meant for sess: data
// messages go to their recipients only, never back to their sender.
func forSession(ev bus.Event, sess *session) bool {
	if (ev.Namespace != "" && ev.Namespace != sess.Namespace) || (ev.Room != "" && ev.Room != sess.Room) {
		return false
	}
	if ev.Type != bus.EventData {
		return true
	}
	if ev.Participant != nil && ev.Participant.SessionID == sess.SessionID {
		return false
	}
	return len(ev.To) == 0 || slices.Contains(ev.To, sess.Identity)
}

// onSessionEvent handles an event for this session only.
func (c *conn) onSessionEvent(msg *nats.Msg) {
	var ev bus.Event
	if err := json.Unmarshal(msg.Data, &ev); err != nil {
		return
	}
	if ev.Type != bus.EventSessionClosed {
		c.deliver(ev)
		return
	}
	c.mu.Lock()
	already := c.ended
	c.ended = true
	c.mu.Unlock()
	if already { // our own leave: "closed" is on its way
		return
	}
	reason := ev.Reason
	if reason == "" {
		reason = "session ended"
	}
	c.send(protocol.Message{Type: protocol.TypeClosed, Reason: reason})
	c.closeWith(protocol.CloseSessionEnded, "session ended", true)
}

// eventMessage converts a bus event into a protocol message.
func eventMessage(ev bus.Event) protocol.Message {
	m := protocol.Message{
		Type: ev.Type, Participant: ev.Participant, Track: ev.Track, Speakers: ev.Speakers,
		Reason: ev.Reason, MID: ev.MID, Layer: ev.Layer, From: ev.From, Payload: ev.Payload,
	}
	if ev.Type == bus.EventLayerChanged && ev.Track != nil {
		m.TrackID = ev.Track.ID
		m.Track = nil
	}
	if ev.Type == bus.EventActiveSpeakers && m.Speakers == nil {
		m.Speakers = []bus.Speaker{}
	}
	return m
}
