package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/internal/teststack"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// startCluster runs an embedded NATS server, one SFU node and n
// signaling servers, each component on its own bus connection.
func startCluster(t *testing.T, n int) []*teststack.Signal {
	t.Helper()
	return teststack.Start(t, teststack.Options{Signals: n}).Signals
}

func join(t *testing.T, ctx context.Context, wsURL, identity string) *client.Client {
	t.Helper()
	tok := testenv.Mint(t, "default", "resume", identity)
	c, err := client.Connect(ctx, wsURL, tok, client.Options{Name: identity, Logger: testenv.Logger(),
		Media: client.MediaOptions{IPFilter: client.LoopbackOnly, Logger: testenv.Logger()}})
	if err != nil {
		t.Fatalf("%s joins: %v", identity, err)
	}
	t.Cleanup(c.Close)
	return c
}

// nextEvent reads the connection's events until one of type typ about
// identity arrives.
func nextEvent(t *testing.T, c *client.Client, typ, identity string) client.Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("%s: connection ended waiting for %s of %s: %v", c.Self().Identity, typ, identity, c.Err())
			}
			who := ""
			if ev.Participant != nil {
				who = ev.Participant.Identity
			} else if ev.Track != nil {
				who = ev.Track.Identity
			}
			if ev.Type == typ && who == identity {
				return ev
			}
		case <-timeout:
			t.Fatalf("%s: no %s of %s within 10s", c.Self().Identity, typ, identity)
		}
	}
}

func packetsGrow(t *testing.T, rt *client.RemoteTrack, n uint64, what string) {
	t.Helper()
	before := rt.Stats().Packets
	testenv.WaitFor(t, 10*time.Second, what, func() bool { return rt.Stats().Packets >= before+n })
}

// A signaling server dies: its publisher and subscriber reconnect through
// the other one and keep their sessions, media and room state; what
// changed meanwhile arrives as events; requests work through the new
// server.
func TestReconnectThroughAnotherServerKeepsSessionAndMedia(t *testing.T) {
	sigs := startCluster(t, 2)
	a, b := sigs[0], sigs[1]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	pub := join(t, ctx, a.WS, "pub")
	tracks, err := pub.Publish(ctx, client.TrackSpec{Codec: client.CodecVP8, FPS: 30})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.WaitPublished(ctx, tracks...); err != nil {
		t.Fatal(err)
	}
	sub := join(t, ctx, a.WS, "sub")
	carol := join(t, ctx, b.WS, "carol")
	if _, err := sub.WaitTracks(ctx, 1, func(ti bus.TrackInfo) bool { return ti.ID == tracks[0].ID() }); err != nil {
		t.Fatal(err)
	}
	rt, err := sub.Subscribe(ctx, tracks[0].ID(), "")
	if err != nil {
		t.Fatal(err)
	}
	packetsGrow(t, rt, 30, "media before the server dies")
	nextEvent(t, sub, protocol.TypeParticipantJoined, "carol")
	pubID, subID := pub.SessionID(), sub.SessionID()
	subDone := sub.Done()

	a.Kill()
	for _, c := range []*client.Client{pub, sub} {
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the connection did not end with its server", c.Self().Identity)
		}
	}
	// While sub is away, carol leaves and dave joins.
	if err := carol.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	dave := join(t, ctx, b.WS, "dave")
	packetsGrow(t, rt, 30, "media while the clients are disconnected")

	for _, c := range []*client.Client{pub, sub} {
		if err := c.Reconnect(ctx, b.WS); err != nil {
			t.Fatalf("%s reconnects: %v", c.Self().Identity, err)
		}
	}
	if pub.SessionID() != pubID || sub.SessionID() != subID {
		t.Fatalf("sessions changed: %s %s, want %s %s", pub.SessionID(), sub.SessionID(), pubID, subID)
	}
	select {
	case <-sub.Done():
		t.Fatal("Done is the old connection's channel after Reconnect")
	default:
	}
	select {
	case <-subDone:
	default:
		t.Fatal("the old connection's Done is open")
	}
	// Room state: the publisher and its track are there, carol is gone,
	// dave is new, and the events say so.
	byIdentity := map[string]bus.ParticipantInfo{}
	for _, p := range sub.Participants() {
		byIdentity[p.Identity] = p
	}
	if p, ok := byIdentity["pub"]; !ok || p.SessionID != pubID || len(p.Tracks) != 1 || p.Tracks[0].ID != tracks[0].ID() {
		t.Fatalf("sub's room state after reconnect: %+v", byIdentity)
	}
	if _, ok := byIdentity["carol"]; ok {
		t.Fatalf("carol left but is still in the state: %+v", byIdentity)
	}
	if _, ok := byIdentity["dave"]; !ok {
		t.Fatalf("dave joined but is not in the state: %+v", byIdentity)
	}
	nextEvent(t, sub, protocol.TypeParticipantLeft, "carol")
	nextEvent(t, sub, protocol.TypeParticipantJoined, "dave")
	packetsGrow(t, rt, 30, "media after the reconnect")

	// Requests through the new server: mute (sub gets the event), a ping,
	// and dave subscribes to the publisher.
	if err := pub.Mute(ctx, tracks[0], true); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, sub, protocol.TypeTrackMuted, "pub")
	if ev.Track == nil || !ev.Track.Muted {
		t.Fatalf("track_muted after reconnect: %+v", ev)
	}
	if err := pub.Mute(ctx, tracks[0], false); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	rt2, err := dave.Subscribe(ctx, tracks[0].ID(), "")
	if err != nil {
		t.Fatal(err)
	}
	packetsGrow(t, rt2, 30, "a new subscriber receives the publisher")

	// Moving while the connection is up: the old one is closed without
	// "leave", and the server that loses it keeps the session (its media
	// flows).
	if err := pub.Reconnect(ctx, b.WS); err != nil {
		t.Fatalf("reconnect while connected: %v", err)
	}
	if pub.SessionID() != pubID {
		t.Fatalf("session after moving: %s, want %s", pub.SessionID(), pubID)
	}
	packetsGrow(t, rt2, 30, "media after moving")
	if err := pub.Mute(ctx, tracks[0], true); err != nil {
		t.Fatalf("request after moving: %v", err)
	}
	if ev := nextEvent(t, sub, protocol.TypeTrackMuted, "pub"); ev.Track.Muted {
		t.Fatalf("sub missed the unmute: %+v", ev.Track)
	}
	if ev := nextEvent(t, sub, protocol.TypeTrackMuted, "pub"); !ev.Track.Muted {
		t.Fatalf("sub missed the mute after pub moved: %+v", ev.Track)
	}
	if pub.DroppedEvents() != 0 || sub.DroppedEvents() != 0 {
		t.Fatalf("dropped events: %d %d", pub.DroppedEvents(), sub.DroppedEvents())
	}
}

// A session without media ends with its connection: Reconnect reports it
// lost and closes the client.
func TestReconnectReportsLostSession(t *testing.T) {
	sigs := startCluster(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := join(t, ctx, sigs[0].WS, "idle")
	id := c.SessionID()
	sigs[0].Kill()
	<-c.Done()
	// The first server ended the session as it lost the connection (no
	// media was flowing); wait until the node forgot it.
	watcher := join(t, ctx, sigs[1].WS, "watcher")
	testenv.WaitFor(t, 10*time.Second, "the idle session ends", func() bool {
		for _, p := range watcher.Participants() {
			if p.SessionID == id {
				return false
			}
		}
		return true
	})
	err := c.Reconnect(ctx, sigs[1].WS)
	if !errors.Is(err, client.ErrSessionLost) {
		t.Fatalf("Reconnect = %v, want ErrSessionLost", err)
	}
	if err := c.Reconnect(ctx, sigs[1].WS); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Reconnect after the loss = %v, want ErrClosed", err)
	}
	// Nobody is left behind: only the watcher is in the room.
	testenv.WaitFor(t, 5*time.Second, "only the watcher left", func() bool {
		ps := watcher.Participants()
		return len(ps) == 1 && ps[0].Identity == "watcher"
	})
}
