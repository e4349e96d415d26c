package testenv

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/sfu"
)

// NodeOptions configures a test SFU node. The zero value is a node with a
// random id and media port on 127.0.0.1 that beats every 250 ms.
type NodeOptions struct {
	NodeID string
	// IP is where the media port listens and what it advertises
	// (default 127.0.0.1).
	IP string
	// MediaPort is the node's UDP and TCP port (default: any free one).
	MediaPort int
	// Heartbeat is the heartbeat interval (default 250 ms).
	Heartbeat time.Duration
	Logger    *slog.Logger // default Logger()
}

// StartNode runs an SFU node on its own bus connection to natsURL, waits
// until it is ready and stops it when the test ends.
func StartNode(t testing.TB, natsURL string, o NodeOptions) *sfu.Node {
	t.Helper()
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = 250 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = Logger()
	}
	cfg := config.Default().SFU
	cfg.NodeID, cfg.MediaPort, cfg.HeartbeatInterval = o.NodeID, o.MediaPort, o.Heartbeat
	cfg.BindIP, cfg.AdvertiseIPs = o.IP, []string{o.IP}
	b := ConnectWith(t, bus.Options{URLs: natsURL, Name: "test-sfu", Logger: o.Logger})
	node, err := sfu.NewNode(sfu.Options{Config: cfg, Bus: b, Logger: o.Logger})
	if err != nil {
		t.Fatalf("sfu.NewNode: %v", err)
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
	WaitFor(t, 15*time.Second, "SFU node ready", node.Ready)
	return node
}
