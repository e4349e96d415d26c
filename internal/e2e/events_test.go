package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// nextEvent returns the next event of type typ that satisfies match.
func nextEvent(t *testing.T, c *client.Client, typ string, match func(client.Event) bool) client.Event {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("%s: connection ended waiting for %s: %v", c.Self().Identity, typ, c.Err())
			}
			if ev.Type == typ && (match == nil || match(ev)) {
				return ev
			}
		case <-timeout:
			t.Fatalf("%s: no %s event within 15s", c.Self().Identity, typ)
		}
	}
}

// Data messages, mute, unsubscribe and re-binding a transceiver with
// "subscribe", ping, and leave, each with the events others see.
func TestRoomEventsAndControls(t *testing.T) {
	c := startCluster(t)
	const room = "controls"
	alice := join(t, c.wsURL, "default", room, "alice")
	bob := join(t, c.wsURL, "default", room, "bob")
	carol := join(t, c.wsURL, "default", room, "carol")
	ctx := testenv.Context(t, 60*time.Second)

	if rtt, err := alice.Ping(ctx); err != nil || rtt <= 0 {
		t.Fatalf("ping: %v %v", rtt, err)
	}

	// Data to bob only: bob gets it from alice, carol and alice do not.
	if err := alice.SendData(ctx, []byte(`{"hello":"bob"}`), "bob"); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, bob, protocol.TypeData, nil)
	if ev.From != "alice" || string(ev.Payload) != `{"hello":"bob"}` {
		t.Fatalf("bob got %+v", ev)
	}
	if err := alice.SendData(ctx, []byte("all")); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, carol, protocol.TypeData, nil)
	if string(ev.Payload) != "all" {
		t.Fatalf("carol's first data message is %q, want the broadcast only", ev.Payload)
	}

	// Two video tracks; bob watches the first, then re-binds the same
	// transceiver to the second.
	tracks := publish(t, alice, video(), video())
	if _, err := bob.WaitTracks(ctx, 2, func(ti bus.TrackInfo) bool { return ti.Identity == "alice" }); err != nil {
		t.Fatal(err)
	}
	first, err := bob.Subscribe(ctx, tracks[0].ID(), "")
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "first track", func() error { return receiving(first, 30) })
	if err := bob.Unsubscribe(ctx, first); err != nil {
		t.Fatal(err)
	}
	second, err := bob.Subscribe(ctx, tracks[1].ID(), "")
	if err != nil {
		t.Fatal(err)
	}
	if second.MID() != first.MID() {
		t.Errorf("second subscription on mid %s, want the freed mid %s", second.MID(), first.MID())
	}
	testenv.Eventually(t, 20*time.Second, "second track on the re-bound mid", func() error { return receiving(second, 30) })

	// Mute: everyone sees track_muted, and the muted track stops flowing.
	if err := alice.Mute(ctx, tracks[1], true); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, carol, protocol.TypeTrackMuted, func(e client.Event) bool { return e.Track != nil && e.Track.ID == tracks[1].ID() })
	if !ev.Track.Muted {
		t.Fatalf("track_muted says unmuted: %+v", ev.Track)
	}
	// The publisher keeps sending, as a browser does with a disabled
	// track; the SFU forwards none of it (a few in-flight packets at most).
	tracks[1].SetPaused(false)
	sent := func() (n uint64) {
		for _, s := range tracks[1].Stats() {
			n += s.Packets
		}
		return n
	}
	before, sentBefore := second.Stats().Packets, sent()
	testenv.Eventually(t, 10*time.Second, "the muted publisher sends 25 more packets", func() error {
		if n := sent(); n < sentBefore+25 {
			return fmt.Errorf("%d sent since the mute", n-sentBefore)
		}
		return nil
	})
	stopped := second.Stats().Packets
	if stopped > before+5 {
		t.Errorf("%d packets arrived while muted, as %d were sent", stopped-before, sent()-sentBefore)
	}
	if err := alice.Mute(ctx, tracks[1], false); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "media after unmute", func() error {
		if n := second.Stats().Packets; n < stopped+20 {
			return fmt.Errorf("%d packets since unmute", n-stopped)
		}
		return nil
	})

	// Leave: the others see alice's tracks unpublished and alice leave.
	lctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := alice.Leave(lctx); err != nil {
		t.Fatalf("leave: %v", err)
	}
	nextEvent(t, carol, protocol.TypeParticipantLeft, func(e client.Event) bool {
		return e.Participant != nil && e.Participant.Identity == "alice"
	})
	if err := carol.WaitUntil(ctx, func() bool {
		for _, ti := range carol.Tracks() {
			if ti.Identity == "alice" {
				return false
			}
		}
		return true
	}); err != nil {
		t.Fatalf("alice's tracks still listed: %+v", carol.Tracks())
	}
}

// The audio level each publisher writes in its packets turns into
// active_speakers events: the loud one is listed, the silent one is not.
func TestActiveSpeakers(t *testing.T) {
	c := startCluster(t)
	const room = "speakers"
	loud := join(t, c.wsURL, "default", room, "loud")
	quiet := join(t, c.wsURL, "default", room, "quiet")
	listener := join(t, c.wsURL, "default", room, "listener")
	publish(t, loud, client.TrackSpec{Codec: client.CodecOpus, AudioLevel: 5})
	publish(t, quiet, client.TrackSpec{Codec: client.CodecOpus, AudioLevel: 127})
	ev := nextEvent(t, listener, protocol.TypeActiveSpeakers, func(e client.Event) bool { return len(e.Speakers) > 0 })
	if ev.Speakers[0].Identity != "loud" {
		t.Fatalf("loudest speaker %+v, want loud", ev.Speakers)
	}
	for _, s := range ev.Speakers {
		if s.Identity == "quiet" || s.Identity == "listener" {
			t.Errorf("silent participant listed as speaking: %+v", ev.Speakers)
		}
	}
}
