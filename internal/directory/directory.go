// Package directory is the shared state of the signaling tier, kept in the
// bus's JetStream key-value buckets so that any signaling server can serve
// any session: which SFU nodes are alive (from their heartbeats), which
// node serves a room, and which node holds a session.
package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// DefaultDeadAfter is how long a node may stay silent (no heartbeat and no
// liveness beat) before it counts as dead whatever pings say. A node whose
// process died is declared dead sooner, within about a second: see
// liveness.go.
const DefaultDeadAfter = 2 * time.Second

// Options configure a Directory.
type Options struct {
	Bus *bus.Client
	// DeadAfter is how long after its last heartbeat a node is dead.
	DeadAfter time.Duration
	// SuspectAfter is how long a node may miss liveness beats before it is
	// pinged (default DefaultSuspectAfter); two pings that find nobody
	// serving its commands make it dead at once.
	SuspectAfter time.Duration
	Logger       *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Directory is one process's handle on the directory. It is safe for
// concurrent use.
type Directory struct {
	opts     Options
	log      *slog.Logger
	nodesKV  jetstream.KeyValue
	rooms    jetstream.KeyValue
	sessions jetstream.KeyValue
	control  jetstream.KeyValue
	sub      *nats.Subscription

	mu     sync.Mutex // guards live and onDown
	live   map[string]liveNode
	onDown []func(nodeID, reason string)

	aliveSub *nats.Subscription
	stopLive chan struct{}
	liveWG   sync.WaitGroup
}

type liveNode struct {
	info         bus.NodeInfo
	seen         time.Time // the last heartbeat or liveness beat
	dead         bool      // declared dead (see liveness.go)
	pinging      bool      // a ping is in flight
	pingedAt     time.Time // when the last ping was sent
	noResponders int       // pings in a row that found nobody serving it
}

// Open opens the buckets and starts following node heartbeats. ctx bounds
// the setup only.
func Open(ctx context.Context, o Options) (*Directory, error) {
	if o.Bus == nil {
		return nil, errors.New("directory: Bus is required")
	}
	if o.DeadAfter <= 0 {
		o.DeadAfter = DefaultDeadAfter
	}
	if o.SuspectAfter <= 0 {
		o.SuspectAfter = min(DefaultSuspectAfter, o.DeadAfter/2)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	d := &Directory{opts: o, log: o.Logger.With("component", "directory"), live: map[string]liveNode{}}
	var err error
	if d.nodesKV, err = o.Bus.KV(ctx, bus.BucketNodes, 0); err != nil {
		return nil, err
	}
	if d.rooms, err = o.Bus.KV(ctx, bus.BucketRooms, 0); err != nil {
		return nil, err
	}
	if d.sessions, err = o.Bus.KV(ctx, bus.BucketSessions, 0); err != nil {
		return nil, err
	}
	if d.control, err = o.Bus.KV(ctx, bus.BucketControl, 0); err != nil {
		return nil, err
	}
	d.sub, err = o.Bus.Subscribe(bus.NodeHeartbeats, d.onHeartbeat)
	if err != nil {
		return nil, fmt.Errorf("directory: follow heartbeats: %w", err)
	}
	d.seedNodes(ctx)
	if err := d.startLiveness(); err != nil {
		_ = d.sub.Unsubscribe()
		return nil, fmt.Errorf("directory: follow liveness beats: %w", err)
	}
	return d, nil
}

// Close stops following heartbeats and liveness beats.
func (d *Directory) Close() {
	if d.sub != nil {
		_ = d.sub.Unsubscribe()
	}
	d.stopLiveness()
}

func (d *Directory) onHeartbeat(m *nats.Msg) {
	var n bus.NodeInfo
	if err := json.Unmarshal(m.Data, &n); err != nil || n.ID == "" {
		d.log.Debug("ignoring bad heartbeat", "err", err)
		return
	}
	d.Observe(n)
}

// Observe records a heartbeat of node n, received now.
func (d *Directory) Observe(n bus.NodeInfo) {
	d.mu.Lock()
	if ln, ok := d.live[n.ID]; ok && ln.dead {
		d.log.Info("node alive again", "node", n.ID)
	}
	d.live[n.ID] = liveNode{info: n, seen: d.opts.Now()}
	d.mu.Unlock()
}

// seedNodes reads the nodes bucket so a freshly started process knows the
// nodes that reported recently, before their next heartbeat.
func (d *Directory) seedNodes(ctx context.Context) {
	lister, err := d.nodesKV.ListKeys(ctx)
	if err != nil {
		return
	}
	now := d.opts.Now()
	for key := range lister.Keys() {
		e, err := d.nodesKV.Get(ctx, key)
		if err != nil {
			continue
		}
		var n bus.NodeInfo
		if json.Unmarshal(e.Value(), &n) != nil || n.ID == "" || now.Sub(n.SentAt) >= d.opts.DeadAfter {
			continue
		}
		d.mu.Lock()
		if _, ok := d.live[n.ID]; !ok {
			d.live[n.ID] = liveNode{info: n, seen: n.SentAt}
		}
		d.mu.Unlock()
	}
}

// Node returns the latest heartbeat of node id and whether it is alive.
func (d *Directory) Node(id string) (bus.NodeInfo, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ln, ok := d.live[id]
	if !ok {
		return bus.NodeInfo{}, false
	}
	return ln.info, !ln.dead && d.opts.Now().Sub(ln.seen) < d.opts.DeadAfter
}

// DrainingNodes returns the ids of the nodes an operator marked drained
// (bus.DrainKey in bus.BucketControl); one KV listing per call.
func (d *Directory) DrainingNodes(ctx context.Context) (map[string]bool, error) {
	lister, err := d.control.ListKeysFiltered(ctx, bus.DrainKey("*"))
	if err != nil {
		return nil, fmt.Errorf("directory: list drain marks: %w", err)
	}
	out := map[string]bool{}
	for k := range lister.Keys() {
		out[strings.TrimPrefix(k, bus.DrainKey(""))] = true
	}
	return out, nil
}

// LiveNodes returns the nodes heard from within DeadAfter, by id. Nodes
// silent for longer are forgotten.
func (d *Directory) LiveNodes() []bus.NodeInfo {
	now := d.opts.Now()
	d.mu.Lock()
	out := make([]bus.NodeInfo, 0, len(d.live))
	for id, ln := range d.live {
		if now.Sub(ln.seen) >= 10*d.opts.DeadAfter {
			delete(d.live, id) // long gone
			continue
		}
		if ln.dead || now.Sub(ln.seen) >= d.opts.DeadAfter {
			continue
		}
		out = append(out, ln.info)
	}
	d.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
