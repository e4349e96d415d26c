package sfu

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/relay"
)

// relayGrace is how long a remote stream keeps coming after this node's
// last subscriber of it left (a quick re-subscribe finds it flowing).
const relayGrace = 2 * time.Second

// relayIn is a remote track received over the relay: an up track whose
// source is the relay ingress rather than a Pion receiver. Its local
// subscribers attach to up as to any track; its keyframe requests and this
// node's demand travel back to the origin hop by hop.
type relayIn struct {
	r      *relayNode
	up     *upTrack
	origin string // where the track is published
	// from is the node that feeds this one (the origin, or a nearer
	// holder the controller picked): media comes from it, demand and
	// keyframe requests go to it. Falls back to the origin when the
	// holder goes quiet.
	from    atomic.Pointer[string]
	got     atomic.Bool // a packet arrived since the node's last tick
	created time.Time

	mu        sync.Mutex // guards the demand state below
	sentMask  uint8
	sentAt    time.Time
	idleSince time.Time
	lastRecv  time.Time // tick of the last packet seen (got)
	removed   bool
}

// deliver hands a relayed packet of layer idx to the up track's fan-out;
// it runs on the transport's receive goroutine.
func (in *relayIn) deliver(idx int, raw []byte, pkt *rtp.Packet) {
	if !in.got.Load() {
		in.got.Store(true)
	}
	l := in.up.layers[idx]
	if !l.present.Load() {
		l.present.Store(true)
	}
	in.up.forward(l, raw, pkt)
	if pkt.SSRC != 0 && l.ssrc.Load() != pkt.SSRC {
		l.ssrc.Store(pkt.SSRC)
	}
}

// applyReport takes the feeder's view of the layers: which are usable
// (present and not paused at the origin) and their bitrates, for layer
// choice here as at the origin.
func (in *relayIn) applyReport(usable uint8, bitrates [maxLayers]uint32) {
	if !in.up.simulcst {
		return
	}
	for i, l := range in.up.layers {
		ok := usable&(1<<i) != 0
		if ok {
			l.present.Store(true)
		}
		l.idle.Store(l.present.Load() && !ok)
		l.bitrate.Store(uint64(bitrates[i]))
	}
	in.up.reported.Store(true)
}

// wanted is the layers this node's subscribers forward or wait for, and
// those the nodes it feeds in turn ask for; subs counts both.
func (in *relayIn) wanted() (uint8, int) {
	downs := in.up.downTracks()
	var relayed uint8
	nrel := 0
	in.r.mu.Lock()
	o := in.r.outs[in.up]
	in.r.mu.Unlock()
	if o != nil {
		for _, layers := range o.destinations() {
			relayed |= layers
			nrel++
		}
	}
	if !in.up.simulcst {
		if len(downs)+nrel == 0 {
			return 0, 0
		}
		return 1, len(downs) + nrel
	}
	mask := relayed
	for _, d := range downs {
		d.mu.Lock()
		if d.src == in.up {
			if d.target >= 0 && d.target < maxLayers {
				mask |= 1 << d.target
			}
			if d.current >= 0 {
				mask |= 1 << d.current
			}
		}
		d.mu.Unlock()
	}
	return mask, len(downs) + nrel
}

// refresh sends this node's demand when it changed or is due; it reports
// whether the ingress should go (no subscriber for relayGrace).
func (in *relayIn) refresh(now time.Time) bool {
	mask, subs := in.wanted()
	in.mu.Lock()
	if in.removed {
		in.mu.Unlock()
		return false
	}
	if subs == 0 {
		if in.idleSince.IsZero() {
			in.idleSince = now
		}
		if now.Sub(in.idleSince) > relayGrace {
			in.mu.Unlock()
			return true
		}
		mask = in.sentMask // keep it flowing through the grace period
	} else {
		in.idleSince = time.Time{}
	}
	in.fallBack(now, subs)
	due := mask != in.sentMask || now.Sub(in.sentAt) >= demandRefresh
	if due {
		in.sentMask, in.sentAt = mask, now
	}
	in.mu.Unlock()
	if due && mask != 0 {
		in.sendDemand(mask)
	}
	return false
}

// feeder is the node this one gets the stream from.
func (in *relayIn) feeder() string { return *in.from.Load() }

// fallBack turns to the origin when a holder feeding this node has sent
// nothing for holderQuiet while subscribers wait; in.mu is held.
func (in *relayIn) fallBack(now time.Time, subs int) {
	if in.got.Swap(false) {
		in.lastRecv = now
	}
	from := in.feeder()
	last := in.lastRecv
	if last.Before(in.created) {
		last = in.created
	}
	if from == in.origin || subs == 0 || now.Sub(last) < holderQuiet {
		return
	}
	in.from.Store(&in.origin)
	in.sentMask = 0 // demand again at once
	in.r.log.Info("relay feeder changed", "track", in.up.id, "from", in.origin, "was", from,
		"reason", "holder "+from+" sent nothing for "+holderQuiet.String())
}

// holderQuiet is how long a holder may stay silent before its
// destinations turn to the origin.
const holderQuiet = 3 * time.Second

func (in *relayIn) sendDemand(mask uint8) {
	var b [demandPktSize]byte
	in.sendFeedback(0, demandPacket(&b, mask))
}

// sendFeedback sends an RTCP payload about layer idx towards the origin.
func (in *relayIn) sendFeedback(idx int, payload []byte) {
	p := relay.Packet{
		Type: relay.TypeFeedback, Namespace: in.up.owner.Namespace, Room: in.up.owner.Room,
		Stream: relay.StreamID{Track: in.up.id, Layer: uint8(idx)}, Origin: in.feeder(),
		Dests: []string{in.r.n.id}, Payload: payload,
	}
	in.r.send(in.r.nextHop(p.Origin), &p)
}

// relayUpstream is a relayed track's upstream: keyframe requests of its
// subscribers go to the origin over the relay (the up track throttles
// them per layer; so does the origin).
type relayUpstream struct{ in *relayIn }

func (u relayUpstream) WriteRTCP(pkts []rtcp.Packet) error {
	for _, p := range pkts {
		var ssrc uint32
		switch p := p.(type) {
		case *rtcp.PictureLossIndication:
			ssrc = p.MediaSSRC
		case *rtcp.FullIntraRequest:
			ssrc = p.MediaSSRC
		default:
			continue
		}
		for i, l := range u.in.up.layers {
			if l.ssrc.Load() == ssrc {
				b, err := rtcp.Marshal([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
				if err != nil {
					return err
				}
				u.in.sendFeedback(i, b)
				break
			}
		}
	}
	return nil
}

// ingress returns the up track of remote track id of the room, creating
// it from the room's state on the other nodes.
func (r *relayNode) ingress(ctx context.Context, namespace, room, id string) (*upTrack, error) {
	if in := (*r.ins.Load())[id]; in != nil {
		if in.up.owner.Namespace != namespace || in.up.owner.Room != room {
			return nil, fmt.Errorf("%w: %s", ErrNoTrack, id)
		}
		return in.up, nil
	}
	parts := r.n.remoteRoomState(ctx, namespace, room)
	for _, p := range parts {
		for _, t := range p.Tracks {
			if t.ID == id && p.Node != "" && p.Node != r.n.id {
				from, reason := r.locate(ctx, namespace, room, id, p.Node)
				return r.addIngress(p.Participant, p.Node, from, t, reason), nil
			}
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrNoTrack, id)
}

// addIngress creates and registers the ingress of track t, published on
// origin, fed by from.
func (r *relayNode) addIngress(owner bus.Participant, origin, from string, t bus.TrackInfo, reason string) *upTrack {
	r.mu.Lock()
	defer r.mu.Unlock()
	if in := (*r.ins.Load())[t.ID]; in != nil {
		return in.up
	}
	n := r.n
	clock := uint32(90000)
	if t.Kind == bus.KindAudio {
		clock = 48000
	}
	up := newUpTrack(t.ID, owner, t.Kind, canonicalMime(t.MimeType), clock, len(t.Layers) > 1, &n.bytesIn)
	up.ingress = true
	up.m, up.batch, up.rtx, up.fwdTime = n.metrics, n.mux, n.rtx, n.fwdTime
	up.info = t
	up.info.Layers = append([]string(nil), t.Layers...)
	if !up.simulcst {
		up.layers[0].present.Store(true)
		up.layers[0].ssrc.Store(1)
	}
	for _, name := range t.Layers {
		if i, ok := layerIndex(name); ok && up.simulcst {
			up.layers[i].present.Store(true)
			up.layers[i].ssrc.Store(uint32(i + 1)) // until the first packet tells the real one
		}
	}
	in := &relayIn{r: r, up: up, origin: origin, created: time.Now()}
	in.from.Store(&from)
	up.upstream = relayUpstream{in}
	next := map[string]*relayIn{}
	for k, v := range *r.ins.Load() {
		next[k] = v
	}
	next[t.ID] = in
	r.ins.Store(&next)
	n.mu.Lock()
	n.tracks[t.ID] = up
	n.mu.Unlock()
	r.watchRoom(owner.Namespace, owner.Room)
	r.log.Info("relay ingress", "track", t.ID, "kind", t.Kind, "origin", origin, "from", from, "next_hop", r.nextHop(from),
		"namespace", owner.Namespace, "room", owner.Room, "reason", "a subscriber here wants a track published on "+origin+"; "+reason)
	if r.n.streams != nil {
		r.n.streams.holding(up, &bus.StreamHolder{From: from, Layers: up.info.Layers, Reason: reason})
	}
	return up
}

// removeIngress tells the origin this node needs the stream no more and
// detaches its subscribers.
func (r *relayNode) removeIngress(in *relayIn, reason string) {
	in.mu.Lock()
	if in.removed {
		in.mu.Unlock()
		return
	}
	in.removed = true
	in.mu.Unlock()
	in.sendDemand(0)
	r.mu.Lock()
	next := map[string]*relayIn{}
	for k, v := range *r.ins.Load() {
		if v != in {
			next[k] = v
		}
	}
	r.ins.Store(&next)
	r.mu.Unlock()
	r.n.mu.Lock()
	if r.n.tracks[in.up.id] == in.up {
		delete(r.n.tracks, in.up.id)
	}
	r.n.mu.Unlock()
	in.up.closed.Store(true)
	for _, d := range in.up.downTracks() {
		_ = r.n.setSource(d, nil, autoLayer)
	}
	if r.n.streams != nil {
		r.n.streams.holding(in.up, nil)
	}
	r.log.Info("relay ingress stopped", "track", in.up.id, "origin", in.origin, "reason", reason)
}

// roomWatch follows the events of a room with relayed tracks here: the
// origin's mutes and unpublishes apply to the ingress tracks.
type roomWatch struct {
	stop func()
}

// watchRoom starts following a room's events; r.mu is held.
func (r *relayNode) watchRoom(namespace, room string) {
	key := bus.RoomKey(namespace, room)
	if r.wantR[key] != nil || r.n.bus == nil {
		return
	}
	sub, err := r.n.bus.Subscribe(bus.RoomEvents(namespace, room), r.onRoomEvent)
	if err != nil {
		r.log.Warn("follow room events", "room", key, "err", err)
		return
	}
	r.wantR[key] = &roomWatch{stop: func() { _ = sub.Unsubscribe() }}
}

// unwatchIdleRooms stops following rooms with no relayed track here.
func (r *relayNode) unwatchIdleRooms() {
	used := map[string]bool{}
	for _, in := range *r.ins.Load() {
		used[bus.RoomKey(in.up.owner.Namespace, in.up.owner.Room)] = true
	}
	r.mu.Lock()
	var stops []*roomWatch
	for key, w := range r.wantR {
		if !used[key] {
			stops = append(stops, w)
			delete(r.wantR, key)
		}
	}
	r.mu.Unlock()
	for _, w := range stops {
		w.stop()
	}
}

// onRoomEvent applies an origin's unpublish and unmute to the ingress
// track. Muting needs nothing here: the origin stops sending.
func (r *relayNode) onRoomEvent(m *nats.Msg) {
	var ev bus.Event
	if json.Unmarshal(m.Data, &ev) != nil || ev.Track == nil {
		return
	}
	in := (*r.ins.Load())[ev.Track.ID]
	if in == nil || in.up.owner.Namespace != ev.Namespace || in.up.owner.Room != ev.Room {
		return
	}
	switch ev.Type {
	case bus.EventTrackUnpublished:
		r.n.goroutine(func() { r.removeIngress(in, "unpublished on "+in.origin) })
	case bus.EventTrackMuted:
		if !ev.Track.Muted {
			for _, d := range in.up.downTracks() {
				d.resume()
			}
		}
	}
}
