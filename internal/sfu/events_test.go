package sfu

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// TestRoomStateAndEvents: join, publish, mute, room.state, unsubscribe,
// close, and the events each produces; a client whose PeerConnection
// closes gets session_closed.
func TestRoomStateAndEvents(t *testing.T) {
	env := newEnv(t)
	room := env.events(bus.RoomEvents("default", "ev"))
	pub := env.newPeer("alice", peerOpts{})
	pub.addSend(webrtc.MimeTypeOpus)
	pub.addSend(webrtc.MimeTypeVP8)
	if err := pub.join("ev", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "participant_joined", room.has(bus.EventParticipantJoined, nil))
	waitFor(t, 5*time.Second, "two track_published", func() bool {
		n := 0
		room.mu.Lock()
		for _, e := range room.evs {
			if e.Type == bus.EventTrackPublished {
				n++
			}
		}
		room.mu.Unlock()
		return n == 2
	})
	var st bus.RoomState
	if err := env.request(bus.CmdRoomState, bus.RoomStateRequest{Namespace: "default", Room: "ev"}, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Participants) != 1 || len(st.Participants[0].Tracks) != 2 || st.Participants[0].Identity != "alice" {
		t.Fatalf("room state %+v", st)
	}
	var audio bus.TrackInfo
	for _, tr := range st.Participants[0].Tracks {
		if tr.Kind == bus.KindAudio {
			audio = tr
		}
	}
	if audio.Source != bus.SourceMicrophone || audio.MimeType != webrtc.MimeTypeOpus {
		t.Fatalf("audio track %+v", audio)
	}
	if err := env.request(bus.CmdMute, bus.Mute{SessionID: pub.sessionID(), TrackID: audio.ID, Muted: true}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "track_muted", room.has(bus.EventTrackMuted, func(e bus.Event) bool { return e.Track.Muted }))

	// A subscriber joins without an offer, negotiates later, then
	// unsubscribes.
	sub := env.newPeer("bob", peerOpts{})
	if err := env.request(bus.CmdSessionCreate, bus.CreateSession{
		Participant: bus.Participant{Namespace: "default", Room: "ev", Identity: "bob", SessionID: sub.sessionID()},
		Grants:      bus.Grants{Subscribe: true},
	}, nil); err != nil {
		t.Fatal(err)
	}
	tc := sub.addRecv(webrtc.RTPCodecTypeAudio)
	offer := sub.offer()
	var ans bus.SessionAnswer
	if err := env.request(bus.CmdNegotiate, bus.Negotiate{SessionID: sub.sessionID(), Offer: offer,
		Subscribe: []bus.Subscription{{MID: tc.Mid(), TrackID: audio.ID}}}, &ans); err != nil {
		t.Fatal(err)
	}
	if err := sub.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.Answer}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "subscriber connected", sub.connected)
	if err := env.request(bus.CmdUnsubscribe, bus.Unsubscribe{SessionID: sub.sessionID(), MIDs: []string{tc.Mid()}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := env.request(bus.CmdSubscribe, bus.Subscribe{SessionID: sub.sessionID(),
		Subscriptions: []bus.Subscription{{MID: tc.Mid(), TrackID: audio.ID}}}, nil); err != nil {
		t.Fatal(err)
	}
	// Close with IfNoMedia keeps a connected session.
	if err := env.request(bus.CmdClose, bus.Close{SessionID: sub.sessionID(), IfNoMedia: true}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := env.node.session(sub.sessionID()); err != nil {
		t.Fatalf("IfNoMedia closed a connected session: %v", err)
	}
	if err := env.request(bus.CmdClose, bus.Close{SessionID: sub.sessionID(), Reason: "leave"}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "participant_left bob", room.has(bus.EventParticipantLeft, func(e bus.Event) bool {
		return e.Participant.Identity == "bob" && e.Reason == "leave"
	}))

	// The publisher's PeerConnection closes: the node ends the session.
	sess := env.events(bus.SessionEvents(pub.sessionID()))
	_ = pub.pc.Close()
	waitFor(t, 15*time.Second, "session_closed", sess.has(bus.EventSessionClosed, nil))
	waitFor(t, 5*time.Second, "track_unpublished", room.has(bus.EventTrackUnpublished, nil))
	waitFor(t, 5*time.Second, "participant_left alice", room.has(bus.EventParticipantLeft, func(e bus.Event) bool {
		return e.Participant.Identity == "alice"
	}))
	if tracks := env.roomTracks("ev"); len(tracks) != 0 {
		t.Fatalf("tracks left after close: %+v", tracks)
	}
}

// TestNegotiateTimeout: a session created without an offer that never
// negotiates is closed by the node.
func TestNegotiateTimeout(t *testing.T) {
	env := newEnv(t)
	env.node.negotiateTimeout = 200 * time.Millisecond
	sess := env.events(bus.SessionEvents("PA_idle"))
	if err := env.request(bus.CmdSessionCreate, bus.CreateSession{
		Participant: bus.Participant{Namespace: "default", Room: "idle", Identity: "idle", SessionID: "PA_idle"},
	}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "session_closed", sess.has(bus.EventSessionClosed, nil))
}

// TestActiveSpeakers: audio carrying a loud audio level makes the
// publisher an active speaker.
func TestActiveSpeakers(t *testing.T) {
	env := newEnv(t)
	room := env.events(bus.RoomEvents("default", "talk"))
	pub := env.newPeer("talker", peerOpts{})
	a := pub.addSend(webrtc.MimeTypeOpus)[0]
	if err := pub.join("talk", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "connected", pub.connected)
	id := extID(pub.pc.GetTransceivers()[0].Sender(), extAudioLevel)
	if id == 0 {
		t.Fatal("audio level extension not negotiated")
	}
	s := &sender{track: a, ext: map[uint8][]byte{id: {0x80 | 10}}} // -10 dBov, voice
	defer every(20*time.Millisecond, func(c uint32) { _ = s.send(c, false) })()
	waitFor(t, 5*time.Second, "active_speakers", room.has(bus.EventActiveSpeakers, func(e bus.Event) bool {
		return len(e.Speakers) == 1 && e.Speakers[0].Identity == "talker" && e.Speakers[0].Level > 0.2 && e.Speakers[0].Level <= 1
	}))
}

// TestHeartbeat: the node publishes its NodeInfo.
func TestHeartbeat(t *testing.T) {
	env := newEnv(t)
	l := &heartbeatLog{}
	sub, err := env.bus.Subscribe(bus.NodeHeartbeats, l.add)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	waitFor(t, 5*time.Second, "heartbeat", func() bool {
		info, ok := l.last()
		return ok && info.ID == env.node.ID() && info.MediaPort == env.node.MediaPort() && len(info.PublicIPs) == 1
	})
}
