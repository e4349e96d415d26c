package sfu

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/relay"
)

// roomStateTimeout bounds the wait for other nodes' part of a room.
const roomStateTimeout = time.Second

// startRelay opens the node's relay socket (Options.RelaySecret set).
func (n *Node) startRelay(o Options) error {
	r := newRelayNode(n, nil)
	bind := o.Config.BindIP
	t, err := relay.Listen(relay.Config{
		NodeID: n.id, ListenAddr: net.JoinHostPort(bind, strconv.Itoa(o.Config.RelayPort)),
		Secret: o.RelaySecret, FEC: o.RelayFEC, Logger: n.log.With("component", "relay"), Registerer: n.metrics.Registry,
		OnLinkState: r.linkState,
	}, r)
	if err != nil {
		return errRelay("listen: %w", err)
	}
	r.t = t
	r.rep.links = config.Relay{Links: o.RelayLinks}
	n.relay = r
	n.streams = newStreamDir(n)
	return nil
}

// followCluster follows the other nodes' heartbeats (relay peers) and the
// node's routing table; it returns the subscriptions to end on shutdown.
func (n *Node) followCluster(ctx context.Context) []*nats.Subscription {
	if n.relay == nil {
		return nil
	}
	var subs []*nats.Subscription
	hb, err := n.bus.Subscribe(bus.NodeHeartbeats, func(m *nats.Msg) {
		var info bus.NodeInfo
		if json.Unmarshal(m.Data, &info) == nil && info.ID != "" {
			n.relay.observe(info, time.Now())
		}
	})
	if err != nil {
		n.log.Warn("follow heartbeats", "err", err)
	} else {
		subs = append(subs, hb)
	}
	rt, err := n.bus.Subscribe(bus.NodeRoutesSubject(n.id), func(m *nats.Msg) {
		var nr bus.NodeRoutes
		if json.Unmarshal(m.Data, &nr) == nil {
			n.relay.setRoutes(nr)
		}
	})
	if err != nil {
		n.log.Warn("follow routes", "err", err)
	} else {
		subs = append(subs, rt)
	}
	n.goroutine(func() { n.loadRoutes(ctx) })
	n.goroutine(func() { n.streams.run(ctx) })
	return subs
}

// loadRoutes reads the node's table from the routes bucket once, for a
// node that starts after the controller published it.
func (n *Node) loadRoutes(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	kv, err := n.bus.KV(ctx, bus.BucketRoutes, 0)
	if err != nil {
		n.log.Debug("routes bucket", "err", err)
		return
	}
	e, err := kv.Get(ctx, bus.RoutesKey(n.id))
	if err != nil {
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			n.log.Debug("read routes", "err", err)
		}
		return
	}
	var nr bus.NodeRoutes
	if json.Unmarshal(e.Value(), &nr) == nil {
		n.relay.setRoutes(nr)
	}
}

// publishLinks reports the relay links to the controller.
func (n *Node) publishLinks(now time.Time) {
	if n.relay == nil || n.events == nil {
		return
	}
	if err := n.events.Publish(bus.LinkReports(n.id), n.relay.linkReport(now)); err != nil {
		n.log.Debug("link report", "err", err)
	}
}

// localParticipants lists the room's participants connected here.
func (n *Node) localParticipants(namespace, room string) []bus.ParticipantInfo {
	n.mu.Lock()
	var in []*session
	for _, s := range n.sessions {
		if s.p.Namespace == namespace && s.p.Room == room && !s.grants.Hidden { // hidden: recorders
			in = append(in, s)
		}
	}
	n.mu.Unlock()
	out := make([]bus.ParticipantInfo, 0, len(in))
	for _, s := range in {
		pi := s.info()
		pi.Node = n.id
		out = append(out, pi)
	}
	return out
}

// remoteRoomState asks every other node for its part of the room; nodes
// that do not answer in time are left out.
func (n *Node) remoteRoomState(ctx context.Context, namespace, room string) []bus.ParticipantInfo {
	if n.relay == nil || n.bus == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, roomStateTimeout)
	defer cancel()
	peers := n.relay.peerIDs()
	replies := make([]bus.RoomState, len(peers))
	var wg sync.WaitGroup
	for i, id := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := n.bus.Request(ctx, bus.NodeCommand(id, bus.CmdRoomStateLocal),
				bus.RoomStateRequest{Namespace: namespace, Room: room}, &replies[i])
			if err != nil && !errors.Is(err, bus.ErrNoResponders) {
				n.log.Debug("room state of peer", "peer", id, "err", err)
			}
		}()
	}
	wg.Wait()
	var out []bus.ParticipantInfo
	for i, st := range replies {
		for _, p := range st.Participants {
			if p.Node == "" {
				p.Node = peers[i]
			}
			if p.Namespace == namespace && p.Room == room {
				out = append(out, p)
			}
		}
	}
	return out
}
