package controller

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/routing"
)

// maxLoggedChanges bounds the route changes logged one by one per version;
// the rest are counted.
const maxLoggedChanges = 50

// router is the controller's part of relay routing. Every controller
// follows the nodes' link reports (for GET /v1/admin/links); the leader
// also turns them, with the live nodes and the allowed links, into routing
// tables and publishes each new version to bus.BucketRoutes and to every
// node's bus.NodeRoutesSubject.
type router struct {
	c     *Controller
	cfg   config.Relay
	model routing.Model
	log   *slog.Logger
	kv    jetstream.KeyValue
	sub   *nats.Subscription
	kick  chan struct{}

	rejected atomic.Uint64

	mu      sync.Mutex // guards the fields below; never held across bus calls
	reports map[string]receivedReport
	tables  *routing.Tables // the leader's newest tables; nil when not leading

	// Owned by the run goroutine.
	planner     *routing.Planner
	lastSet     string
	lastPlan    time.Time
	lastPublish time.Time
	lastRepush  time.Time
}

func newRouter(c *Controller, cfg config.Relay, kv jetstream.KeyValue) *router {
	def := config.DefaultRelay()
	if cfg.RouteInterval <= 0 {
		cfg.RouteInterval = def.RouteInterval
	}
	if cfg.LinkTimeout <= 0 {
		cfg.LinkTimeout = def.LinkTimeout
	}
	if cfg.Hysteresis.Rounds <= 0 {
		cfg.Hysteresis = def.Hysteresis
	}
	return &router{
		c: c, cfg: cfg, model: routing.DefaultModel(), kv: kv,
		log:  c.log.With("part", "routes"),
		kick: make(chan struct{}, 1), reports: map[string]receivedReport{},
	}
}

// start follows link reports; run then plans while this controller leads.
func (r *router) start() error {
	sub, err := r.c.opts.Bus.Subscribe(bus.AllLinkReports, r.onReport)
	if err != nil {
		return err
	}
	r.sub = sub
	return nil
}

func (r *router) stop() {
	if r.sub != nil {
		_ = r.sub.Unsubscribe()
	}
}

func (r *router) onReport(m *nats.Msg) {
	node := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	var rep bus.LinkReport
	err := errors.New("report too large")
	if len(m.Data) <= bus.MaxMessageBytes {
		if err = json.Unmarshal(m.Data, &rep); err == nil {
			err = checkReport(node, rep)
		}
	}
	if err == nil {
		if _, live := r.c.dir.Node(node); !live {
			// Not heard of yet (its first heartbeat may follow), or dead.
			r.log.Debug("link report from a node without heartbeats ignored", "node", node)
			return
		}
	}
	if err != nil {
		if r.rejected.Add(1)%100 == 1 {
			r.log.Warn("link report rejected", "subject", m.Subject, "err", err, "rejected_total", r.rejected.Load())
		}
		return
	}
	rr := receivedReport{rep: rep, at: time.Now(), peers: make(map[string]bus.LinkSample, len(rep.Links))}
	for _, l := range rep.Links {
		rr.peers[l.Peer] = l
	}
	r.mu.Lock()
	prev, had := r.reports[node]
	r.reports[node] = rr
	r.mu.Unlock()
	if had && upChanged(prev.peers, rr.peers) {
		r.wake() // a link died or came back: act at once
	}
}

func upChanged(a, b map[string]bus.LinkSample) bool {
	for peer, s := range b {
		if a[peer].Up != s.Up {
			return true
		}
	}
	for peer, s := range a {
		if _, ok := b[peer]; !ok && s.Up {
			return true
		}
	}
	return false
}

func (r *router) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// run plans at every RouteInterval while leading, and at once when the
// set of live nodes changes or a link goes up or down, as soon as the
// nodes may take a new version (see settled).
func (r *router) run(ctx context.Context) {
	t := time.NewTicker(min(r.cfg.RouteInterval, 100*time.Millisecond))
	defer t.Stop()
	due := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.kick:
			due = true
		}
		if !r.c.IsLeader() {
			r.resign()
			continue
		}
		nodes := relayNodes(r.c.dir.LiveNodes())
		set := nodeSet(nodes)
		due = due || set != r.lastSet || time.Since(r.lastPlan) >= r.cfg.RouteInterval
		behind := r.behind(nodes)
		if len(behind) > 0 && time.Since(r.lastPublish) >= r.cfg.RouteInterval/2 && time.Since(r.lastRepush) >= r.cfg.RouteInterval {
			r.lastRepush = time.Now()
			r.repush(ctx, behind)
		}
		if !due || !r.settled(behind) {
			continue
		}
		due = false
		r.lastSet, r.lastPlan = set, time.Now()
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		r.plan(pctx, nodes)
		cancel()
	}
}

// behind lists the nodes whose fresh reports say they run a version older
// than the newest.
func (r *router) behind(nodes []bus.NodeInfo) []string {
	if r.planner == nil {
		return nil
	}
	current := r.planner.Version()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range nodes {
		rep, ok := r.reports[n.ID]
		if ok && rep.rep.RoutesVersion != 0 && rep.rep.RoutesVersion < current && time.Since(rep.at) < r.cfg.LinkTimeout {
			out = append(out, n.ID)
		}
	}
	return out
}

// settled reports whether a new version may be made now. Tables stay
// loop-free while no node lags more than routing's Window versions behind
// the newest, so a version follows the previous one only once every node
// that reports its routes version has taken the previous one (none is
// behind), or after RouteInterval (a node that does not report it is
// assumed to take a pushed table well within that).
func (r *router) settled(behind []string) bool {
	return r.planner == nil || len(behind) == 0 || time.Since(r.lastPublish) >= r.cfg.RouteInterval
}

// repush sends nodes that missed the newest table (pushes are not
// acknowledged) the one stored in the bucket again.
func (r *router) repush(ctx context.Context, nodes []string) {
	for _, id := range nodes {
		e, err := r.kv.Get(ctx, bus.RoutesKey(id))
		if err != nil {
			continue
		}
		if err := r.c.opts.Bus.Conn().Publish(bus.NodeRoutesSubject(id), e.Value()); err == nil {
			r.log.Debug("routes pushed again", "node", id)
		}
	}
}

func nodeSet(nodes []bus.NodeInfo) string {
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID + "@" + n.Region
	}
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

// resign forgets the planner when this controller stops leading.
func (r *router) resign() {
	if r.planner == nil {
		return
	}
	r.planner, r.lastSet = nil, ""
	r.mu.Lock()
	r.tables = nil
	r.mu.Unlock()
}

// plan computes the tables and publishes them when they have a new
// version.
func (r *router) plan(ctx context.Context, nodes []bus.NodeInfo) {
	if r.planner == nil {
		r.planner = routing.NewPlanner(routing.Options{
			Model: r.model, Rounds: r.cfg.Hysteresis.Rounds,
			Margin: r.cfg.Hysteresis.Margin, MinGain: r.cfg.Hysteresis.MinGain,
		})
		pr := r.readPrior(ctx)
		r.planner.Seed(pr)
		r.log.Info("routing from the published tables", "version", pr.Version, "nodes", len(pr.Routes))
	}
	r.mu.Lock()
	reports := make(map[string]receivedReport, len(r.reports))
	var running uint64 // the highest version a node runs
	live := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		live[n.ID] = true
	}
	for id, rep := range r.reports {
		if live[id] {
			reports[id] = rep
			running = max(running, rep.rep.RoutesVersion)
		} else {
			delete(r.reports, id)
		}
	}
	r.mu.Unlock()
	if running > r.planner.Version() {
		// The stored tables were lost (a NATS restart without file
		// storage); nodes take only versions above the one they run.
		r.log.Warn("a node runs a routes version above the last published; renumbering", "running", running, "published", r.planner.Version())
		r.planner.Renumber(running)
	}
	g, _ := buildGraph(nodes, reports, r.cfg, r.model, time.Now(), false)
	tab, err := r.planner.Plan(g)
	if err != nil {
		r.log.Error("routing failed", "err", err)
		return
	}
	r.mu.Lock()
	r.tables = tab
	r.mu.Unlock()
	if !tab.NewVersion {
		return
	}
	r.logChanges(tab)
	r.lastPublish = time.Now()
	if err := r.publish(ctx, tab); err != nil {
		r.log.Warn("publishing routes failed", "version", tab.Version, "err", err)
	}
}

func (r *router) logChanges(tab *routing.Tables) {
	for i, ch := range tab.Changes {
		if i == maxLoggedChanges {
			r.log.Info("more route changes", "version", tab.Version, "not_logged", len(tab.Changes)-i)
			break
		}
		r.log.Info("route changed", "version", tab.Version, "source", ch.Source, "destination", ch.Destination,
			"from", ch.From, "to", ch.To, "reason", ch.Reason())
	}
	r.log.Info("routes published", "version", tab.Version, "nodes", len(tab.Nodes()),
		"changed", len(tab.Changes), "new", tab.NewRoutes, "held_back", tab.Held)
}

// lastPublished reads the version in bus.BucketRoutes so a new leader
// continues the numbering.
func (r *router) lastPublished(ctx context.Context) uint64 {
	e, err := r.kv.Get(ctx, bus.RoutesVersionKey)
	if err != nil {
		return 0
	}
	var v bus.RouteVersion
	if json.Unmarshal(e.Value(), &v) != nil {
		return 0
	}
	return v.Version
}

// readPrior reads the tables in bus.BucketRoutes (published by this or a
// previous leader), so a new leader keeps routes, numbering and loop
// freedom with the nodes still running them.
func (r *router) readPrior(ctx context.Context) routing.Prior {
	pr := routing.Prior{Version: r.lastPublished(ctx), Routes: map[string]map[string]routing.PriorRoute{}}
	for _, nr := range readNodeRoutes(ctx, r.kv) {
		pr.Version = max(pr.Version, nr.Version)
		routes := make(map[string]routing.PriorRoute, len(nr.Routes))
		for dst, rt := range nr.Routes {
			routes[dst] = routing.PriorRoute{NextHop: rt.NextHop, Cost: rt.Cost}
		}
		pr.Routes[nr.Node] = routes
	}
	return pr
}

// readNodeRoutes reads every node's table in bus.BucketRoutes; none
// before the first tables are published.
func readNodeRoutes(ctx context.Context, kv jetstream.KeyValue) []bus.NodeRoutes {
	lister, err := kv.ListKeysFiltered(ctx, bus.RoutesKey("*"))
	if err != nil {
		return nil
	}
	var out []bus.NodeRoutes
	for k := range lister.Keys() {
		e, err := kv.Get(ctx, k)
		var nr bus.NodeRoutes
		if err != nil || json.Unmarshal(e.Value(), &nr) != nil || nr.Node == "" {
			continue
		}
		out = append(out, nr)
	}
	return out
}

// publish writes every node's table to the bucket and pushes it to the
// node, then the version key; tables of nodes that left are deleted.
func (r *router) publish(ctx context.Context, tab *routing.Tables) error {
	now := time.Now().UTC()
	ids := tab.Nodes()
	in := make(map[string]bool, len(ids))
	var errs []error
	for _, id := range ids {
		in[id] = true
		nr := nodeRoutes(tab, id, now)
		data, err := json.Marshal(nr)
		if err != nil {
			return err
		}
		if _, err := r.kv.Put(ctx, bus.RoutesKey(id), data); err != nil {
			errs = append(errs, err)
		}
		if err := r.c.opts.Bus.Conn().Publish(bus.NodeRoutesSubject(id), data); err != nil {
			errs = append(errs, err)
		}
	}
	if lister, err := r.kv.ListKeysFiltered(ctx, bus.RoutesKey("*")); err == nil {
		for k := range lister.Keys() {
			if id := strings.TrimPrefix(k, bus.RoutesKey("")); !in[id] {
				_ = r.kv.Delete(ctx, k)
			}
		}
	}
	data, _ := json.Marshal(bus.RouteVersion{Version: tab.Version, ComputedAt: now, Nodes: ids})
	if _, err := r.kv.Put(ctx, bus.RoutesVersionKey, data); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// nodeRoutes is node id's table in tab.
func nodeRoutes(tab *routing.Tables, id string, at time.Time) bus.NodeRoutes {
	nr := bus.NodeRoutes{Version: tab.Version, Node: id, ComputedAt: at, Routes: map[string]bus.Route{}}
	for _, dst := range tab.Nodes() {
		rt, ok := tab.Route(id, dst)
		if !ok || rt.NextHop == "" {
			continue
		}
		br := bus.Route{NextHop: rt.NextHop, Cost: rt.Cost, Reason: rt.Reason}
		if rt.Alternate != "" {
			br.Alternate, br.AlternateCost, br.AlternateStrict = rt.Alternate, rt.AlternateCost, rt.AlternateStrict
		}
		nr.Routes[dst] = br
	}
	return nr
}

// startRoutes opens the routes bucket, follows link reports and starts
// the planning goroutine.
func (c *Controller) startRoutes(setupCtx, runCtx context.Context) error {
	kv, err := c.opts.Bus.KV(setupCtx, bus.BucketRoutes, 0)
	if err != nil {
		return err
	}
	c.routes = newRouter(c, c.opts.Relay, kv)
	if err := c.routes.start(); err != nil {
		return err
	}
	c.wg.Add(1)
	go func() { defer c.wg.Done(); c.routes.run(runCtx) }()
	return nil
}
