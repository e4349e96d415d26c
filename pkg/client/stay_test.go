package client_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/internal/teststack"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// TestStayFollowsAMove: a publisher and a subscriber kept by Stay are on
// a node that migrates its sessions away (as on SIGTERM with
// sfu.migrate_on_shutdown); both join again on the other node by
// themselves, the publisher publishes again and the subscriber gets its
// media again.
func TestStayFollowsAMove(t *testing.T) {
	st := teststack.Start(t, teststack.Options{})
	ws := st.Signals[0].WS
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := client.Options{Logger: testenv.Logger(), Media: client.MediaOptions{IPFilter: client.LoopbackOnly, Logger: testenv.Logger()}}

	var moves sync.Map // identity -> reason
	var sessions sync.Map
	var rt atomic.Pointer[client.RemoteTrack]
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	stay := func(identity string, onJoin func(context.Context, *client.Client) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := client.Stay(runCtx, ws, testenv.Mint(t, "default", "stay", identity), client.StayOptions{
				Options: opts, OnJoin: func(ctx context.Context, c *client.Client) error {
					sessions.Store(identity+"-"+c.SessionID(), true)
					return onJoin(ctx, c)
				},
				OnMove: func(reason string) { moves.Store(identity, reason) },
			})
			if err != nil {
				t.Errorf("%s: Stay: %v", identity, err)
			}
		}()
	}
	stay("pub", func(ctx context.Context, c *client.Client) error {
		tracks, err := c.Publish(ctx, client.TrackSpec{Codec: client.CodecVP8, FPS: 30})
		if err != nil {
			return err
		}
		return c.WaitPublished(ctx, tracks...)
	})
	stay("sub", func(ctx context.Context, c *client.Client) error {
		infos, err := c.WaitTracks(ctx, 1, func(ti client.TrackInfo) bool { return ti.Identity == "pub" })
		if err != nil {
			return err
		}
		r, err := c.Subscribe(ctx, infos[0].ID, "")
		if err == nil {
			rt.Store(r)
		}
		return err
	})
	defer func() { stop(); wg.Wait() }()
	testenv.WaitFor(t, 20*time.Second, "media before the move", func() bool {
		r := rt.Load()
		return r != nil && r.Stats().Packets > 30
	})
	first := rt.Load()

	// A second node joins; the first moves everything to it. The signaling
	// server learns of it from its heartbeat (Ready is already true with the
	// first node, so it cannot tell).
	var heard atomic.Bool
	sub, err := testenv.Connect(t, st.NATS.ClientURL()).Subscribe(bus.NodeHeartbeats, func(m *nats.Msg) {
		var n bus.NodeInfo
		if json.Unmarshal(m.Data, &n) == nil && n.ID == "second" {
			heard.Store(true)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	second := testenv.StartNode(t, st.NATS.ClientURL(), testenv.NodeOptions{NodeID: "second"})
	testenv.WaitFor(t, 10*time.Second, "a heartbeat of the second node", heard.Load)
	mctx, mcancel := context.WithTimeout(ctx, 20*time.Second)
	defer mcancel()
	if err := st.Node.Migrate(mctx); err != nil {
		t.Fatalf("migrate: %v (sessions left %d)", err, st.Node.SessionCount())
	}
	testenv.WaitFor(t, 20*time.Second, "media after the move, on the second node", func() bool {
		r := rt.Load()
		return r != nil && r != first && r.Stats().Packets > 30 && second.SessionCount() == 2
	})
	for _, id := range []string{"pub", "sub"} {
		if r, ok := moves.Load(id); !ok || r != client.ReasonNodeDraining {
			t.Errorf("%s: moved %v (%v), want %q", id, ok, r, client.ReasonNodeDraining)
		}
	}
	n := 0
	sessions.Range(func(any, any) bool { n++; return true })
	if n != 4 {
		t.Errorf("%d sessions over the test, want 2 each for pub and sub", n)
	}
}
