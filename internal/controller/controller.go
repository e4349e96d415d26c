package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/directory"
	"github.com/rtcloud/rtcloud/internal/geoip"
	"github.com/rtcloud/rtcloud/internal/placement"
)

// Options configure a Controller.
type Options struct {
	Config   config.Controller
	Bus      *bus.Client
	Verifier *auth.Verifier
	Logger   *slog.Logger
	// ID names this controller; default "CT_" + random.
	ID string
	// GeoIP resolves client addresses; default: built from Config.GeoIP.
	GeoIP *geoip.Resolver
	// Relay configures the routing of relay traffic between nodes.
	Relay config.Relay
	// StaleAfter is how long a session record may name a session its live
	// node does not have, and a room record a room nobody is in, before
	// the leader deletes it (default DefaultStaleAfter).
	StaleAfter time.Duration
	// RoomsSpanNodes says the nodes relay media to each other (relay.secret
	// is set): a same-node room whose node is full grows onto the next
	// best node instead of refusing the participant.
	RoomsSpanNodes bool
}

// Controller is one controller instance. Every instance answers placement;
// the one holding the leader lease also cleans up after dead nodes.
type Controller struct {
	opts      Options
	log       *slog.Logger
	dir       *directory.Directory
	rooms     roomStore
	sessions  jetstream.KeyValue
	nodesKV   jetstream.KeyValue
	control   jetstream.KeyValue
	geo       *geoip.Resolver
	policies  map[string]Policy
	streams   streamStore
	elect     *election
	sub       *nats.Subscription
	drains    drainSet
	routes    *router
	stale     staleSet  // janitor goroutine only
	lastStale time.Time // janitor goroutine only
	lastPurge time.Time // janitor goroutine only
	staleRuns atomic.Uint64

	cancel  context.CancelFunc
	wg      sync.WaitGroup
	release atomic.Bool // resign the lease on Close (false when simulating a crash)
	closed  atomic.Bool
}

// New opens the buckets, starts serving bus.ControllerAllocate in the
// controllers' queue group and campaigns for leadership. ctx bounds the
// setup only.
func New(ctx context.Context, o Options) (*Controller, error) {
	if o.Bus == nil || o.Verifier == nil {
		return nil, errors.New("controller: Bus and Verifier are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ID == "" {
		o.ID = newID()
	}
	def := config.DefaultController()
	if o.Config.DeadAfter <= 0 {
		o.Config.DeadAfter = def.DeadAfter
	}
	if o.Config.LeaseTTL <= 0 {
		o.Config.LeaseTTL = def.LeaseTTL
	}
	if o.Config.Policy == "" {
		o.Config.Policy = def.Policy
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = DefaultStaleAfter
	}
	c := &Controller{opts: o, log: o.Logger.With("component", "controller", "controller_id", o.ID)}
	if err := c.setup(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Controller) setup(ctx context.Context) error {
	o := c.opts
	var err error
	if c.geo = o.GeoIP; c.geo == nil {
		if c.geo, err = buildGeoIP(o.Config.GeoIP); err != nil {
			return err
		}
	}
	c.policies = placement.Build(o.Config, o.RoomsSpanNodes)
	if c.dir, err = directory.Open(ctx, directory.Options{Bus: o.Bus, DeadAfter: o.Config.DeadAfter, Logger: o.Logger}); err != nil {
		return err
	}
	rooms, err := o.Bus.KV(ctx, bus.BucketRooms, 0)
	if err != nil {
		return err
	}
	c.rooms = roomStore{kv: rooms}
	if c.sessions, err = o.Bus.KV(ctx, bus.BucketSessions, 0); err != nil {
		return err
	}
	if c.nodesKV, err = o.Bus.KV(ctx, bus.BucketNodes, 0); err != nil {
		return err
	}
	if c.control, err = o.Bus.KV(ctx, bus.BucketControl, 0); err != nil {
		return err
	}
	leaderKV, err := o.Bus.KV(ctx, bus.BucketLeader, o.Config.LeaseTTL)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	if err := c.drains.start(runCtx, c.control, &c.wg); err != nil {
		return err
	}
	c.elect = &election{kv: leaderKV, id: o.ID, ttl: o.Config.LeaseTTL, log: c.log}
	c.release.Store(true)
	if err := c.startRoutes(ctx, runCtx); err != nil {
		return err
	}
	c.wg.Add(2)
	go func() { defer c.wg.Done(); c.elect.run(runCtx, c.release.Load) }()
	go func() { defer c.wg.Done(); c.janitor(runCtx) }()
	c.sub, err = o.Bus.Conn().QueueSubscribe(bus.ControllerAllocate, bus.ControllerQueue, func(m *nats.Msg) {
		bus.ServeMsg(m, func(ctx context.Context, req bus.AllocateRequest) (any, error) {
			a, err := c.Allocate(ctx, req, "bus")
			return a.Allocation, toBusError(err)
		})
	})
	if err != nil {
		return fmt.Errorf("controller: serve %s: %w", bus.ControllerAllocate, err)
	}
	if err := c.startStreams(ctx); err != nil {
		return err
	}
	c.log.Info("controller started", "policy", o.Config.Policy)
	if !o.RoomsSpanNodes && o.Config.Policy == config.PolicyNearest {
		c.log.Warn("policy nearest without relay.secret: a room whose clients land on different nodes is split into parts that cannot see each other; set relay.secret on every node and controller")
	}
	return nil
}

// ID is this controller's id.
func (c *Controller) ID() string { return c.opts.ID }

// IsLeader reports whether this controller holds the leader lease.
func (c *Controller) IsLeader() bool { l, _ := c.elect.status(); return l }

// Ready reports whether the controller serves placement.
func (c *Controller) Ready() bool { return !c.closed.Load() && c.opts.Bus.Connected() }

// Close stops serving, releases the leader lease and waits for every
// goroutine of the controller.
func (c *Controller) Close() {
	if c.closed.Swap(true) {
		return
	}
	if c.sub != nil {
		_ = c.sub.Drain()
	}
	c.stopStreams()
	if c.routes != nil {
		c.routes.stop()
	}
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
	if c.dir != nil {
		c.dir.Close()
	}
}

// crash stops the controller without releasing its lease, as if the
// process died (tests).
func (c *Controller) crash() {
	c.release.Store(false)
	if c.sub != nil {
		_ = c.sub.Unsubscribe()
		c.sub = nil
	}
	c.Close()
}

func newID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "CT_" + hex.EncodeToString(b)
}

func buildGeoIP(g config.GeoIP) (*geoip.Resolver, error) {
	o := geoip.Options{CountryRegions: g.CountryRegions, ContinentRegions: g.ContinentRegions}
	for _, e := range g.CIDRs {
		o.Table = append(o.Table, geoip.Entry{CIDR: e.CIDR, Region: e.Region, ISP: e.ISP})
	}
	if g.MMDB != "" {
		db, err := geoip.Open(g.MMDB)
		if err != nil {
			return nil, err
		}
		o.DB = db
	}
	return geoip.New(o)
}

// roomNodes is nodes of a room record with id added and dead nodes left
// out.
func roomNodes(prev []string, id string, live []bus.NodeInfo) []string {
	out := []string{}
	for _, n := range append(slices.Clone(prev), id) {
		if hasLiveNode(live, n) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func (c *Controller) policyName(ns string) string {
	return placement.PolicyName(c.opts.Config, ns)
}

// liveNodes are the nodes heard from within DeadAfter, drained ones
// flagged Draining.
func (c *Controller) liveNodes() []bus.NodeInfo {
	nodes := c.dir.LiveNodes()
	for i := range nodes {
		if c.drains.has(nodes[i].ID) {
			nodes[i].Draining = true
		}
	}
	return nodes
}

// Placement is an allocation with what the controller knew of the client.
type Placement struct {
	bus.Allocation
	Client geoip.Location `json:"client"`
}

// Allocate answers where a client should join a room and records the
// room's node when the room is new or its node died. via names the API
// the request came through, for the log.
func (c *Controller) Allocate(ctx context.Context, r bus.AllocateRequest, via string) (Placement, error) {
	return c.allocate(ctx, r, via, true)
}

// allocate places the room; with persist false (an anonymous request) it
// only previews: a room not yet placed is not written, so requests that
// nobody follows with a join leave nothing behind.
func (c *Controller) allocate(ctx context.Context, r bus.AllocateRequest, via string, persist bool) (Placement, error) {
	if !bus.ValidName(r.Namespace) || !bus.ValidName(r.Room) {
		return Placement{}, fmt.Errorf("%w: namespace and room must be 1-128 characters of A-Z a-z 0-9 _ -", ErrBadRequest)
	}
	req := Request{Namespace: r.Namespace, Room: r.Room}
	if r.ClientIP != "" {
		ip, err := netip.ParseAddr(r.ClientIP)
		if err != nil {
			return Placement{}, fmt.Errorf("%w: client ip %q is not an IP address", ErrBadRequest, r.ClientIP)
		}
		req.ClientIP = ip.Unmap()
		req.Location, _ = c.geo.Lookup(req.ClientIP)
	}
	name := c.policyName(r.Namespace)
	policy := c.policies[name]
	key := bus.RoomKey(r.Namespace, r.Room)
	for range 5 {
		rec, rev, err := c.rooms.get(ctx, key)
		if err != nil {
			return Placement{}, err
		}
		nodes := c.liveNodes()
		req.RoomNode = ""
		// A room stays on its node while the node is alive and takes new
		// sessions; a room on a draining node moves (its participants
		// there stay, or migrate), and the relay joins the two parts.
		if rev != 0 && hasLiveNode(nodes, rec.NodeID) {
			req.RoomNode = rec.NodeID
		}
		d, err := policy.Place(req, nodes)
		if err != nil {
			c.log.Warn("no placement", "namespace", r.Namespace, "room", r.Room, "client_ip", r.ClientIP, "err", err)
			return Placement{}, err
		}
		switch {
		case !persist:
			// A preview writes nothing.
		case req.RoomNode == "":
			err = c.rooms.claim(ctx, bus.RoomRecord{Namespace: r.Namespace, Room: r.Room, NodeID: d.Node.ID,
				CreatedAt: time.Now().UTC(), Nodes: roomNodes(rec.Nodes, d.Node.ID, nodes)}, rev)
			if errors.Is(err, errConflict) {
				continue // someone else placed the room first: follow them
			}
			if err != nil {
				return Placement{}, err
			}
		case !slices.Contains(rec.Nodes, d.Node.ID):
			// The room grows onto another node: record it.
			rec.Nodes = roomNodes(rec.Nodes, d.Node.ID, nodes)
			if err := c.rooms.claim(ctx, rec, rev); errors.Is(err, errConflict) {
				continue
			} else if err != nil {
				return Placement{}, err
			}
		}
		c.log.Info("client placed", "namespace", r.Namespace, "room", r.Room, "client_ip", r.ClientIP,
			"client_region", req.Location.Region, "client_isp", req.Location.ISP, "node", d.Node.ID,
			"node_region", d.Node.Region, "policy", name, "reason", d.Reason, "via", via)
		return Placement{Allocation: bus.Allocation{Node: d.Node, Reason: d.Reason, Policy: name}, Client: req.Location}, nil
	}
	return Placement{}, fmt.Errorf("place room %s: too much contention", key)
}

// hasLiveNode reports whether id is among nodes and not draining.
func hasLiveNode(nodes []bus.NodeInfo, id string) bool {
	for _, n := range nodes {
		if n.ID == id {
			return !n.Draining
		}
	}
	return false
}

func hasNode(nodes []bus.NodeInfo, id string) bool {
	for _, n := range nodes {
		if n.ID == id {
			return true
		}
	}
	return false
}

// toBusError maps controller errors to bus error codes.
func toBusError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrBadRequest):
		return bus.Errorf(bus.CodeBadRequest, "%s", err.Error())
	case errors.Is(err, ErrNoNode), errors.Is(err, ErrRoomFull):
		return bus.Errorf(bus.CodeUnavailable, "%s", err.Error())
	case errors.Is(err, ErrNotFound):
		return bus.Errorf(bus.CodeNotFound, "%s", err.Error())
	default:
		return bus.Errorf(bus.CodeInternal, "%s", err.Error())
	}
}
