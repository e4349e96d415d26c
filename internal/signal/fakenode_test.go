package signal

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pion/sdp/v3"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

// fakeNode answers node commands over the bus for the unit tests of this
// package: it keeps participants and tracks, answers offers with a
// syntactically valid SDP answer and publishes the events a node would.
type fakeNode struct {
	id string
	b  *bus.Client

	mu       sync.Mutex
	sessions map[string]*fakeSession
	calls    []string // "cmd session" in arrival order
	closes   []bus.Close
	trackSeq int

	stop chan struct{}
	wg   sync.WaitGroup
	subs []*nats.Subscription
}

type fakeSession struct {
	info     bus.ParticipantInfo
	flowing  bool // media "connected": IfNoMedia closes keep it
	offers   int
	lastSubs []bus.Subscription
}

func startFakeNode(t *testing.T, url, id string) *fakeNode {
	t.Helper()
	b, err := bus.Connect(bus.Options{URLs: url, Logger: testenv.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	n := &fakeNode{id: id, b: b, sessions: map[string]*fakeSession{}, stop: make(chan struct{})}
	handle := func(cmd string, fn func(ctx context.Context, raw map[string]any, m *nats.Msg) (any, error)) {
		sub, err := b.Subscribe(bus.NodeCommand(id, cmd), func(m *nats.Msg) {
			bus.ServeMsg(m, func(ctx context.Context, raw map[string]any) (any, error) { return fn(ctx, raw, m) })
		})
		if err != nil {
			t.Fatal(err)
		}
		n.subs = append(n.subs, sub)
	}
	handle(bus.CmdSessionCreate, n.create)
	handle(bus.CmdNegotiate, n.negotiate)
	handle(bus.CmdClose, n.close)
	handle(bus.CmdRoomState, n.roomState)
	for _, cmd := range []string{bus.CmdTrickle, bus.CmdSubscribe, bus.CmdUnsubscribe, bus.CmdSetLayer, bus.CmdMute} {
		handle(cmd, n.simple(cmd))
	}
	n.wg.Add(1)
	go n.heartbeat()
	t.Cleanup(n.Stop)
	return n
}

// Stop ends the heartbeats and the command handlers.
func (n *fakeNode) Stop() {
	select {
	case <-n.stop:
		return
	default:
	}
	close(n.stop)
	n.wg.Wait()
	for _, s := range n.subs {
		_ = s.Unsubscribe()
	}
	n.b.Close()
}

func (n *fakeNode) heartbeat() {
	defer n.wg.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		_ = n.b.Publish(bus.NodeHeartbeats, bus.NodeInfo{ID: n.id, PublicIPs: []string{"127.0.0.1"}, MediaPort: 7801, SentAt: time.Now()})
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
	}
}

func decode[T any](m *nats.Msg) (T, error) {
	var v T
	err := jsonUnmarshal(m.Data, &v)
	return v, err
}

func (n *fakeNode) record(cmd, sid string) {
	n.mu.Lock()
	n.calls = append(n.calls, cmd+" "+sid)
	n.mu.Unlock()
}

func (n *fakeNode) Calls() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.calls...)
}

func (n *fakeNode) Session(sid string) (fakeSession, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	s, ok := n.sessions[sid]
	if !ok {
		return fakeSession{}, false
	}
	return *s, true
}

func (n *fakeNode) SetFlowing(sid string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.sessions[sid]; ok {
		s.flowing = true
	}
}

func (n *fakeNode) create(_ context.Context, _ map[string]any, m *nats.Msg) (any, error) {
	req, err := decode[bus.CreateSession](m)
	if err != nil {
		return nil, err
	}
	n.record(bus.CmdSessionCreate, req.Participant.SessionID)
	p := req.Participant
	n.mu.Lock()
	n.sessions[p.SessionID] = &fakeSession{info: bus.ParticipantInfo{Participant: p, Tracks: []bus.TrackInfo{}, JoinedAt: time.Now()}}
	n.mu.Unlock()
	n.publish(bus.Event{Type: bus.EventParticipantJoined, Participant: &p})
	ans := bus.SessionAnswer{SessionID: p.SessionID}
	if req.Offer != "" {
		ans.Answer, err = n.answer(p.SessionID, req.Offer, req.Subscribe)
	}
	return ans, err
}

func (n *fakeNode) negotiate(_ context.Context, _ map[string]any, m *nats.Msg) (any, error) {
	req, err := decode[bus.Negotiate](m)
	if err != nil {
		return nil, err
	}
	n.record(bus.CmdNegotiate, req.SessionID)
	if _, ok := n.Session(req.SessionID); !ok {
		return nil, bus.Errorf(bus.CodeNotFound, "no session %s", req.SessionID)
	}
	a, err := n.answer(req.SessionID, req.Offer, req.Subscribe)
	return bus.SessionAnswer{SessionID: req.SessionID, Answer: a}, err
}

// answer publishes a track per sendonly/sendrecv m-line and returns an
// answer with one host candidate.
func (n *fakeNode) answer(sid, offer string, subs []bus.Subscription) (string, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return "", bus.Errorf(bus.CodeBadRequest, "offer: %v", err)
	}
	n.mu.Lock()
	s := n.sessions[sid]
	s.offers++
	s.lastSubs = subs
	n.mu.Unlock()
	var b strings.Builder
	b.WriteString("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")
	ufrag := fmt.Sprintf("srv%d", s.offers)
	for _, md := range d.MediaDescriptions {
		mid, _ := md.Attribute("mid")
		dir := "inactive"
		switch {
		case hasAttr(md, "sendonly"), hasAttr(md, "sendrecv"):
			dir = "recvonly"
			n.publishTrack(sid, md.MediaName.Media)
		case hasAttr(md, "recvonly"):
			dir = "sendonly"
		}
		fmt.Fprintf(&b, "m=%s 7801 UDP/TLS/RTP/SAVPF %s\r\nc=IN IP4 127.0.0.1\r\na=mid:%s\r\na=%s\r\n", md.MediaName.Media, strings.Join(md.MediaName.Formats, " "), mid, dir)
		fmt.Fprintf(&b, "a=ice-ufrag:%s\r\na=ice-pwd:fakepasswordfakepassword\r\na=candidate:1 1 udp 2130706431 127.0.0.1 7801 typ host\r\n", ufrag)
	}
	return b.String(), nil
}

func (n *fakeNode) publishTrack(sid, kind string) {
	n.mu.Lock()
	s := n.sessions[sid]
	n.trackSeq++
	tr := bus.TrackInfo{ID: fmt.Sprintf("TR_%d", n.trackSeq), SessionID: sid, Identity: s.info.Identity, Kind: kind, MimeType: kind + "/fake"}
	s.info.Tracks = append(s.info.Tracks, tr)
	p := s.info.Participant
	n.mu.Unlock()
	n.publish(bus.Event{Type: bus.EventTrackPublished, Participant: &p, Track: &tr})
}

func (n *fakeNode) close(_ context.Context, _ map[string]any, m *nats.Msg) (any, error) {
	req, err := decode[bus.Close](m)
	if err != nil {
		return nil, err
	}
	n.record(bus.CmdClose, req.SessionID)
	n.mu.Lock()
	n.closes = append(n.closes, req)
	s, ok := n.sessions[req.SessionID]
	if ok && req.IfNoMedia && s.flowing {
		n.mu.Unlock()
		return bus.Reply{}, nil
	}
	delete(n.sessions, req.SessionID)
	n.mu.Unlock()
	if !ok {
		return nil, bus.Errorf(bus.CodeNotFound, "no session %s", req.SessionID)
	}
	n.End(s.info.Participant, req.Reason)
	return bus.Reply{}, nil
}

// End publishes what a node publishes when a session ends.
func (n *fakeNode) End(p bus.Participant, reason string) {
	n.mu.Lock()
	delete(n.sessions, p.SessionID)
	n.mu.Unlock()
	n.publish(bus.Event{Type: bus.EventParticipantLeft, Participant: &p, Reason: reason})
	_ = n.b.Publish(bus.SessionEvents(p.SessionID), bus.Event{Type: bus.EventSessionClosed, Namespace: p.Namespace, Room: p.Room, Reason: reason})
}

func (n *fakeNode) roomState(_ context.Context, _ map[string]any, m *nats.Msg) (any, error) {
	req, err := decode[bus.RoomStateRequest](m)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	st := bus.RoomState{Participants: []bus.ParticipantInfo{}}
	for _, s := range n.sessions {
		if s.info.Namespace == req.Namespace && s.info.Room == req.Room {
			st.Participants = append(st.Participants, s.info)
		}
	}
	return st, nil
}

func (n *fakeNode) simple(cmd string) func(context.Context, map[string]any, *nats.Msg) (any, error) {
	return func(_ context.Context, raw map[string]any, m *nats.Msg) (any, error) {
		sid, _ := raw["session_id"].(string)
		n.record(cmd, sid)
		s, ok := n.Session(sid)
		if !ok {
			return nil, bus.Errorf(bus.CodeNotFound, "no session %s", sid)
		}
		if cmd == bus.CmdMute {
			req, _ := decode[bus.Mute](m)
			for _, tr := range s.info.Tracks {
				if tr.ID == req.TrackID {
					tr.Muted = req.Muted
					p := s.info.Participant
					n.publish(bus.Event{Type: bus.EventTrackMuted, Participant: &p, Track: &tr})
					return bus.Reply{}, nil
				}
			}
			return nil, bus.Errorf(bus.CodeNotFound, "no track %s", req.TrackID)
		}
		return bus.Reply{}, nil
	}
}

func (n *fakeNode) publish(ev bus.Event) {
	ev.Namespace, ev.Room = ev.Participant.Namespace, ev.Participant.Room
	_ = n.b.Publish(bus.RoomEvents(ev.Namespace, ev.Room), ev)
}
