package sfu

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// An offer with too many m-lines, or too many sending ones, is refused
// with limit_exceeded before the node builds anything.
func TestOfferLimits(t *testing.T) {
	env := newEnv(t)
	all := bus.Grants{Publish: true, Subscribe: true}
	many := env.newPeer("many", peerOpts{})
	for range MaxMediaSections + 1 {
		many.addRecv(webrtc.RTPCodecTypeAudio)
	}
	senders := env.newPeer("senders", peerOpts{})
	for range MaxPublishedTracks + 1 {
		senders.addSend(webrtc.MimeTypeOpus)
	}
	for _, p := range []*testPeer{many, senders} {
		err := env.request(bus.CmdSessionCreate, bus.CreateSession{Participant: bus.Participant{Namespace: "default", Room: "lim",
			Identity: p.id, SessionID: p.sessionID()}, Grants: all, Offer: p.offer()}, nil)
		if !bus.IsCode(err, bus.CodeLimit) {
			t.Fatalf("%s: got %v, want %s", p.id, err, bus.CodeLimit)
		}
	}
	var st bus.RoomState
	if err := env.request(bus.CmdRoomState, bus.RoomStateRequest{Namespace: "default", Room: "lim"}, &st); err != nil || len(st.Participants) != 0 {
		t.Fatalf("room state %+v, %v: refused sessions must not exist", st, err)
	}
}

// A session takes a bounded number of trickled remote candidates.
func TestTrickleLimit(t *testing.T) {
	env := newEnv(t)
	p := env.newPeer("tr", peerOpts{})
	p.addSend(webrtc.MimeTypeOpus)
	if err := p.join("tl", nil); err != nil {
		t.Fatal(err)
	}
	var err error
	n := 0
	for ; n < MaxRemoteCandidates+1; n++ {
		c := fmt.Sprintf("candidate:%d 1 udp 2130706431 192.0.2.%d 9 typ host", n, n%250+1)
		if err = env.request(bus.CmdTrickle, bus.Trickle{SessionID: p.sessionID(), Candidate: bus.Candidate{Candidate: c}}, nil); err != nil {
			break
		}
	}
	if n != MaxRemoteCandidates || !bus.IsCode(err, bus.CodeLimit) {
		t.Fatalf("refused after %d candidates with %v; want %s after %d", n, err, bus.CodeLimit, MaxRemoteCandidates)
	}
}

// Oversized participant fields are refused, and however many large
// participants join, the room's state still fits one bus reply, so
// joiners, WHEP and the admin API keep seeing the room.
func TestRoomStateStaysBounded(t *testing.T) {
	env := newEnv(t)
	create := func(id, name, meta string) error {
		return env.request(bus.CmdSessionCreate, bus.CreateSession{Participant: bus.Participant{Namespace: "default", Room: "big",
			Identity: id, SessionID: "PA_" + id, Name: name, Metadata: meta}, Grants: bus.Grants{Subscribe: true}}, nil)
	}
	if err := create("huge", strings.Repeat("n", 64<<10), ""); !bus.IsCode(err, bus.CodeLimit) {
		t.Fatalf("a 64 KiB name: %v, want %s", err, bus.CodeLimit)
	}
	meta := strings.Repeat("m", maxMetadataBytes)
	refused := false
	for i := range 200 { // 200 x 4 KiB is beyond the bus message limit
		err := create(fmt.Sprintf("p%d", i), strings.Repeat("n", maxNameBytes), meta)
		if bus.IsCode(err, bus.CodeLimit) {
			refused = true
			break
		}
		if err != nil {
			t.Fatalf("join %d: %v", i, err)
		}
	}
	if !refused {
		t.Fatal("200 participants with 4 KiB of metadata each were all let in")
	}
	var st bus.RoomState
	if err := env.request(bus.CmdRoomState, bus.RoomStateRequest{Namespace: "default", Room: "big"}, &st); err != nil || len(st.Participants) == 0 {
		t.Fatalf("room state: %d participants, %v", len(st.Participants), err)
	}
}
