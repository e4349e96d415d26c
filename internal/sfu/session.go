package sfu

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// session is one participant's PeerConnection and what it publishes and
// receives. s.mu guards the fields below it and is held for a whole
// negotiation; it is never taken while holding Node.mu.
type session struct {
	n        *Node
	p        bus.Participant
	grants   bus.Grants
	joinedAt time.Time
	log      *slog.Logger

	mu         sync.Mutex
	pc         *webrtc.PeerConnection
	ups        map[string]*upTrack   // by mid
	downs      map[string]*downTrack // by mid
	closed     bool
	negotiated bool
	expiry     *time.Timer // closes a session that never negotiates
	// remoteCandidates counts trickled candidates (limits.go).
	remoteCandidates int

	// transportSeq numbers every RTP packet the node sends this client
	// (transport-wide congestion control, one counter for all its down
	// tracks).
	transportSeq atomic.Uint32
}

func newSession(n *Node, p bus.Participant, g bus.Grants) *session {
	if g.Hidden {
		g.Publish = false // a hidden participant's tracks would show it
	}
	return &session{
		n: n, p: p, grants: g, joinedAt: time.Now(),
		log:   n.log.With("session", p.SessionID),
		ups:   map[string]*upTrack{},
		downs: map[string]*downTrack{},
	}
}

// negotiation is the outcome of one offer: the answer and the tracks it
// published or unpublished, whose events the caller sends.
type negotiation struct {
	answer    string
	published []*upTrack
	removed   []*upTrack
}

// negotiate applies an offer and returns the complete answer (all
// candidates gathered).
func (s *session) negotiate(ctx context.Context, offer string, publish []bus.PublishSpec, subs []bus.Subscription) (negotiation, error) {
	infos, err := parseSDP(offer)
	if err != nil {
		return negotiation{}, err
	}
	if !usable(infos) {
		return negotiation{}, ErrNothingUsable
	}
	for _, mi := range infos {
		if mi.sends() && (mi.kind == "audio" || mi.kind == "video") && !s.grants.Publish {
			return negotiation{}, fmt.Errorf("%w: publish", ErrForbidden)
		}
	}
	targets, err := s.n.checkSubscriptions(ctx, s, infos, subs)
	if err != nil {
		return negotiation{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return negotiation{}, ErrNoSession
	}
	if s.pc == nil {
		if err := s.newPeerConnection(); err != nil {
			return negotiation{}, err
		}
	}
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return negotiation{}, fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	var res negotiation
	newDowns, err := s.applyTransceivers(infos, publish, &res)
	if err != nil {
		return negotiation{}, err
	}
	for i, sub := range subs {
		if err := s.n.setSource(s.downs[sub.MID], targets[i], wantOf(sub.Layer)); err != nil {
			return negotiation{}, fmt.Errorf("mid %s: %w", sub.MID, err)
		}
	}
	answer, err := s.pc.CreateAnswer(nil)
	if err != nil {
		return negotiation{}, fmt.Errorf("%w: %w", ErrNothingUsable, err)
	}
	gathered := webrtc.GatheringCompletePromise(s.pc)
	if err := s.pc.SetLocalDescription(answer); err != nil {
		return negotiation{}, fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return negotiation{}, ctx.Err()
	}
	local := s.pc.LocalDescription()
	s.finishPublished(local.SDP)
	for _, nd := range newDowns {
		sender := nd.sender
		s.n.goroutine(func() { nd.d.rtcpLoop(sender) })
	}
	s.negotiated = true
	if s.expiry != nil {
		s.expiry.Stop()
	}
	res.answer = local.SDP
	return res, nil
}

func wantOf(layer string) int {
	if i, ok := layerIndex(layer); ok {
		return i
	}
	return autoLayer
}

type newDown struct {
	d      *downTrack
	sender *webrtc.RTPSender
}

// applyTransceivers creates up tracks for m-lines the client now sends,
// unpublishes those it stopped sending and attaches a down track to every
// m-line the client receives on. s.mu is held.
func (s *session) applyTransceivers(infos []mediaInfo, publish []bus.PublishSpec, res *negotiation) ([]newDown, error) {
	var downs []newDown
	for _, t := range s.pc.GetTransceivers() {
		mid := t.Mid()
		mi, ok := findMID(infos, mid)
		if !ok || (mi.kind != "audio" && mi.kind != "video") {
			continue
		}
		if up := s.ups[mid]; up != nil && !mi.sends() {
			delete(s.ups, mid)
			res.removed = append(res.removed, up)
		}
		if mi.sends() && s.ups[mid] == nil {
			up := s.newUpTrack(mi, publish)
			s.ups[mid] = up
			res.published = append(res.published, up)
		}
		if mi.receives() && t.Sender() == nil {
			kind := webrtc.NewRTPCodecType(mi.kind)
			d := newDownTrack("DT_"+s.p.SessionID+"_"+mid, s.p.SessionID, mid, kind)
			d.onLayer = s.n.layerChanged(s.p)
			d.bytesOut = &s.n.bytesOut
			d.m = s.n.metrics
			d.rtx = s.n.rtx
			d.transportSeq = &s.transportSeq
			// AddTrack, not the node's API: only the PeerConnection's own
			// API carries its interceptors (TWCC sequence numbers, sender
			// reports) and its negotiated header extension ids. It takes the
			// first transceiver of this kind that has no sender and that the
			// client receives on: t, as the loop goes in order.
			sender, err := s.pc.AddTrack(d)
			if err != nil {
				return nil, fmt.Errorf("sender for mid %s: %w", mid, err)
			}
			if t.Sender() != sender {
				_ = s.pc.RemoveTrack(sender)
				return nil, fmt.Errorf("sender for mid %s: %w", mid, errSenderMismatch)
			}
			if s.n.naive != nil {
				s.n.naive.bindSender(d, sender)
			}
			s.downs[mid] = d
			downs = append(downs, newDown{d: d, sender: sender})
		}
	}
	return downs, nil
}

func (s *session) newUpTrack(mi mediaInfo, publish []bus.PublishSpec) *upTrack {
	spec := bus.PublishSpec{MID: mi.mid}
	for _, p := range publish {
		if p.MID == mi.mid {
			spec = p
		}
	}
	if spec.Source == "" {
		spec.Source = defaultSource(mi.kind)
	}
	up := newUpTrack("TR_"+randomID(12), s.p, mi.kind, "", 0, len(mi.rids) > 1, &s.n.bytesIn)
	up.upstream = s.pc
	up.m = s.n.metrics
	up.batch = s.n.mux
	up.rtx = s.n.rtx
	up.fwdTime = s.n.fwdTime
	up.ridIdx = mapRIDs(mi.rids)
	up.info = bus.TrackInfo{
		ID: up.id, SessionID: s.p.SessionID, Identity: s.p.Identity,
		Kind: mi.kind, Source: spec.Source, Name: spec.Name,
	}
	if up.simulcst {
		seen := map[int]bool{}
		for _, idx := range up.ridIdx {
			seen[idx] = true
		}
		for i, name := range layerNames {
			if seen[i] {
				up.info.Layers = append(up.info.Layers, name)
			}
		}
	}
	return up
}

// finishPublished fills in what only the answer tells: the codec each new
// track uses and the audio level extension id.
func (s *session) finishPublished(answer string) {
	infos, err := parseSDP(answer)
	if err != nil {
		return
	}
	for mid, up := range s.ups {
		mi, ok := findMID(infos, mid)
		if !ok || len(mi.mimes) == 0 {
			continue
		}
		up.mu.Lock()
		if up.mime == "" {
			up.mime, up.clockRate, up.codec = canonicalMime(mi.mimes[0]), mi.clock[0], codecOf(mi.mimes[0])
			up.info.MimeType = up.mime
			up.levelID = mi.extIDs[extAudioLevel]
			if s.n.naive != nil {
				s.n.naive.newLocals(up)
			}
		}
		up.mu.Unlock()
	}
}

// canonicalMime writes a lower-case mime type the way Pion names it.
func canonicalMime(m string) string {
	for _, c := range codecs() {
		if strings.EqualFold(c.MimeType, m) {
			return c.MimeType
		}
	}
	return m
}

// onTrack starts reading a stream (or simulcast layer) the client sends.
func (s *session) onTrack(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	s.mu.Lock()
	var up *upTrack
	if s.pc != nil {
		for _, t := range s.pc.GetTransceivers() {
			if t.Receiver() == recv {
				up = s.ups[t.Mid()]
			}
		}
	}
	s.mu.Unlock()
	if up == nil {
		return
	}
	idx := 0
	if up.simulcst {
		var ok bool
		if idx, ok = up.ridIdx[remote.RID()]; !ok {
			return
		}
	}
	l := up.layers[idx]
	l.rid = remote.RID()
	l.ssrc.Store(uint32(remote.SSRC()))
	l.present.Store(true)
	if s.n.naive != nil {
		s.n.goroutine(func() { s.n.naive.readLoop(up, remote, l) })
	} else {
		s.n.goroutine(func() { up.readLoop(remote, l) })
	}
	for _, d := range up.downTracks() {
		d.retarget()
	}
}

// close ends the session. byNode says the node decided it (the client
// is then told with session_closed).
func (s *session) close(reason string, byNode bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	if s.expiry != nil {
		s.expiry.Stop()
	}
	pc := s.pc
	ups := slices.Collect(maps.Values(s.ups))
	downs := slices.Collect(maps.Values(s.downs))
	s.mu.Unlock()

	s.n.removeSession(s)
	for _, up := range ups {
		s.n.unpublish(up)
	}
	for _, d := range downs {
		_ = s.n.setSource(d, nil, autoLayer)
	}
	if s.n.naive != nil {
		s.n.naive.forget(ups, downs)
	}
	if pc != nil {
		if err := pc.Close(); err != nil {
			s.log.Debug("close peer connection", "err", err)
		}
	}
	p := s.p
	if !s.grants.Hidden {
		s.n.emitRoom(bus.Event{Type: bus.EventParticipantLeft, Participant: &p, Reason: reason})
	}
	if byNode {
		s.n.emit(bus.SessionEvents(s.p.SessionID), bus.Event{
			Type: bus.EventSessionClosed, Namespace: p.Namespace, Room: p.Room, Participant: &p, Reason: reason,
		})
	}
	s.log.Info("session closed", "reason", reason, "by_node", byNode)
}

// mediaFlowing reports whether the PeerConnection is connected.
func (s *session) mediaFlowing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pc != nil && s.pc.ConnectionState() == webrtc.PeerConnectionStateConnected
}

func (s *session) info() bus.ParticipantInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	pi := bus.ParticipantInfo{Participant: s.p, JoinedAt: s.joinedAt, Tracks: []bus.TrackInfo{}}
	if s.pc != nil {
		pi.Connection = s.pc.ConnectionState().String()
	}
	for _, up := range s.ups {
		pi.Tracks = append(pi.Tracks, up.trackInfo())
	}
	return pi
}
