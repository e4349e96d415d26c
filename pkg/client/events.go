package client

import (
	"context"
	"sort"
	"sync"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
)

// Event is a room or session event received from the server: one of the
// protocol's event types (participant_joined, participant_left,
// track_published, track_unpublished, track_muted, active_speakers,
// layer_changed, data), or "closed" and "error" (an error that answers no
// request).
type Event struct {
	Type        string
	Participant *Participant
	Track       *TrackInfo
	Speakers    []Speaker
	MID         string
	Layer       string
	TrackID     string
	From        string
	Payload     []byte
	Reason      string
	Error       *ErrorInfo
}

// deliver hands a reply to its waiting request.
func (c *Client) deliver(m protocol.Message) bool {
	c.pendMu.Lock()
	ch := c.pending[m.ID]
	c.pendMu.Unlock()
	if ch == nil {
		return false
	}
	select {
	case ch <- m:
	default:
	}
	return true
}

func (c *Client) handleEvent(cn *wsConn, m protocol.Message) {
	switch m.Type {
	case protocol.TypePong, protocol.TypeOK, protocol.TypeAnswer:
		return // a reply whose request gave up
	case protocol.TypeClosed:
		r := m.Reason
		cn.reason.Store(&r)
	case protocol.TypeLayerChanged:
		c.peer.mu.Lock()
		slot := c.peer.slots[m.MID]
		c.peer.mu.Unlock()
		if slot != nil {
			if t := slot.cur.Load(); t != nil {
				l := m.Layer
				t.serverLayer.Store(&l)
			}
		}
	case protocol.TypeTrackPublished:
		if m.Track != nil && m.Track.SessionID == c.self.SessionID {
			c.bindPublished(*m.Track)
		}
	}
	if c.room.apply(m) {
		c.room.changed()
	}
	ev := Event{Type: m.Type, Participant: m.Participant, Track: m.Track, Speakers: m.Speakers, MID: m.MID,
		Layer: m.Layer, TrackID: m.TrackID, From: m.From, Payload: m.Payload, Reason: m.Reason, Error: m.Error}
	cn.push(ev, &c.dropped)
}

// roomState is the client's view of the room, kept from "joined" and the
// events after it.
type roomState struct {
	mu           sync.Mutex
	participants map[string]*bus.ParticipantInfo // by session id
	notify       chan struct{}                   // closed and replaced on change
}

func (r *roomState) init() {
	r.participants = map[string]*bus.ParticipantInfo{}
	r.notify = make(chan struct{})
}

func (r *roomState) reset(list []bus.ParticipantInfo) {
	r.mu.Lock()
	r.participants = map[string]*bus.ParticipantInfo{}
	for i := range list {
		p := list[i]
		r.participants[p.SessionID] = &p
	}
	r.mu.Unlock()
	r.changed()
}

func (r *roomState) changed() {
	r.mu.Lock()
	close(r.notify)
	r.notify = make(chan struct{})
	r.mu.Unlock()
}

// apply updates the state from an event and reports whether it changed.
func (r *roomState) apply(m protocol.Message) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch m.Type {
	case protocol.TypeParticipantJoined:
		if m.Participant == nil {
			return false
		}
		if _, ok := r.participants[m.Participant.SessionID]; !ok {
			r.participants[m.Participant.SessionID] = &bus.ParticipantInfo{Participant: *m.Participant}
		}
	case protocol.TypeParticipantLeft:
		if m.Participant == nil {
			return false
		}
		delete(r.participants, m.Participant.SessionID)
	case protocol.TypeTrackPublished, protocol.TypeTrackMuted, protocol.TypeTrackUnpublished:
		if m.Track == nil {
			return false
		}
		p := r.participants[m.Track.SessionID]
		if p == nil {
			if m.Type == protocol.TypeTrackUnpublished {
				return false
			}
			p = &bus.ParticipantInfo{Participant: bus.Participant{SessionID: m.Track.SessionID, Identity: m.Track.Identity}}
			if m.Participant != nil {
				p.Participant = *m.Participant
			}
			r.participants[m.Track.SessionID] = p
		}
		p.Tracks = upsertTrack(p.Tracks, *m.Track, m.Type == protocol.TypeTrackUnpublished)
	default:
		return false
	}
	return true
}

func upsertTrack(ts []bus.TrackInfo, t bus.TrackInfo, remove bool) []bus.TrackInfo {
	for i := range ts {
		if ts[i].ID == t.ID {
			if remove {
				return append(ts[:i], ts[i+1:]...)
			}
			ts[i] = t
			return ts
		}
	}
	if remove {
		return ts
	}
	return append(ts, t)
}

// Participants returns the room's participants (this session included
// once its own participant_joined arrived), sorted by identity.
func (c *Client) Participants() []ParticipantInfo {
	c.room.mu.Lock()
	out := make([]bus.ParticipantInfo, 0, len(c.room.participants))
	for _, p := range c.room.participants {
		q := *p
		q.Tracks = append([]bus.TrackInfo(nil), p.Tracks...)
		out = append(out, q)
	}
	c.room.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Identity < out[j].Identity })
	return out
}

// Tracks returns every track published in the room.
func (c *Client) Tracks() []TrackInfo {
	var out []bus.TrackInfo
	for _, p := range c.Participants() {
		out = append(out, p.Tracks...)
	}
	return out
}

// WaitUntil re-evaluates cond after every change of the room state until
// it holds, ctx ends or the connection ends.
func (c *Client) WaitUntil(ctx context.Context, cond func() bool) error {
	done := c.Done()
	for {
		c.room.mu.Lock()
		ch := c.room.notify
		c.room.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			if cond() {
				return nil
			}
			return ErrClosed
		}
	}
}

// WaitTracks waits until at least n tracks of the room satisfy match and
// returns them.
func (c *Client) WaitTracks(ctx context.Context, n int, match func(TrackInfo) bool) ([]TrackInfo, error) {
	var got []bus.TrackInfo
	err := c.WaitUntil(ctx, func() bool {
		got = got[:0]
		for _, t := range c.Tracks() {
			if match == nil || match(t) {
				got = append(got, t)
			}
		}
		return len(got) >= n
	})
	return got, err
}
