package client_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/client"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/protocol"
	"github.com/rtcloud/rtcloud/internal/sfu"
	"github.com/rtcloud/rtcloud/internal/signal"
)

func logger() *slog.Logger {
	if os.Getenv("RTCLOUD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// signalServer is one signaling server of the test cluster.
type signalServer struct {
	sig  *signal.Server
	http *httptest.Server
	ws   string
}

// kill drops every client connection at once and stops the server.
func (s *signalServer) kill() {
	s.http.CloseClientConnections()
	s.http.Close()
	s.sig.Close()
}

// startCluster runs an embedded NATS server, one SFU node and n
// signaling servers, each component on its own bus connection.
func startCluster(t *testing.T, n int) []*signalServer {
	t.Helper()
	nats, err := bus.StartEmbedded(bus.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nats.Shutdown)
	c := config.Default()
	c.SFU.MediaPort = 0
	c.SFU.AdvertiseIPs = []string{"127.0.0.1"}
	c.SFU.BindIP = "127.0.0.1"
	c.SFU.HeartbeatInterval = 250 * time.Millisecond
	connect := func() *bus.Client {
		b, err := bus.Connect(bus.Options{URLs: nats.ClientURL(), KVReplicas: 1, Logger: logger()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		return b
	}
	node, err := sfu.NewNode(sfu.Options{Config: c.SFU, Bus: connect(), Logger: logger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := node.Run(ctx); err != nil {
			t.Errorf("sfu node: %v", err)
		}
	}()
	t.Cleanup(func() { stop(); wg.Wait() })
	var out []*signalServer
	for range n {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		sig, err := signal.NewServer(sctx, signal.Options{Config: c.Signal, Bus: connect(),
			Verifier: auth.NewVerifier(c.Keys), Keys: c.Keys, Logger: logger()})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(sig.Handler())
		s := &signalServer{sig: sig, http: srv, ws: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"}
		t.Cleanup(s.kill)
		out = append(out, s)
	}
	waitFor(t, 15*time.Second, "node and signaling servers ready", func() bool {
		for _, s := range out {
			if !s.sig.Ready() {
				return false
			}
		}
		return node.Ready()
	})
	return out
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func join(t *testing.T, ctx context.Context, wsURL, identity string) *client.Client {
	t.Helper()
	tok, err := auth.Mint(auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: identity,
		Grant: auth.Grant{Namespace: "default", Room: "resume", Publish: true, Subscribe: true}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Connect(ctx, wsURL, tok, client.Options{Name: identity, Logger: logger(),
		Media: client.MediaOptions{IPFilter: client.LoopbackOnly, Logger: logger()}})
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
	waitFor(t, 10*time.Second, what, func() bool { return rt.Stats().Packets >= before+n })
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

	pub := join(t, ctx, a.ws, "pub")
	tracks, err := pub.Publish(ctx, client.TrackSpec{Codec: client.CodecVP8, FPS: 30})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.WaitPublished(ctx, tracks...); err != nil {
		t.Fatal(err)
	}
	sub := join(t, ctx, a.ws, "sub")
	carol := join(t, ctx, b.ws, "carol")
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

	a.kill()
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
	dave := join(t, ctx, b.ws, "dave")
	packetsGrow(t, rt, 30, "media while the clients are disconnected")

	for _, c := range []*client.Client{pub, sub} {
		if err := c.Reconnect(ctx, b.ws); err != nil {
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
	if err := pub.Reconnect(ctx, b.ws); err != nil {
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
	c := join(t, ctx, sigs[0].ws, "idle")
	id := c.SessionID()
	sigs[0].kill()
	<-c.Done()
	// The first server ended the session as it lost the connection (no
	// media was flowing); wait until the node forgot it.
	watcher := join(t, ctx, sigs[1].ws, "watcher")
	waitFor(t, 10*time.Second, "the idle session ends", func() bool {
		for _, p := range watcher.Participants() {
			if p.SessionID == id {
				return false
			}
		}
		return true
	})
	err := c.Reconnect(ctx, sigs[1].ws)
	if !errors.Is(err, client.ErrSessionLost) {
		t.Fatalf("Reconnect = %v, want ErrSessionLost", err)
	}
	if err := c.Reconnect(ctx, sigs[1].ws); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Reconnect after the loss = %v, want ErrClosed", err)
	}
	// Nobody is left behind: only the watcher is in the room.
	waitFor(t, 5*time.Second, "only the watcher left", func() bool {
		ps := watcher.Participants()
		return len(ps) == 1 && ps[0].Identity == "watcher"
	})
}
