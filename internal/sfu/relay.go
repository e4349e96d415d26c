package sfu

import (
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/relay"
)

// relayTransport is what the node needs of relay.Transport.
type relayTransport interface {
	Send(nextHop string, p *relay.Packet) error
	SetPeer(nodeID string, addr netip.AddrPort)
	RemovePeer(nodeID string)
	Links() []relay.LinkStats
	Addr() netip.AddrPort
	Close() error
}

// Reasons a relay packet is dropped by the node (the transport counts its
// own: authentication, replay, hop limit, malformed).
const (
	dropUnknownStream = "unknown_stream"
	dropNamespace     = "wrong_namespace"
	dropNoRoute       = "no_route"
	dropSend          = "send_failed"
	dropBadFeedback   = "bad_feedback"
)

// relayNode is a node's side of the relay: its transport, its peers (from
// their heartbeats), its routing table (pushed by the controller), the
// local streams it sends to other nodes (outs) and the remote streams it
// receives (ins). Lock order: relayNode.mu before nothing else; no
// callback runs under it.
type relayNode struct {
	n   *Node
	t   relayTransport
	log *slog.Logger

	routes atomic.Pointer[bus.NodeRoutes]
	down   atomic.Pointer[map[string]bool]     // peers whose link is down (copy on write)
	ins    atomic.Pointer[map[string]*relayIn] // track id -> ingress (copy on write)
	rep    repairState                         // fast local repair (repair.go)

	mu    sync.Mutex
	peers map[string]peer          // every other node heard from
	outs  map[*upTrack]*relayOut   // local (or held) tracks sent to other nodes
	kfAt  map[relay.StreamID]int64 // transit keyframe request throttle, unix nanos
	wantR map[string]*roomWatch    // rooms with ingress tracks, by room key

	// Scratch of the transport's single receive goroutine.
	groups []hopGroup
	fwd    relay.Packet
	pkt    rtp.Packet

	drops     *prometheus.CounterVec
	forwarded prometheus.Counter
	tapped    prometheus.Counter
}

type peer struct {
	info bus.NodeInfo
	seen time.Time
	addr netip.AddrPort
}

// hopGroup is the destinations a packet reaches through one next hop.
type hopGroup struct {
	next  string
	dests []string
}

// peerDeadAfter is how long a silent node stays a relay peer.
const peerDeadAfter = 3 * time.Second

func newRelayNode(n *Node, t relayTransport) *relayNode {
	r := &relayNode{
		n: n, t: t, log: n.log.With("component", "relay"),
		peers: map[string]peer{}, outs: map[*upTrack]*relayOut{}, kfAt: map[relay.StreamID]int64{},
		wantR: map[string]*roomWatch{},
	}
	empty := map[string]*relayIn{}
	r.ins.Store(&empty)
	noneDown := map[string]bool{}
	r.down.Store(&noneDown)
	labels := prometheus.Labels{"node": n.id}
	r.initRepair(labels)
	r.drops = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rtcloud_sfu_relay_dropped_total", ConstLabels: labels,
		Help: "Relay packets the node dropped after the transport accepted them, by reason.",
	}, []string{"reason"})
	for _, reason := range []string{dropUnknownStream, dropNamespace, dropNoRoute, dropSend, dropBadFeedback} {
		r.drops.WithLabelValues(reason)
	}
	r.forwarded = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rtcloud_sfu_relay_transit_packets_total", ConstLabels: labels,
		Help: "Relay packets this node passed on towards other nodes (one per next hop).",
	})
	r.tapped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rtcloud_sfu_relay_tapped_packets_total", ConstLabels: labels,
		Help: "Relay media packets delivered to this node's own subscribers.",
	})
	n.metrics.Registry.MustRegister(r.drops, r.forwarded, r.tapped,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rtcloud_sfu_relay_streams_out", ConstLabels: labels,
			Help: "Local streams this node sends to other nodes over the relay.",
		}, func() float64 { r.mu.Lock(); defer r.mu.Unlock(); return float64(len(r.outs)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rtcloud_sfu_relay_streams_in", ConstLabels: labels,
			Help: "Remote streams this node receives over the relay for its subscribers.",
		}, func() float64 { return float64(len(*r.ins.Load())) }))
	return r
}

// relayAddr is the address other nodes reach this node's relay on.
func (r *relayNode) relayAddr() string {
	port := int(r.t.Addr().Port())
	ips := r.n.mux.AdvertiseIPs()
	ip := "127.0.0.1"
	if len(ips) > 0 {
		ip = ips[0]
	}
	return net.JoinHostPort(ip, strconv.Itoa(port))
}

// observe records a heartbeat of another node and makes it a relay peer.
func (r *relayNode) observe(info bus.NodeInfo, now time.Time) {
	if info.ID == r.n.id {
		return
	}
	var addr netip.AddrPort
	if info.RelayAddr != "" {
		a, err := netip.ParseAddrPort(info.RelayAddr)
		if err != nil {
			r.log.Debug("peer with a bad relay address", "peer", info.ID, "addr", info.RelayAddr)
		} else {
			addr = a
		}
	}
	r.mu.Lock()
	old, known := r.peers[info.ID]
	r.peers[info.ID] = peer{info: info, seen: now, addr: addr}
	r.mu.Unlock()
	if addr.IsValid() && (!known || old.addr != addr) {
		r.t.SetPeer(info.ID, addr)
		r.log.Info("relay peer", "peer", info.ID, "addr", addr, "region", info.Region)
	}
}

// expirePeers forgets nodes silent for peerDeadAfter.
func (r *relayNode) expirePeers(now time.Time) {
	var gone []string
	r.mu.Lock()
	for id, p := range r.peers {
		if now.Sub(p.seen) > peerDeadAfter {
			delete(r.peers, id)
			gone = append(gone, id)
		}
	}
	r.mu.Unlock()
	for _, id := range gone {
		r.t.RemovePeer(id)
		r.log.Info("relay peer gone", "peer", id)
	}
}

// peerIDs lists the other live nodes.
func (r *relayNode) peerIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.peers))
	for id := range r.peers {
		out = append(out, id)
	}
	return out
}

// setRoutes applies a routing table newer than the one in use.
func (r *relayNode) setRoutes(nr bus.NodeRoutes) {
	if nr.Node != r.n.id {
		return
	}
	for {
		cur := r.routes.Load()
		if cur != nil && cur.Version >= nr.Version {
			return
		}
		if r.routes.CompareAndSwap(cur, &nr) {
			break
		}
	}
	r.log.Info("routing table", "version", nr.Version, "routes", len(nr.Routes))
	r.updateRepairs("routing table version " + strconv.FormatUint(nr.Version, 10))
	for _, o := range r.outputs() {
		o.replan()
	}
}

// outputs returns the relay outputs, to work on outside r.mu.
func (r *relayNode) outputs() []*relayOut {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Collect(maps.Values(r.outs))
}

// routesVersion is the version of the table in use (0: none).
func (r *relayNode) routesVersion() uint64 {
	if rt := r.routes.Load(); rt != nil {
		return rt.Version
	}
	return 0
}

// nextHop is the neighbour towards dest: the routing table's choice, or
// while the link to that choice is down its local repair (the alternate or
// the direct link, repair.go), or the direct link when the table has none.
func (r *relayNode) nextHop(dest string) string {
	if rt := r.routes.Load(); rt != nil {
		if route, ok := rt.Routes[dest]; ok && route.NextHop != "" {
			if hop, ok := r.repaired(rt, dest); ok {
				return hop
			}
			return route.NextHop
		}
	}
	return dest
}

// linkState records a link going up or down (relay.Config.OnLinkState)
// and re-plans the outputs, so a dead next hop is routed around at once.
func (r *relayNode) linkState(peer string, up bool) {
	r.mu.Lock()
	next := map[string]bool{}
	for k, v := range *r.down.Load() {
		next[k] = v
	}
	if up {
		delete(next, peer)
	} else {
		next[peer] = true
	}
	r.down.Store(&next)
	r.mu.Unlock()
	r.log.Info("relay link state", "peer", peer, "up", up)
	r.updateRepairs(linkTrigger(peer, up))
	for _, o := range r.outputs() {
		o.replan()
	}
}

func (r *relayNode) drop(reason string) { r.drops.WithLabelValues(reason).Inc() }

// send passes p to next, counting a refusal.
func (r *relayNode) send(next string, p *relay.Packet) {
	if err := r.t.Send(next, p); err != nil {
		r.drop(dropSend)
	}
}

// HandleRelay implements relay.Handler: it runs on the transport's
// receive goroutine.
func (r *relayNode) HandleRelay(from string, p *relay.Packet) {
	switch p.Type {
	case relay.TypeMedia:
		r.onMedia(from, p)
	case relay.TypeFeedback:
		r.onFeedback(from, p)
	}
}

// onMedia taps a media packet for this node's subscribers when the node
// is one of its destinations and passes it on, one copy per next hop,
// each with the destinations behind that hop.
func (r *relayNode) onMedia(from string, p *relay.Packet) {
	self := r.n.id
	tap := false
	r.groups = r.groups[:0]
	for _, d := range p.Dests {
		if d == self {
			tap = true
			continue
		}
		next := r.nextHop(d)
		if next == from || next == self {
			r.drop(dropNoRoute)
			continue
		}
		r.groups = addToGroup(r.groups, next, d)
	}
	for i := range r.groups {
		r.fwd = *p
		r.fwd.Dests = r.groups[i].dests
		r.send(r.groups[i].next, &r.fwd)
		r.forwarded.Inc()
	}
	if !tap {
		return
	}
	in := (*r.ins.Load())[p.Stream.Track]
	switch {
	case in == nil:
		r.drop(dropUnknownStream)
	case in.up.owner.Namespace != p.Namespace || in.up.owner.Room != p.Room || in.feeder() != p.Origin:
		r.drop(dropNamespace)
	case int(p.Stream.Layer) >= maxLayers:
		r.drop(dropUnknownStream)
	default:
		r.tapped.Inc()
		in.deliver(int(p.Stream.Layer), p.Payload, &r.pkt)
	}
}

// addToGroup adds dest to the group of next, reusing the groups' memory.
func addToGroup(groups []hopGroup, next, dest string) []hopGroup {
	for i := range groups {
		if groups[i].next == next {
			groups[i].dests = append(groups[i].dests, dest)
			return groups
		}
	}
	if len(groups) < cap(groups) {
		groups = groups[:len(groups)+1]
		g := &groups[len(groups)-1]
		g.next, g.dests = next, append(g.dests[:0], dest)
		return groups
	}
	return append(groups, hopGroup{next: next, dests: []string{dest}})
}

// onFeedback handles feedback that reached the stream's origin, or passes
// it on towards the origin, one hop at a time.
func (r *relayNode) onFeedback(from string, p *relay.Packet) {
	if p.Origin != r.n.id {
		next := r.nextHop(p.Origin)
		if next == from || next == r.n.id {
			r.drop(dropNoRoute)
			return
		}
		if r.throttled(p) {
			return
		}
		r.fwd = *p
		r.send(next, &r.fwd)
		r.forwarded.Inc()
		return
	}
	if len(p.Dests) != 1 {
		r.drop(dropBadFeedback)
		return
	}
	r.n.mu.Lock()
	up := r.n.tracks[p.Stream.Track]
	r.n.mu.Unlock()
	switch {
	case up == nil || up.closed.Load():
		r.drop(dropUnknownStream)
		return
	case up.owner.Namespace != p.Namespace || up.owner.Room != p.Room:
		r.drop(dropNamespace)
		return
	}
	// up is a local track, or a relayed one this node holds and passes on.
	fb, err := parseFeedback(p.Payload)
	if err != nil {
		r.drop(dropBadFeedback)
		return
	}
	if fb.report {
		// Layer state from the feeder of a track received here.
		if in := r.ingressOf(up); in != nil && in.feeder() == p.Dests[0] {
			in.applyReport(fb.usable, fb.bitrates)
		}
		return
	}
	if fb.demand {
		r.demand(up, p.Dests[0], fb.layers)
	}
	if fb.keyframe && int(p.Stream.Layer) < maxLayers {
		up.requestKeyframe(int(p.Stream.Layer))
	}
}

// throttled reports whether p is a keyframe request for a stream this
// hop passed one on for within keyframeMinGap: several destinations
// behind this hop asking at once reach the origin as one request.
func (r *relayNode) throttled(p *relay.Packet) bool {
	fb, err := parseFeedback(p.Payload)
	if err != nil || !fb.keyframe || fb.demand || fb.report {
		return false
	}
	now := time.Now().UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	if now-r.kfAt[p.Stream] < int64(keyframeMinGap) {
		return true
	}
	if len(r.kfAt) > 4096 {
		clear(r.kfAt) // a bound, not a cache policy: entries matter for 300 ms
	}
	r.kfAt[p.Stream] = now
	return false
}

// ingressOf returns the ingress whose track is up, or nil for a local
// track.
func (r *relayNode) ingressOf(up *upTrack) *relayIn {
	in := (*r.ins.Load())[up.id]
	if in != nil && in.up == up {
		return in
	}
	return nil
}

// demand records that dest needs the layers in mask of up (0: none).
func (r *relayNode) demand(up *upTrack, dest string, mask uint8) {
	r.mu.Lock()
	o := r.outs[up]
	if o == nil && mask != 0 {
		o = newRelayOut(r, up)
		r.outs[up] = o
	}
	r.mu.Unlock()
	if o == nil {
		return
	}
	added := o.setDemand(dest, mask, time.Now())
	for i := range maxLayers {
		if added&(1<<i) != 0 {
			up.requestKeyframe(i)
		}
	}
}

// maintain runs on the node's tick: it expires stale demand, refreshes
// this node's own demand for the remote streams it receives and drops
// the ingress tracks nobody here watches any more.
func (r *relayNode) maintain(now time.Time) {
	r.expirePeers(now)
	for _, o := range r.outputs() {
		o.report(now)
		if o.expire(now) {
			r.mu.Lock()
			if r.outs[o.up] == o && o.empty() {
				delete(r.outs, o.up)
				o.up.removeSink(o)
				r.log.Info("relay output stopped", "track", o.up.id, "reason", "no destination needs it")
			}
			r.mu.Unlock()
		}
	}
	for _, in := range *r.ins.Load() {
		if in.refresh(now) {
			r.removeIngress(in, "no subscriber on this node")
		}
	}
}

// close stops the transport.
func (r *relayNode) close() {
	r.mu.Lock()
	watches := make([]*roomWatch, 0, len(r.wantR))
	for _, w := range r.wantR {
		watches = append(watches, w)
	}
	r.wantR = map[string]*roomWatch{}
	r.mu.Unlock()
	for _, w := range watches {
		w.stop()
	}
	if err := r.t.Close(); err != nil {
		r.log.Debug("close relay", "err", err)
	}
}

// links reports the link stats as a bus.LinkReport.
func (r *relayNode) linkReport(now time.Time) bus.LinkReport {
	rep := bus.LinkReport{NodeID: r.n.id, SentAt: now, RoutesVersion: r.routesVersion(), Links: []bus.LinkSample{}}
	for _, l := range r.t.Links() {
		rep.Links = append(rep.Links, bus.LinkSample{
			Peer: l.Peer, RTTMs: float64(l.RTT) / float64(time.Millisecond), Loss: l.LossIn,
			JitterMs: float64(l.Jitter) / float64(time.Millisecond), Up: l.Up, SampledAt: now,
		})
	}
	return rep
}

func errRelay(format string, args ...any) error { return fmt.Errorf("sfu: relay: "+format, args...) }
