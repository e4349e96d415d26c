package sfu

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// TestBadInput: malformed commands and SDP get error codes; the node keeps
// serving.
func TestBadInput(t *testing.T) {
	env := newEnv(t)
	part := func(id string) bus.Participant {
		return bus.Participant{Namespace: "default", Room: "bad", Identity: id, SessionID: "PA_" + id}
	}
	all := bus.Grants{Publish: true, Subscribe: true}
	unusable := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=rtpmap:0 PCMU/8000\r\n"
	pubPeer := env.newPeer("pubonly", peerOpts{})
	pubPeer.addSend(webrtc.MimeTypeOpus)
	pubOffer := pubPeer.offer()

	cases := []struct {
		name string
		cmd  string
		req  any
		code string
	}{
		{"garbage SDP", bus.CmdSessionCreate, bus.CreateSession{Participant: part("a"), Grants: all, Offer: "not an sdp"}, bus.CodeBadRequest},
		{"no usable codec", bus.CmdSessionCreate, bus.CreateSession{Participant: part("b"), Grants: all, Offer: unusable}, bus.CodeUnsupported},
		{"bad room name", bus.CmdSessionCreate, bus.CreateSession{Participant: bus.Participant{Namespace: "default", Room: "a b", Identity: "x", SessionID: "PA_x"}}, bus.CodeBadRequest},
		{"publish without grant", bus.CmdSessionCreate, bus.CreateSession{Participant: part("c"), Grants: bus.Grants{Subscribe: true}, Offer: pubOffer}, bus.CodeForbidden},
		{"subscribe unknown track", bus.CmdSessionCreate, bus.CreateSession{Participant: part("d"), Grants: all, Offer: pubOffer,
			Subscribe: []bus.Subscription{{MID: "0", TrackID: "TR_nope"}}}, bus.CodeNotFound},
		{"unknown session negotiate", bus.CmdNegotiate, bus.Negotiate{SessionID: "PA_ghost", Offer: pubOffer}, bus.CodeNotFound},
		{"unknown session trickle", bus.CmdTrickle, bus.Trickle{SessionID: "PA_ghost"}, bus.CodeNotFound},
		{"unknown session subscribe", bus.CmdSubscribe, bus.Subscribe{SessionID: "PA_ghost"}, bus.CodeNotFound},
		{"unknown session unsubscribe", bus.CmdUnsubscribe, bus.Unsubscribe{SessionID: "PA_ghost"}, bus.CodeNotFound},
		{"unknown session layer", bus.CmdSetLayer, bus.SetLayer{SessionID: "PA_ghost"}, bus.CodeNotFound},
		{"unknown session mute", bus.CmdMute, bus.Mute{SessionID: "PA_ghost"}, bus.CodeNotFound},
		{"unknown session close", bus.CmdClose, bus.Close{SessionID: "PA_ghost"}, bus.CodeNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := env.request(c.cmd, c.req, nil)
			if !bus.IsCode(err, c.code) {
				t.Fatalf("got %v, want %s", err, c.code)
			}
		})
	}

	// Malformed JSON.
	msg, err := env.bus.Conn().RequestWithContext(context.Background(), bus.NodeCommand(env.node.ID(), bus.CmdSessionCreate), []byte("{nope"))
	if err != nil || !strings.Contains(string(msg.Data), bus.CodeBadRequest) {
		t.Fatalf("malformed JSON: %v %s", err, msg.Data)
	}

	// Errors on a live session: unknown mid and track, trickle before
	// negotiation, bad candidate.
	if err := env.request(bus.CmdSessionCreate, bus.CreateSession{Participant: part("live"), Grants: all}, nil); err != nil {
		t.Fatal(err)
	}
	if err := env.request(bus.CmdTrickle, bus.Trickle{SessionID: "PA_live", Candidate: bus.Candidate{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"}}, nil); !bus.IsCode(err, bus.CodeBadRequest) {
		t.Fatalf("trickle before negotiate: %v", err)
	}
	if err := env.request(bus.CmdSetLayer, bus.SetLayer{SessionID: "PA_live", MID: "7", Layer: bus.LayerLow}, nil); !bus.IsCode(err, bus.CodeNotFound) {
		t.Fatalf("unknown mid: %v", err)
	}
	if err := env.request(bus.CmdMute, bus.Mute{SessionID: "PA_live", TrackID: "TR_x", Muted: true}, nil); !bus.IsCode(err, bus.CodeNotFound) {
		t.Fatalf("unknown track: %v", err)
	}
	if err := env.request(bus.CmdSessionCreate, bus.CreateSession{Participant: part("live"), Grants: all}, nil); !bus.IsCode(err, bus.CodeBadRequest) {
		t.Fatalf("duplicate session: %v", err)
	}
	// The node still serves a real client.
	p := env.newPeer("good", peerOpts{})
	p.addSend(webrtc.MimeTypeOpus)
	if err := p.join("bad", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "client connected after bad input", p.connected)
}
