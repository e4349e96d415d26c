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

// Migrate drains the node (it takes no new session and says so in its
// heartbeat) and asks every signaling server to move its clients to other
// nodes (bus.NodeMigrations); it returns once no session is left on the
// node, or with ctx's error. `rtcloud sfu` calls it on SIGTERM, so a
// rolling upgrade moves each participant instead of dropping it.
func (n *Node) Migrate(ctx context.Context) error {
	n.draining.Store(true)
	n.heartbeat()
	if err := n.events.Publish(bus.NodeMigrations, bus.NodeMigrate{NodeID: n.id}); err != nil {
		return err
	}
	n.log.Info("migrating the node's sessions to other nodes", "sessions", n.SessionCount())
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for n.SessionCount() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// SessionCount is the number of sessions the node serves.
func (n *Node) SessionCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.sessions)
}
