package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/internal/teststack"
	"github.com/rtcloud/rtcloud/pkg/client"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBinary()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// cluster is a NATS server, one SFU node and one signaling server wired as
// cmd/rtcloud/dev.go wires them, each component on its own bus connection.
type cluster struct {
	httpURL string
	wsURL   string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	s := teststack.Start(t, teststack.Options{}).Signals[0]
	return &cluster{httpURL: s.URL, wsURL: s.WS}
}

func mediaOptions() client.MediaOptions {
	return client.MediaOptions{IPFilter: client.LoopbackOnly, Logger: testenv.Logger()}
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
		c, err := client.Connect(ctx, wsURL, testenv.Mint(t, namespace, room, identity), client.Options{
			Name: identity, Media: mo, Logger: testenv.Logger()})
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

// video and audio are small synthetic tracks that keep 2 cores and -race
// comfortable.
func video() client.TrackSpec {
	return client.TrackSpec{Codec: client.CodecVP8, FPS: 15, KbpsPerLayer: []int{250}}
}

func audio() client.TrackSpec { return client.TrackSpec{Codec: client.CodecOpus} }

// publish publishes specs and waits for their track ids.
func publish(t *testing.T, c *client.Client, specs ...client.TrackSpec) []*client.LocalTrack {
	t.Helper()
	ctx := testenv.Context(t, 15*time.Second)
	tracks, err := c.Publish(ctx, specs...)
	if err != nil {
		t.Fatalf("%s publishes: %v", c.Self().Identity, err)
	}
	if err := c.WaitPublished(ctx, tracks...); err != nil {
		t.Fatalf("%s: %v", c.Self().Identity, err)
	}
	return tracks
}

// subscribeTo waits until c sees the track id and subscribes to it at
// layer.
func subscribeTo(t *testing.T, ctx context.Context, c *client.Client, id, layer string) *client.RemoteTrack {
	t.Helper()
	if _, err := c.WaitTracks(ctx, 1, func(ti bus.TrackInfo) bool { return ti.ID == id }); err != nil {
		t.Fatal(err)
	}
	rt, err := c.Subscribe(ctx, id, layer)
	if err != nil {
		t.Fatalf("%s subscribes to %s: %v", c.Self().Identity, id, err)
	}
	return rt
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
