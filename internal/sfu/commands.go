package sfu

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// serveCommands subscribes the node's command handlers; each command
// subject is served in order on its own subscription.
func (n *Node) serveCommands() ([]*nats.Subscription, error) {
	var subs []*nats.Subscription
	add := func(sub *nats.Subscription, err error) error {
		if err != nil {
			return err
		}
		subs = append(subs, sub)
		return nil
	}
	subj := func(cmd string) string { return bus.NodeCommand(n.id, cmd) }
	for _, err := range []error{
		add(bus.Handle(n.bus, subj(bus.CmdSessionCreate), wrap(n.create))),
		add(bus.Handle(n.bus, subj(bus.CmdNegotiate), wrap(n.negotiate))),
		add(bus.Handle(n.bus, subj(bus.CmdTrickle), wrap(n.trickle))),
		add(bus.Handle(n.bus, subj(bus.CmdSubscribe), wrap(n.subscribe))),
		add(bus.Handle(n.bus, subj(bus.CmdUnsubscribe), wrap(n.unsubscribe))),
		add(bus.Handle(n.bus, subj(bus.CmdSetLayer), wrap(n.setLayer))),
		add(bus.Handle(n.bus, subj(bus.CmdMute), wrap(n.mute))),
		add(bus.Handle(n.bus, subj(bus.CmdClose), wrap(n.closeSession))),
		add(bus.Handle(n.bus, subj(bus.CmdRoomState), wrap(n.roomState))),
		add(bus.Handle(n.bus, subj(bus.CmdRoomStateLocal), wrap(n.roomStateLocal))),
		add(bus.Handle(n.bus, subj(bus.CmdForward), wrap(n.forwardCommand))),
		add(bus.Handle(n.bus, subj(bus.CmdDrain), wrap(n.drain))),
		add(bus.Handle(n.bus, subj(bus.CmdPing), wrap(n.ping))),
	} {
		if err != nil {
			return subs, fmt.Errorf("sfu: serve commands: %w", err)
		}
	}
	if err := n.bus.Conn().Flush(); err != nil {
		return subs, fmt.Errorf("sfu: serve commands: %w", err)
	}
	return subs, nil
}

// wrap maps the node's errors to bus error codes.
func wrap[Req any](fn func(context.Context, Req) (any, error)) func(context.Context, Req) (any, error) {
	return func(ctx context.Context, req Req) (any, error) {
		resp, err := fn(ctx, req)
		if err != nil {
			return nil, toBusError(err)
		}
		return resp, nil
	}
}

func toBusError(err error) *bus.Error {
	var be *bus.Error
	if errors.As(err, &be) {
		return be
	}
	code := bus.CodeInternal
	switch {
	case errors.Is(err, ErrLimit):
		code = bus.CodeLimit
	case errors.Is(err, ErrBadSDP), errors.Is(err, ErrBadRequest):
		code = bus.CodeBadRequest
	case errors.Is(err, ErrNothingUsable), errors.Is(err, ErrCodec):
		code = bus.CodeUnsupported
	case errors.Is(err, ErrNoSession), errors.Is(err, ErrNoTrack), errors.Is(err, ErrNoMID):
		code = bus.CodeNotFound
	case errors.Is(err, ErrForbidden):
		code = bus.CodeForbidden
	case errors.Is(err, ErrClosed):
		code = bus.CodeUnavailable
	}
	return &bus.Error{Code: code, Message: err.Error()}
}

func (n *Node) create(ctx context.Context, req bus.CreateSession) (any, error) {
	p := req.Participant
	if !bus.ValidName(p.Namespace) || !bus.ValidName(p.Room) || p.SessionID == "" || p.Identity == "" {
		return nil, fmt.Errorf("%w: participant needs a valid namespace, room, identity and session id", ErrBadRequest)
	}
	if err := checkParticipant(p); err != nil {
		return nil, err
	}
	n.mu.Lock()
	closing, exists, count := n.closing, n.sessions[p.SessionID] != nil, len(n.sessions)
	n.mu.Unlock()
	switch {
	case closing:
		return nil, ErrClosed
	case n.draining.Load():
		return nil, bus.Errorf(bus.CodeUnavailable, "node draining")
	case exists:
		return nil, fmt.Errorf("%w: session %s exists", ErrBadRequest, p.SessionID)
	case n.cfg.Capacity > 0 && count >= n.cfg.Capacity:
		return nil, bus.Errorf(bus.CodeUnavailable, "node full")
	case !n.roomStateFits(ctx, p):
		n.log.Warn("join refused: room state would be too large", "namespace", p.Namespace, "room", p.Room, "identity", p.Identity)
		return nil, fmt.Errorf("%w: the room's state is full", ErrLimit)
	}
	s := newSession(n, p, req.Grants)
	var res negotiation
	if req.Offer != "" {
		var err error
		if res, err = s.negotiate(ctx, req.Offer, req.Publish, req.Subscribe); err != nil {
			s.discard()
			return nil, err
		}
	}
	n.mu.Lock()
	if n.closing || n.sessions[p.SessionID] != nil {
		n.mu.Unlock()
		s.discard()
		return nil, fmt.Errorf("%w: session %s", ErrBadRequest, p.SessionID)
	}
	n.sessions[p.SessionID] = s
	n.mu.Unlock()
	if !req.Grants.Hidden {
		n.emitRoom(bus.Event{Type: bus.EventParticipantJoined, Participant: &p})
	}
	n.registerTracks(res.published)
	if req.Offer == "" {
		n.expireUnnegotiated(s)
	}
	return bus.SessionAnswer{SessionID: p.SessionID, Answer: res.answer}, nil
}

func (n *Node) negotiate(ctx context.Context, req bus.Negotiate) (any, error) {
	s, err := n.session(req.SessionID)
	if err != nil {
		return nil, err
	}
	res, err := s.negotiate(ctx, req.Offer, req.Publish, req.Subscribe)
	if err != nil {
		return nil, err
	}
	for _, up := range res.removed {
		n.unpublish(up)
	}
	n.registerTracks(res.published)
	return bus.SessionAnswer{SessionID: req.SessionID, Answer: res.answer}, nil
}

func (n *Node) trickle(_ context.Context, req bus.Trickle) (any, error) {
	s, err := n.session(req.SessionID)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	pc := s.pc
	s.mu.Unlock()
	if pc == nil {
		return nil, fmt.Errorf("%w: session has not negotiated", ErrBadRequest)
	}
	if !s.countCandidate() {
		return nil, fmt.Errorf("%w: more than %d remote candidates", ErrLimit, MaxRemoteCandidates)
	}
	c := req.Candidate
	if err := pc.AddICECandidate(webrtc.ICECandidateInit{
		Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment,
	}); err != nil {
		return nil, fmt.Errorf("%w: candidate: %w", ErrBadRequest, err)
	}
	return bus.Reply{}, nil
}

func (n *Node) subscribe(ctx context.Context, req bus.Subscribe) (any, error) {
	s, err := n.session(req.SessionID)
	if err != nil {
		return nil, err
	}
	ups, err := n.checkSubscriptions(ctx, s, nil, req.Subscriptions)
	if err != nil {
		return nil, err
	}
	downs := make([]*downTrack, len(req.Subscriptions))
	for i, sub := range req.Subscriptions {
		if downs[i] = s.down(sub.MID); downs[i] == nil || downs[i].kind.String() != ups[i].kind {
			return nil, fmt.Errorf("%w: %s", ErrNoMID, sub.MID)
		}
	}
	for i, sub := range req.Subscriptions {
		if err := n.setSource(downs[i], ups[i], wantOf(sub.Layer)); err != nil {
			return nil, fmt.Errorf("mid %s: %w", sub.MID, err)
		}
	}
	return bus.Reply{}, nil
}

func (n *Node) unsubscribe(_ context.Context, req bus.Unsubscribe) (any, error) {
	s, err := n.session(req.SessionID)
	if err != nil {
		return nil, err
	}
	for _, mid := range req.MIDs {
		if s.down(mid) == nil {
			return nil, fmt.Errorf("%w: %s", ErrNoMID, mid)
		}
	}
	for _, mid := range req.MIDs {
		_ = n.setSource(s.down(mid), nil, autoLayer)
	}
	return bus.Reply{}, nil
}

func (n *Node) setLayer(_ context.Context, req bus.SetLayer) (any, error) {
	s, err := n.session(req.SessionID)
	if err != nil {
		return nil, err
	}
	want := autoLayer
	if req.Layer != bus.LayerAuto {
		i, ok := layerIndex(req.Layer)
		if !ok {
			return nil, fmt.Errorf("%w: layer %q", ErrBadRequest, req.Layer)
		}
		want = i
	}
	d := s.down(req.MID)
	if d == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoMID, req.MID)
	}
	d.setWant(want)
	return bus.Reply{}, nil
}

func (n *Node) mute(_ context.Context, req bus.Mute) (any, error) {
	s, err := n.session(req.SessionID)
	if err != nil {
		return nil, err
	}
	up := s.track(req.TrackID)
	if up == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoTrack, req.TrackID)
	}
	if !req.Muted && up.muted.Load() {
		// Before the first packet after the mute is forwarded: each
		// subscriber's stream continues without a gap.
		for _, d := range up.downTracks() {
			d.resume()
		}
	}
	if up.muted.Swap(req.Muted) != req.Muted {
		info := up.trackInfo()
		p := s.p
		n.emitRoom(bus.Event{Type: bus.EventTrackMuted, Participant: &p, Track: &info})
	}
	return bus.Reply{}, nil
}

func (n *Node) closeSession(_ context.Context, req bus.Close) (any, error) {
	s, err := n.session(req.SessionID)
	if err != nil {
		return nil, err
	}
	if req.IfNoMedia && s.mediaFlowing() {
		return bus.Reply{}, nil
	}
	reason := req.Reason
	if reason == "" {
		reason = "closed"
	}
	// A kick comes from elsewhere than the session's signaling server,
	// which learns of it from the session_closed event.
	s.close(reason, req.Reason == bus.ReasonKicked)
	return bus.Reply{}, nil
}

// roomState answers with the room's participants on every node: those
// connected here and, with the relay, those of the other nodes.
func (n *Node) roomState(ctx context.Context, req bus.RoomStateRequest) (any, error) {
	parts := n.localParticipants(req.Namespace, req.Room)
	if s, err := n.session(req.Session); req.Session != "" && err == nil && s.grants.Hidden &&
		s.p.Namespace == req.Namespace && s.p.Room == req.Room {
		parts = append(parts, s.info()) // a hidden session resuming
	}
	parts = append(parts, n.remoteRoomState(ctx, req.Namespace, req.Room)...)
	return bus.RoomState{Participants: parts}, nil
}

// roomStateLocal answers with the room's participants connected here.
func (n *Node) roomStateLocal(_ context.Context, req bus.RoomStateRequest) (any, error) {
	return bus.RoomState{Participants: n.localParticipants(req.Namespace, req.Room)}, nil
}

// drain makes the node refuse (Draining true) or take again (false) new
// sessions; existing sessions stay. The next heartbeat carries the state,
// and one is sent at once so the cluster learns it without waiting.
func (n *Node) drain(_ context.Context, req bus.Drain) (any, error) {
	if n.draining.Swap(req.Draining) != req.Draining {
		n.log.Info("drain", "draining", req.Draining)
	}
	n.heartbeat()
	return bus.Reply{}, nil
}
