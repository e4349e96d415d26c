package client

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
)

// wsConn is one WebSocket connection of a client and what belongs to it:
// the channels Done and Events return while it is the current one.
type wsConn struct {
	ws       *websocket.Conn
	resumeOf string        // the session this connection re-attaches ("" for the first join)
	done     chan struct{} // closed when the read loop ends (after events)
	events   chan Event
	err      atomic.Pointer[error]
	reason   atomic.Pointer[string]
}

func newWSConn(ws *websocket.Conn, buffer int, resumeOf string) *wsConn {
	ws.SetReadLimit(protocol.MaxMessageBytes * 2)
	return &wsConn{ws: ws, resumeOf: resumeOf, done: make(chan struct{}), events: make(chan Event, buffer)}
}

func (cn *wsConn) send(ctx context.Context, m protocol.Message) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return cn.ws.Write(ctx, websocket.MessageText, data)
}

// push queues ev without blocking; a full queue drops it and counts it.
// Only the connection's read loop pushes once the loop runs.
func (cn *wsConn) push(ev Event, dropped *atomic.Uint64) {
	select {
	case cn.events <- ev:
	default:
		dropped.Add(1)
	}
}

func (cn *wsConn) setErr(err error) {
	if err != nil {
		cn.err.CompareAndSwap(nil, &err)
	}
}

func (cn *wsConn) error() error {
	if e := cn.err.Load(); e != nil {
		return *e
	}
	return nil
}

// conn is the current connection.
func (c *Client) conn() *wsConn {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	return c.cur
}

// attach makes cn the current connection and starts its read loop;
// false when the client is closed.
func (c *Client) attach(cn *wsConn) bool {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	if c.closed {
		return false
	}
	c.cur = cn
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.readLoop(cn)
	}()
	return true
}

func (c *Client) readLoop(cn *wsConn) {
	defer func() {
		close(cn.events)
		close(cn.done)
		c.room.changed()
	}()
	for {
		_, data, err := cn.ws.Read(c.ctx)
		if err != nil {
			cn.setErr(err)
			return
		}
		var m protocol.Message
		if err := json.Unmarshal(data, &m); err != nil {
			c.log.Warn("malformed server frame", "err", err)
			continue
		}
		if m.Type == protocol.TypeJoined && m.Self != nil {
			// Before the reply is handed over and before the events that
			// follow it, so that none of them is applied to stale state.
			c.onJoined(cn, m)
		}
		if m.ID != "" && c.deliver(m) {
			continue
		}
		c.handleEvent(cn, m)
	}
}

// onJoined takes the room state of "joined". On the first join it is the
// state; on a resume of the same session it replaces the state and the
// differences become events; a resume that got a new session changes
// nothing (Reconnect gives that session up).
func (c *Client) onJoined(cn *wsConn, m protocol.Message) {
	switch cn.resumeOf {
	case "":
		if c.self.SessionID != "" {
			return // a second "joined" on the first connection: ignore it
		}
		c.self = *m.Self
		if m.Room != nil {
			c.roomName = *m.Room
		}
		c.room.reset(m.Participants)
	case m.SessionID:
		for _, ev := range c.room.resync(m.Participants, cn.resumeOf) {
			cn.push(ev, &c.dropped)
		}
		c.room.changed()
	}
}

// Reconnect re-attaches this session through the signaling server at
// wsURL (any server of the cluster, see docs/protocol.md, Resume). It ends
// the current WebSocket if it is still up (without "leave", so the session
// stays while its media flows), dials wsURL and joins with the token given
// to Connect and this session's id.
//
// The PeerConnection, the published tracks and the subscriptions stay as
// they are; media keeps flowing throughout. The room state is rebuilt from
// "joined", and what changed while the client was away is delivered on the
// new connection's Events channel as ordinary events (participant_left,
// participant_joined, track_unpublished, track_published, track_muted),
// after the events the old channel still held. Done, Events, Err and
// ClosedReason return the new connection's values afterwards. If the
// PeerConnection failed meanwhile, follow with RestartICE.
//
// If the server no longer has the session it creates a new one; Reconnect
// then leaves that session, closes the client and returns ErrSessionLost:
// start over with Connect. After any other error the client stays
// disconnected and Reconnect may be tried again (through another server).
func (c *Client) Reconnect(ctx context.Context, wsURL string) error {
	c.recMu.Lock()
	defer c.recMu.Unlock()
	c.connMu.Lock()
	old, closed := c.cur, c.closed
	c.connMu.Unlock()
	if closed {
		return ErrClosed
	}
	_ = old.ws.CloseNow()
	select {
	case <-old.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	ws, _, err := websocket.Dial(ctx, wsURL, c.opts.dialOptions())
	if err != nil {
		return fmt.Errorf("dial %s: %w", wsURL, err)
	}
	cn := newWSConn(ws, c.opts.EventBuffer, c.self.SessionID)
	for ev := range old.events { // what the caller has not read yet
		cn.push(ev, &c.dropped)
	}
	if !c.attach(cn) {
		_ = ws.CloseNow()
		return ErrClosed
	}
	reply, err := c.request(ctx, protocol.Message{Type: protocol.TypeJoin, Token: c.token, Name: c.opts.Name,
		Metadata: c.opts.Metadata, SessionID: c.self.SessionID})
	if err != nil {
		_ = ws.CloseNow()
		return fmt.Errorf("rejoin: %w", err)
	}
	if reply.Type == protocol.TypeJoined && reply.SessionID == c.self.SessionID {
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_ = c.Leave(lctx)
	return fmt.Errorf("%w: session %s is gone (the server answered %q with session %q)",
		ErrSessionLost, c.self.SessionID, reply.Type, reply.SessionID)
}

// resync replaces the state with list (the room without this session,
// selfID, whose own entry is kept) and returns the events that turn the
// old state into the new one, in a stable order.
func (r *roomState) resync(list []bus.ParticipantInfo, selfID string) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.participants
	r.participants = make(map[string]*bus.ParticipantInfo, len(list)+1)
	for i := range list {
		p := list[i]
		p.Tracks = append([]bus.TrackInfo(nil), p.Tracks...)
		r.participants[p.SessionID] = &p
	}
	if s := old[selfID]; s != nil {
		r.participants[selfID] = s
	}
	var evs []Event
	for _, id := range sortedKeys(old) {
		op, np := old[id], r.participants[id]
		if id == selfID {
			continue
		}
		for _, t := range op.Tracks {
			if np == nil || findTrack(np.Tracks, t.ID) == nil {
				evs = append(evs, Event{Type: protocol.TypeTrackUnpublished, Track: &t})
			}
		}
		if np == nil {
			evs = append(evs, Event{Type: protocol.TypeParticipantLeft, Participant: &op.Participant})
		}
	}
	for _, id := range sortedKeys(r.participants) {
		op, np := old[id], r.participants[id]
		if id == selfID {
			continue
		}
		if op == nil {
			p := np.Participant
			evs = append(evs, Event{Type: protocol.TypeParticipantJoined, Participant: &p})
		}
		for _, t := range np.Tracks {
			var ot *bus.TrackInfo
			if op != nil {
				ot = findTrack(op.Tracks, t.ID)
			}
			switch {
			case ot == nil:
				evs = append(evs, Event{Type: protocol.TypeTrackPublished, Track: &t})
			case ot.Muted != t.Muted:
				evs = append(evs, Event{Type: protocol.TypeTrackMuted, Track: &t})
			}
		}
	}
	return evs
}

func sortedKeys(m map[string]*bus.ParticipantInfo) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func findTrack(ts []bus.TrackInfo, id string) *bus.TrackInfo {
	for i := range ts {
		if ts[i].ID == id {
			return &ts[i]
		}
	}
	return nil
}
