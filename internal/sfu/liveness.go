package sfu

import (
	"context"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
)

// DefaultAliveInterval is how often a node publishes its liveness beat
// when sfu.alive_interval is unset.
const DefaultAliveInterval = 250 * time.Millisecond

// beatAlive publishes the node's liveness beat (bus.NodeAlive) every
// interval until ctx ends. It runs on its own goroutine so that slow
// periodic work never delays it: followers declare a node dead once its
// beats stop and a ping finds nobody answering (see bus/liveness.go).
func (n *Node) beatAlive(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultAliveInterval
	}
	subject := bus.NodeAlive(n.id)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := n.events.Publish(subject, nil); err != nil {
			n.log.Debug("liveness beat", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ping answers bus.CmdPing: the node is alive and serving commands.
func (n *Node) ping(context.Context, bus.Ping) (any, error) { return bus.Reply{}, nil }
