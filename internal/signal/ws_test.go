package signal

import (
	"slices"
	"testing"

	"github.com/coder/websocket"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

func TestJoinOfferEventsDataAndLeave(t *testing.T) {
	h := newHarness(t, nil)
	alice := h.dial("")
	aj := alice.join(testenv.Mint(t, "ns", "room", "alice"))
	if aj.Room == nil || aj.Room.Namespace != "ns" || aj.Room.Name != "room" || len(aj.Participants) != 0 || aj.Version != protocol.Version {
		t.Fatalf("alice joined = %+v", aj)
	}
	alice.expect(protocol.TypeParticipantJoined, func(m protocol.Message) bool { return m.Participant.Identity == "alice" })

	// Token in the URL works too.
	bob := h.dial("?access_token=" + testenv.Mint(t, "ns", "room", "bob"))
	bob.send(protocol.Message{Type: protocol.TypeJoin, ID: "j"})
	bj := bob.expect(protocol.TypeJoined, nil)
	if len(bj.Participants) != 1 || bj.Participants[0].Identity != "alice" {
		t.Fatalf("bob sees participants %+v, want alice", bj.Participants)
	}
	alice.expect(protocol.TypeParticipantJoined, func(m protocol.Message) bool { return m.Participant.Identity == "bob" })

	alice.send(protocol.Message{Type: protocol.TypeOffer, ID: "o1", SDP: testOffer, Publish: []bus.PublishSpec{{MID: "0", Source: bus.SourceMicrophone}}})
	ans := alice.expect(protocol.TypeAnswer, nil)
	if ans.ID != "o1" || ans.SDP == "" {
		t.Fatalf("answer = %+v", ans)
	}
	tp := bob.expect(protocol.TypeTrackPublished, func(m protocol.Message) bool { return m.Track.Kind == bus.KindVideo })
	alice.expect(protocol.TypeTrackPublished, nil) // own events too

	bob.send(protocol.Message{Type: protocol.TypeSubscribe, ID: "s", Subscribe: []bus.Subscription{{MID: "1", TrackID: tp.Track.ID, Layer: bus.LayerHigh}}})
	bob.expect(protocol.TypeOK, func(m protocol.Message) bool { return m.ID == "s" })
	bob.send(protocol.Message{Type: protocol.TypeSetLayer, ID: "l", MID: "1", Layer: bus.LayerLow})
	bob.expect(protocol.TypeOK, func(m protocol.Message) bool { return m.ID == "l" })
	bob.send(protocol.Message{Type: protocol.TypeUnsubscribe, ID: "u", MIDs: []string{"1"}})
	bob.expect(protocol.TypeOK, func(m protocol.Message) bool { return m.ID == "u" })
	mid := "0"
	bob.send(protocol.Message{Type: protocol.TypeTrickle, Candidate: &bus.Candidate{Candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host", SDPMid: &mid}})
	bob.send(protocol.Message{Type: protocol.TypeSetLayer, ID: "bad", MID: "1", Layer: "ultra"})
	bob.expectError(protocol.CodeBadRequest)
	bob.send(protocol.Message{Type: protocol.TypeMute, ID: "m", TrackID: "TR_nope", Muted: true})
	if e := bob.expectError(protocol.CodeNotFound); e.ID != "m" {
		t.Fatalf("error id %q, want m", e.ID)
	}
	alice.send(protocol.Message{Type: protocol.TypeMute, ID: "m", TrackID: tp.Track.ID, Muted: true})
	alice.expect(protocol.TypeOK, func(m protocol.Message) bool { return m.ID == "m" })
	bob.expect(protocol.TypeTrackMuted, func(m protocol.Message) bool { return m.Track.ID == tp.Track.ID && m.Track.Muted })

	calls := h.node.Calls()
	for _, want := range []string{"session.subscribe ", "session.layer ", "session.unsubscribe ", "session.trickle "} {
		if !slices.Contains(calls, want+bj.SessionID) {
			t.Errorf("node never got %q; calls %v", want, calls)
		}
	}

	checkDataRelay(t, h, alice, bob)

	alice.send(protocol.Message{Type: protocol.TypeLeave})
	if c := alice.expect(protocol.TypeClosed, nil); c.Reason != "left" {
		t.Fatalf("closed reason %q", c.Reason)
	}
	alice.expectClose(websocket.StatusNormalClosure)
	bob.expect(protocol.TypeParticipantLeft, func(m protocol.Message) bool { return m.Participant.Identity == "alice" })
	waitFor(t, "alice's session record removed", func() bool {
		_, err := h.srv.dir.Session(t.Context(), aj.SessionID)
		return err != nil
	})
}

func TestJoinWithOfferSendsJoinedThenAnswer(t *testing.T) {
	h := newHarness(t, nil)
	c := h.dial("")
	c.send(protocol.Message{Type: protocol.TypeJoin, ID: "j", Token: testenv.Mint(t, "ns", "r", "a"), SDP: testOffer})
	c.expect(protocol.TypeJoined, nil)
	if c.seenAll()[0].Type != protocol.TypeJoined {
		t.Fatalf("first message %q, want joined", c.seenAll()[0].Type)
	}
	if a := c.expect(protocol.TypeAnswer, nil); a.ID != "j" {
		t.Fatalf("answer id %q", a.ID)
	}
}

func TestNamespaceIsolation(t *testing.T) {
	h := newHarness(t, nil)
	alice := h.dial("")
	aj := alice.join(testenv.Mint(t, "tenantA", "room", "alice"))
	bob := h.dial("")
	bob.join(testenv.Mint(t, "tenantA", "room", "bob"))

	// Same room name, other namespace; eve even tries to resume alice's
	// session with her own token.
	eve := h.dial("")
	eve.send(protocol.Message{Type: protocol.TypeJoin, ID: "j", Token: testenv.Mint(t, "tenantB", "room", "alice"), SessionID: aj.SessionID})
	ej := eve.expect(protocol.TypeJoined, nil)
	if ej.SessionID == aj.SessionID || len(ej.Participants) != 0 || ej.Self.Namespace != "tenantB" {
		t.Fatalf("eve joined %+v: sees or took over tenantA's session", ej)
	}

	alice.send(protocol.Message{Type: protocol.TypeOffer, ID: "o", SDP: testOffer})
	alice.expect(protocol.TypeAnswer, nil)
	alice.send(protocol.Message{Type: protocol.TypeData, Payload: []byte("secret")})
	bob.expect(protocol.TypeTrackPublished, nil)
	bob.expect(protocol.TypeData, nil)
	// Something in tenantB after all that, so eve has had every chance to
	// receive tenantA's events.
	frank := h.dial("")
	frank.join(testenv.Mint(t, "tenantB", "room", "frank"))
	eve.expect(protocol.TypeParticipantJoined, func(m protocol.Message) bool { return m.Participant.Identity == "frank" })
	for _, m := range eve.seenAll() {
		if m.Participant != nil && m.Participant.Namespace != "tenantB" || m.Type == protocol.TypeData || m.Type == protocol.TypeTrackPublished {
			t.Fatalf("eve (tenantB) got %+v from another namespace", m)
		}
	}
}

func TestDroppedConnectionClosesIfNoMediaAndResume(t *testing.T) {
	h := newHarness(t, nil)
	tok := testenv.Mint(t, "ns", "r", "alice")
	a := h.dial("")
	aj := a.join(tok)

	// Without media the session ends when the connection drops.
	_ = a.ws.CloseNow()
	waitFor(t, "IfNoMedia close", func() bool {
		h.node.mu.Lock()
		defer h.node.mu.Unlock()
		return len(h.node.closes) == 1 && h.node.closes[0].IfNoMedia && h.node.closes[0].SessionID == aj.SessionID
	})
	waitFor(t, "record removed", func() bool { _, err := h.srv.dir.Session(t.Context(), aj.SessionID); return err != nil })

	// With media flowing it survives, and a new connection resumes it.
	b := h.dial("")
	bj := b.join(tok)
	h.node.SetFlowing(bj.SessionID)
	_ = b.ws.CloseNow()
	waitFor(t, "second IfNoMedia close", func() bool {
		h.node.mu.Lock()
		defer h.node.mu.Unlock()
		return len(h.node.closes) == 2
	})
	if _, ok := h.node.Session(bj.SessionID); !ok {
		t.Fatal("session with flowing media was closed")
	}
	c := h.dial("")
	c.send(protocol.Message{Type: protocol.TypeJoin, ID: "r", Token: tok, SessionID: bj.SessionID})
	cj := c.expect(protocol.TypeJoined, nil)
	if cj.SessionID != bj.SessionID {
		t.Fatalf("resumed as %s, want %s", cj.SessionID, bj.SessionID)
	}
	for _, call := range h.node.Calls() {
		if call == bus.CmdSessionCreate+" "+cj.SessionID && cj.SessionID != bj.SessionID {
			t.Fatal("resume created a new session")
		}
	}
	// Events flow to the resumed connection.
	c.send(protocol.Message{Type: protocol.TypeOffer, ID: "o", SDP: testOffer})
	c.expect(protocol.TypeAnswer, nil)
	c.expect(protocol.TypeTrackPublished, nil)

	// Resuming a session that is gone gives a new session.
	d := h.dial("")
	d.send(protocol.Message{Type: protocol.TypeJoin, ID: "r", Token: tok, SessionID: aj.SessionID})
	if dj := d.expect(protocol.TypeJoined, nil); dj.SessionID == aj.SessionID {
		t.Fatal("resumed a session that had ended")
	}
}

func TestNodeEndsSession(t *testing.T) {
	h := newHarness(t, nil)
	a := h.dial("")
	aj := a.join(testenv.Mint(t, "ns", "r", "alice"))
	h.node.End(*aj.Self, "ice failed")
	if m := a.expect(protocol.TypeClosed, nil); m.Reason != "ice failed" {
		t.Fatalf("closed reason %q", m.Reason)
	}
	a.expectClose(protocol.CloseSessionEnded)
}

func TestServerCloseTellsClients(t *testing.T) {
	h := newHarness(t, nil)
	a := h.dial("")
	a.join(testenv.Mint(t, "ns", "r", "alice"))
	h.srv.Close()
	a.expectClose(websocket.StatusGoingAway)
	if h.srv.Ready() {
		t.Fatal("Ready after Close")
	}
}

// checkDataRelay sends data from alice to bob and to everyone.
func checkDataRelay(t *testing.T, h *harness, alice, bob *client) {
	// Data: to one identity, never back to the sender.
	carol := h.dial("")
	carol.join(testenv.Mint(t, "ns", "room", "carol"))
	alice.send(protocol.Message{Type: protocol.TypeData, Payload: []byte("for bob"), To: []string{"bob"}})
	alice.send(protocol.Message{Type: protocol.TypeData, Payload: []byte("for all")})
	d := bob.expect(protocol.TypeData, nil)
	if string(d.Payload) != "for bob" || d.From != "alice" {
		t.Fatalf("bob got data %+v", d)
	}
	bob.expect(protocol.TypeData, func(m protocol.Message) bool { return string(m.Payload) == "for all" })
	carol.expect(protocol.TypeData, func(m protocol.Message) bool { return string(m.Payload) == "for all" })
	// A ping round trip after both: alice's own data would have come first.
	alice.send(protocol.Message{Type: protocol.TypePing, ID: "p"})
	alice.expect(protocol.TypePong, func(m protocol.Message) bool { return m.ID == "p" })
	for _, m := range carol.seenAll() {
		if m.Type == protocol.TypeData && string(m.Payload) == "for bob" {
			t.Fatal("carol got data addressed to bob")
		}
	}
	for _, m := range alice.seenAll() {
		if m.Type == protocol.TypeData {
			t.Fatalf("alice got her own data back: %+v", m)
		}
	}

}
