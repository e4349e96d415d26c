package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/client"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/protocol"
	"github.com/rtcloud/rtcloud/internal/sfu"
	"github.com/rtcloud/rtcloud/internal/signal"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	removeBinary()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testLogger writes to the test log only when -v is given; otherwise
// warnings and errors only.
func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if testingVerbose() {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(logWriter(), &slog.HandlerOptions{Level: level}))
}

func testingVerbose() bool { return os.Getenv("RTCLOUD_E2E_DEBUG") != "" }

func logWriter() io.Writer { return os.Stderr }

// cluster is a NATS server, one SFU node and one signaling server wired as
// cmd/rtcloud/dev.go wires them, each component on its own bus connection.
type cluster struct {
	nats    *bus.Embedded
	httpURL string
	wsURL   string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	log := testLogger()
	nats, err := bus.StartEmbedded(bus.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nats.Shutdown)
	c := config.Default()
	c.NATS.URL = nats.ClientURL()
	c.SFU.MediaPort = 0
	c.SFU.AdvertiseIPs = []string{"127.0.0.1"}
	c.SFU.BindIP = "127.0.0.1"
	c.SFU.HeartbeatInterval = 250 * time.Millisecond
	c.Signal.DevTokens = true
	connect := func(name string) *bus.Client {
		b, err := bus.Connect(bus.Options{URLs: c.NATS.URL, Name: name, KVReplicas: 1, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		return b
	}
	sfuBus := connect("e2e-sfu")
	node, err := sfu.NewNode(sfu.Options{Config: c.SFU, Bus: sfuBus, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	nodeCtx, stopNode := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := node.Run(nodeCtx); err != nil {
			t.Errorf("sfu node: %v", err)
		}
	}()
	t.Cleanup(func() { stopNode(); wg.Wait() })

	sigBus := connect("e2e-signal")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	sig, err := signal.NewServer(ctx, signal.Options{Config: c.Signal, Bus: sigBus,
		Verifier: auth.NewVerifier(c.Keys), Keys: c.Keys, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sig.Close)
	srv := httptest.NewServer(sig.Handler())
	t.Cleanup(srv.Close)
	// Joins work once the signaling server has seen a heartbeat of the
	// node: wait for one published after it subscribed.
	beat := make(chan struct{}, 1)
	sub, err := sigBus.Subscribe(bus.NodeHeartbeats, func(*natsgo.Msg) {
		select {
		case beat <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	select {
	case <-beat:
	case <-time.After(15 * time.Second):
		t.Fatal("no SFU node heartbeat within 15s")
	}
	waitFor(t, 15*time.Second, "node and signaling ready", func() error {
		if !node.Ready() || !sig.Ready() {
			return fmt.Errorf("node ready %v, signal ready %v", node.Ready(), sig.Ready())
		}
		return nil
	})
	return &cluster{nats: nats, httpURL: srv.URL, wsURL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"}
}

func mint(t *testing.T, namespace, room, identity string) string {
	t.Helper()
	tok, err := auth.Mint(auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: identity,
		Grant: auth.Grant{Namespace: namespace, Room: room, Publish: true, Subscribe: true}})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func mediaOptions() client.MediaOptions {
	return client.MediaOptions{IPFilter: client.LoopbackOnly, Logger: testLogger()}
}

// join connects a client to room of namespace as identity; it is closed
// when the test ends.
func join(t *testing.T, wsURL, namespace, room, identity string) *client.Client {
	t.Helper()
	return joinWith(t, wsURL, namespace, room, identity, mediaOptions())
}

func joinWith(t *testing.T, wsURL, namespace, room, identity string, mo client.MediaOptions) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		c, err := client.Connect(ctx, wsURL, mint(t, namespace, room, identity), client.Options{
			Name: identity, Media: mo, Logger: testLogger()})
		if err == nil {
			t.Cleanup(c.Close)
			return c
		}
		// Right after start the signaling server may not have seen the
		// node's first heartbeat yet.
		if !client.IsCode(err, protocol.CodeUnavailable) || ctx.Err() != nil {
			t.Fatalf("%s joins %s/%s: %v", identity, namespace, room, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitFor polls cond until it returns nil or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// video and audio are small synthetic tracks that keep 2 cores and -race
// comfortable.
func video() client.TrackSpec {
	return client.TrackSpec{Codec: client.CodecVP8, FPS: 15, KbpsPerLayer: []int{250}}
}

func audio() client.TrackSpec { return client.TrackSpec{Codec: client.CodecOpus} }

// publish publishes specs and waits for their track ids.
func publish(t *testing.T, c *client.Client, specs ...client.TrackSpec) []*client.LocalTrack {
	t.Helper()
	ctx := ctxTimeout(t, 15*time.Second)
	tracks, err := c.Publish(ctx, specs...)
	if err != nil {
		t.Fatalf("%s publishes: %v", c.Self().Identity, err)
	}
	if err := c.WaitPublished(ctx, tracks...); err != nil {
		t.Fatalf("%s: %v", c.Self().Identity, err)
	}
	return tracks
}

// receiving checks that a received track got at least min packets with no
// sequence or counter gap.
func receiving(rt *client.RemoteTrack, min uint64) error {
	s := rt.Stats()
	switch {
	case s.Packets < min:
		return fmt.Errorf("track %s (mid %s): %d packets, want >= %d", rt.TrackID(), rt.MID(), s.Packets, min)
	case s.Gaps != 0 || s.CounterGaps != 0:
		return fmt.Errorf("track %s (mid %s): %d sequence gaps, %d counter gaps after %d packets",
			rt.TrackID(), rt.MID(), s.Gaps, s.CounterGaps, s.Packets)
	case s.NoTrailer != 0:
		return fmt.Errorf("track %s: %d packets without the synthetic trailer", rt.TrackID(), s.NoTrailer)
	}
	return nil
}

// freePort returns a TCP port that was free a moment ago on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
