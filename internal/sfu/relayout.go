package sfu

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/rtcloud/rtcloud/internal/relay"
)

// demandTTL is how long a destination's demand lasts without a refresh;
// a destination refreshes every demandRefresh while it needs the stream.
const (
	demandTTL     = 3 * time.Second
	demandRefresh = 500 * time.Millisecond
)

// relayOut is the sink that sends a local track to the nodes that need
// it: for each simulcast layer, the destinations that asked for it,
// grouped by next hop so that each link carries one copy of each stream.
type relayOut struct {
	r  *relayNode
	up *upTrack

	mu     sync.Mutex
	demand map[string]demandEntry // destination node -> layers, last refresh

	plan     atomic.Pointer[relayPlan]
	reported time.Time // last layer report; the node's tick only
	// One packet per layer: each layer's read goroutine uses its own.
	pkts [maxLayers]relay.Packet
}

type demandEntry struct {
	layers uint8 // bit i: layer i
	at     time.Time
}

// relayPlan is, for each layer, the next hops and the destinations behind
// each; it is replaced whole when demand or routes change.
type relayPlan struct {
	layers [maxLayers][]hopGroup
}

func newRelayOut(r *relayNode, up *upTrack) *relayOut {
	o := &relayOut{r: r, up: up, demand: map[string]demandEntry{}}
	for i := range o.pkts {
		o.pkts[i] = relay.Packet{
			Type: relay.TypeMedia, Namespace: up.owner.Namespace, Room: up.owner.Room,
			Stream: relay.StreamID{Track: up.id, Layer: uint8(i)}, Origin: r.n.id,
		}
	}
	o.plan.Store(&relayPlan{})
	up.addSink(o)
	r.log.Info("relay output started", "track", up.id, "namespace", up.owner.Namespace, "room", up.owner.Room)
	return o
}

// forward implements sink: one Send per next hop of the layer's plan.
func (o *relayOut) forward(_ *upTrack, idx int, raw []byte, _ *rtp.Packet, _ bool, _ time.Time) {
	groups := o.plan.Load().layers[idx]
	if len(groups) == 0 {
		return
	}
	p := &o.pkts[idx]
	p.Payload = raw
	for i := range groups {
		p.Dests = groups[i].dests
		o.r.send(groups[i].next, p)
	}
	p.Payload, p.Dests = nil, nil
}

// setDemand sets dest's layers and returns the layers that no destination
// needed before (they want a keyframe).
func (o *relayOut) setDemand(dest string, layers uint8, now time.Time) uint8 {
	o.mu.Lock()
	var before uint8
	for _, e := range o.demand {
		before |= e.layers
	}
	old, had := o.demand[dest]
	if layers == 0 {
		delete(o.demand, dest)
	} else {
		o.demand[dest] = demandEntry{layers: layers, at: now}
	}
	o.mu.Unlock()
	if !had || old.layers != layers {
		o.r.log.Info("relay demand", "track", o.up.id, "dest", dest, "layers", layerList(layers),
			"next_hop", o.r.nextHop(dest), "reason", "destination has subscribers")
		o.replan()
	}
	return layers &^ before
}

// expire drops demand not refreshed within demandTTL; it reports whether
// no destination is left.
func (o *relayOut) expire(now time.Time) bool {
	o.mu.Lock()
	changed := false
	for dest, e := range o.demand {
		if now.Sub(e.at) > demandTTL {
			delete(o.demand, dest)
			changed = true
			o.r.log.Info("relay demand expired", "track", o.up.id, "dest", dest)
		}
	}
	empty := len(o.demand) == 0
	o.mu.Unlock()
	if changed {
		o.replan()
	}
	return empty
}

func (o *relayOut) empty() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.demand) == 0
}

// replan rebuilds the plan from the demand and the routing table.
func (o *relayOut) replan() {
	o.mu.Lock()
	dests := make([]string, 0, len(o.demand))
	for d := range o.demand {
		dests = append(dests, d)
	}
	slices.Sort(dests)
	pl := &relayPlan{}
	for _, d := range dests {
		next := o.r.nextHop(d)
		for i := range maxLayers {
			if o.demand[d].layers&(1<<i) != 0 {
				pl.layers[i] = addToGroup(pl.layers[i], next, d)
			}
		}
	}
	o.plan.Store(pl)
	o.mu.Unlock()
}

// destinations lists the destination nodes and their layers.
func (o *relayOut) destinations() map[string]uint8 {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string]uint8, len(o.demand))
	for d, e := range o.demand {
		out[d] = e.layers
	}
	return out
}

func layerList(mask uint8) []string {
	var out []string
	for i, name := range layerNames {
		if mask&(1<<i) != 0 {
			out = append(out, name)
		}
	}
	return out
}

// report tells every destination the state of the track's layers here
// (at most every demandRefresh); it runs on the node's tick.
func (o *relayOut) report(now time.Time) {
	if !o.up.simulcst || now.Sub(o.reported) < demandRefresh {
		return
	}
	o.reported = now
	usable := o.up.usableLayers()
	var mask uint8
	var rates [maxLayers]uint32
	for i, l := range o.up.layers {
		if usable[i] {
			mask |= 1 << i
		}
		rates[i] = uint32(min(l.bitrate.Load(), 1<<32-1))
	}
	var b [reportPktSize]byte
	payload := reportPacket(&b, mask, rates)
	for dest := range o.destinations() {
		p := relay.Packet{
			Type: relay.TypeFeedback, Namespace: o.up.owner.Namespace, Room: o.up.owner.Room,
			Stream: relay.StreamID{Track: o.up.id}, Origin: dest, Dests: []string{o.r.n.id}, Payload: payload,
		}
		o.r.send(o.r.nextHop(dest), &p)
	}
}
