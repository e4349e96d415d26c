package client

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
)

// published maps this client's track names to its LocalTracks so that
// track_published events give them their ids.
type published struct {
	mu     sync.Mutex
	byName map[string]*LocalTrack
	all    []*LocalTrack
}

func (c *Client) bindPublished(t bus.TrackInfo) {
	c.pub.mu.Lock()
	lt := c.pub.byName[t.Name]
	c.pub.mu.Unlock()
	if lt != nil {
		lt.setID(t.ID)
	}
}

// LocalTracks lists the tracks this client published.
func (c *Client) LocalTracks() []*LocalTrack {
	c.pub.mu.Lock()
	defer c.pub.mu.Unlock()
	return append([]*LocalTrack(nil), c.pub.all...)
}

// RemoteTracks lists the current subscriptions.
func (c *Client) RemoteTracks() []*RemoteTrack { return c.peer.remoteTracks() }

// Publish adds one sendonly transceiver per spec, negotiates them with one
// offer and starts the synthetic generators. Track ids arrive with the
// track_published events; see WaitPublished.
func (c *Client) Publish(ctx context.Context, specs ...TrackSpec) ([]*LocalTrack, error) {
	c.negMu.Lock()
	defer c.negMu.Unlock()
	tracks, err := c.peer.addSendTracks(specs, "", &c.trackSeq)
	if err != nil {
		return nil, err
	}
	c.pub.mu.Lock()
	if c.pub.byName == nil {
		c.pub.byName = map[string]*LocalTrack{}
	}
	for _, t := range tracks {
		c.pub.byName[t.Name()] = t
		c.pub.all = append(c.pub.all, t)
	}
	c.pub.mu.Unlock()
	sdp, err := c.peer.offer(false)
	if err != nil {
		return nil, err
	}
	specsOut := make([]bus.PublishSpec, len(tracks))
	for i, t := range tracks {
		specsOut[i] = bus.PublishSpec{MID: t.MID(), Source: t.spec.Source, Name: t.Name()}
	}
	if err := c.negotiate(ctx, protocol.Message{Type: protocol.TypeOffer, SDP: sdp, Publish: specsOut}); err != nil {
		return nil, err
	}
	for _, t := range tracks {
		c.peer.startTrack(t)
	}
	// Events may have named the tracks before they were registered.
	for _, ti := range c.Tracks() {
		if ti.SessionID == c.self.SessionID {
			c.bindPublished(ti)
		}
	}
	return tracks, nil
}

// Unpublish stops sending the tracks and renegotiates; the room sees
// track_unpublished for each. A PublishReader stream stops (its Err is
// ErrUnpublished).
func (c *Client) Unpublish(ctx context.Context, tracks ...*LocalTrack) error {
	c.negMu.Lock()
	defer c.negMu.Unlock()
	for _, t := range tracks {
		t.stop()
		if err := c.peer.pc.RemoveTrack(t.transceiver.Sender()); err != nil {
			return fmt.Errorf("unpublish %s: %w", t.Name(), err)
		}
	}
	c.pub.mu.Lock()
	for _, t := range tracks {
		delete(c.pub.byName, t.Name())
		c.pub.all = slices.DeleteFunc(c.pub.all, func(x *LocalTrack) bool { return x == t })
	}
	c.pub.mu.Unlock()
	sdp, err := c.peer.offer(false)
	if err != nil {
		return err
	}
	return c.negotiate(ctx, protocol.Message{Type: protocol.TypeOffer, SDP: sdp})
}

// negotiate sends an offer message and applies the answer.
func (c *Client) negotiate(ctx context.Context, m protocol.Message) error {
	reply, err := c.request(ctx, m)
	if err != nil {
		return fmt.Errorf("offer: %w", err)
	}
	if reply.Type != protocol.TypeAnswer {
		return fmt.Errorf("offer: %w: %q", ErrUnexpected, reply.Type)
	}
	return c.peer.answer(reply.SDP)
}

// WaitPublished waits until every track has its id.
func (c *Client) WaitPublished(ctx context.Context, tracks ...*LocalTrack) error {
	done := c.Done()
	for _, t := range tracks {
		select {
		case <-t.idSet:
		case <-ctx.Done():
			return fmt.Errorf("track %q not published: %w", t.Name(), ctx.Err())
		case <-done:
			return ErrClosed
		}
	}
	return nil
}

// SubscribeSpec names a track to receive and its starting layer.
type SubscribeSpec struct {
	TrackID string
	Layer   string // bus.LayerLow, ...; empty lets the SFU choose
}

// Subscribe receives one track; see SubscribeMany.
func (c *Client) Subscribe(ctx context.Context, trackID, layer string) (*RemoteTrack, error) {
	ts, err := c.SubscribeMany(ctx, SubscribeSpec{TrackID: trackID, Layer: layer})
	if err != nil {
		return nil, err
	}
	return ts[0], nil
}

// SubscribeMany receives the given tracks (which must be in the room
// state). Free recvonly transceivers are re-bound with "subscribe"; the
// rest get new recvonly transceivers negotiated with one offer.
func (c *Client) SubscribeMany(ctx context.Context, specs ...SubscribeSpec) ([]*RemoteTrack, error) {
	c.negMu.Lock()
	defer c.negMu.Unlock()
	kinds := map[string]string{}
	for _, t := range c.Tracks() {
		kinds[t.ID] = t.Kind
	}
	out := make([]*RemoteTrack, len(specs))
	var rebind []bus.Subscription
	var fresh []int
	var freshTr []*webrtc.RTPTransceiver
	for i, s := range specs {
		kind, ok := kinds[s.TrackID]
		if !ok {
			return nil, fmt.Errorf("%w: track %q is not in the room", ErrNotFound, s.TrackID)
		}
		if slot := c.peer.freeSlot(kind); slot != nil {
			rebind = append(rebind, bus.Subscription{MID: slot.mid, TrackID: s.TrackID, Layer: s.Layer})
			out[i] = newRemoteTrack(slot.mid, s.TrackID, kind)
			continue
		}
		k := webrtc.RTPCodecTypeVideo
		if kind == bus.KindAudio {
			k = webrtc.RTPCodecTypeAudio
		}
		tr, err := c.peer.addRecv(k)
		if err != nil {
			return nil, fmt.Errorf("add transceiver: %w", err)
		}
		fresh, freshTr = append(fresh, i), append(freshTr, tr)
	}
	if len(rebind) > 0 {
		if _, err := c.request(ctx, protocol.Message{Type: protocol.TypeSubscribe, Subscribe: rebind}); err != nil {
			c.peer.releaseSlots(rebind)
			return nil, fmt.Errorf("subscribe: %w", err)
		}
		for i := range out {
			if t := out[i]; t != nil {
				c.peer.setSlotTrack(t)
			}
		}
	}
	if len(fresh) == 0 {
		return out, nil
	}
	sdp, err := c.peer.offer(false)
	if err != nil {
		return nil, err
	}
	subs := make([]bus.Subscription, len(fresh))
	for j, i := range fresh {
		mid := freshTr[j].Mid()
		subs[j] = bus.Subscription{MID: mid, TrackID: specs[i].TrackID, Layer: specs[i].Layer}
		out[i] = newRemoteTrack(mid, specs[i].TrackID, kinds[specs[i].TrackID])
		c.peer.setSlotTrack(out[i])
	}
	// Negotiate the new transceivers first and bind them to tracks only once
	// the answer is applied. A node sends on a bound transceiver at once;
	// media on an SSRC not yet in the remote description makes Pion probe
	// the stream on a goroutine that races with the receiver it starts
	// (lost packets, a data race). Browsers take such early media in their
	// stride; the node's answer already carries the SSRC of every
	// receive-only m-line, so binding afterwards costs one round trip.
	if err := c.negotiate(ctx, protocol.Message{Type: protocol.TypeOffer, SDP: sdp}); err != nil {
		c.peer.releaseSlots(subs)
		return nil, err
	}
	if _, err := c.request(ctx, protocol.Message{Type: protocol.TypeSubscribe, Subscribe: subs}); err != nil {
		c.peer.releaseSlots(subs)
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	return out, nil
}

// Unsubscribe stops receiving the tracks; their transceivers become free
// for later subscriptions.
func (c *Client) Unsubscribe(ctx context.Context, tracks ...*RemoteTrack) error {
	mids := make([]string, len(tracks))
	for i, t := range tracks {
		mids[i] = t.mid
	}
	if _, err := c.request(ctx, protocol.Message{Type: protocol.TypeUnsubscribe, MIDs: mids}); err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	c.peer.mu.Lock()
	for _, m := range mids {
		if s := c.peer.slots[m]; s != nil {
			s.free.Store(true)
			if t := s.cur.Load(); t != nil {
				t.end()
			}
		}
	}
	c.peer.mu.Unlock()
	return nil
}

// SetLayer asks for another simulcast layer of a subscription.
func (c *Client) SetLayer(ctx context.Context, t *RemoteTrack, layer string) error {
	if _, err := c.request(ctx, protocol.Message{Type: protocol.TypeSetLayer, MID: t.mid, Layer: layer}); err != nil {
		return fmt.Errorf("set_layer: %w", err)
	}
	return nil
}

// Mute mutes or unmutes a published track; a synthetic track also stops
// or resumes sending.
func (c *Client) Mute(ctx context.Context, t *LocalTrack, muted bool) error {
	id := t.ID()
	if id == "" {
		return fmt.Errorf("mute: %w", ErrNotPublished)
	}
	if _, err := c.request(ctx, protocol.Message{Type: protocol.TypeMute, TrackID: id, Muted: muted}); err != nil {
		return fmt.Errorf("mute: %w", err)
	}
	t.SetPaused(muted)
	return nil
}

// RestartICE renegotiates with new ICE credentials.
func (c *Client) RestartICE(ctx context.Context) error {
	c.negMu.Lock()
	defer c.negMu.Unlock()
	sdp, err := c.peer.offer(true)
	if err != nil {
		return err
	}
	return c.negotiate(ctx, protocol.Message{Type: protocol.TypeOffer, SDP: sdp})
}

// NACKsSent is how many lost packets this client requested with NACKs.
func (c *Client) NACKsSent() uint64 { return c.peer.nacksSent.Load() }
