package dashboard

import (
	"github.com/rtcloud/rtcloud/internal/version"
	"sort"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/controller"
)

// Node states.
const (
	stateLive     = "live"
	stateDraining = "draining"
	stateDead     = "dead" // heard within the history window, not any more
)

// overview is the whole picture a viewer may see, sent on every change.
type overview struct {
	Controller string        `json:"controller"`
	Version    string        `json:"version"` // of the controller serving the page
	Leader     string        `json:"leader"`
	Viewer     viewer        `json:"viewer"`
	Totals     totals        `json:"totals"`
	Regions    []regionNodes `json:"regions"`
	Rooms      []roomSummary `json:"rooms"`
	Namespaces []string      `json:"namespaces"`
}

type totals struct {
	Nodes        int    `json:"nodes"`
	LiveNodes    int    `json:"live_nodes"`
	Rooms        int    `json:"rooms"`
	Participants int    `json:"participants"`
	Tracks       int    `json:"tracks"`
	BitsInPerS   uint64 `json:"bits_in_per_s"`
	BitsOutPerS  uint64 `json:"bits_out_per_s"`
	Capacity     int    `json:"capacity"`
}

type regionNodes struct {
	Region string     `json:"region"`
	Nodes  []nodeCard `json:"nodes"`
}

type nodeCard struct {
	controller.NodeStatus
	State string `json:"state"`
	// RoomsHere are the rooms (namespace/room) with participants here.
	RoomsHere []string `json:"rooms_here"`
	// RelayLinks and RelayUp count the relay links the node reports, and
	// those up (0 and 0 without a relay).
	RelayLinks int `json:"relay_links"`
	RelayUp    int `json:"relay_up"`
}

type roomSummary struct {
	Namespace    string         `json:"namespace"`
	Room         string         `json:"room"`
	NodeID       string         `json:"node_id,omitempty"`
	CreatedAt    time.Time      `json:"created_at,omitzero"`
	Participants int            `json:"participants"`
	Nodes        map[string]int `json:"nodes"` // node id -> participants there
	// Egress counts the room's running egresses (recordings, streams).
	Egress int `json:"egress"`
}

// overview builds what v sees: every namespace for operators, one for
// tenants (who see no node loads).
func (d *Dashboard) overview(v viewer) overview {
	o := overview{Controller: d.opts.Cluster.ID(), Version: version.String(), Leader: d.opts.Cluster.Leader(), Viewer: v,
		Regions: []regionNodes{}, Rooms: []roomSummary{}, Namespaces: []string{}}
	rooms := d.roomSummaries(v)
	nsSeen := map[string]bool{}
	roomsOn := map[string][]string{}
	for _, r := range rooms {
		o.Totals.Rooms++
		o.Totals.Participants += r.Participants
		if !nsSeen[r.Namespace] {
			nsSeen[r.Namespace] = true
			o.Namespaces = append(o.Namespaces, r.Namespace)
		}
		for n := range r.Nodes {
			roomsOn[n] = append(roomsOn[n], r.Namespace+"/"+r.Room)
		}
	}
	o.Rooms = rooms
	sort.Strings(o.Namespaces)
	if !v.Operator {
		return o
	}
	// Rooms are counted once however many nodes they span.
	o.Totals = totals{Rooms: len(rooms)}
	byRegion := map[string][]nodeCard{}
	live := map[string]bool{}
	links := map[string][2]int{} // node -> links, up
	for _, r := range d.links.fresh(time.Now()) {
		for _, l := range r.Links {
			c := links[r.NodeID]
			c[0]++
			if l.Up {
				c[1]++
			}
			links[r.NodeID] = c
		}
	}
	for _, n := range d.opts.Cluster.Nodes() {
		live[n.ID] = true
		st := stateLive
		if n.Draining {
			st = stateDraining
		}
		byRegion[n.Region] = append(byRegion[n.Region], nodeCard{NodeStatus: n, State: st, RoomsHere: roomsOn[n.ID],
			RelayLinks: links[n.ID][0], RelayUp: links[n.ID][1]})
		o.Totals.LiveNodes++
		o.Totals.Participants += n.Load.Participants
		o.Totals.Tracks += n.Load.Tracks
		o.Totals.BitsInPerS += n.Load.BitsInPerS
		o.Totals.BitsOutPerS += n.Load.BitsOutPerS
		o.Totals.Capacity += n.Capacity
	}
	for id, s := range d.hist.recent() {
		if !live[id] {
			n := s.last
			n.Load = bus.NodeLoad{}
			byRegion[n.Region] = append(byRegion[n.Region], nodeCard{NodeStatus: controller.NodeStatus{NodeInfo: n}, State: stateDead})
		}
	}
	for region, nodes := range byRegion {
		sort.Slice(nodes, func(i, j int) bool { return nodes[i].ID < nodes[j].ID })
		o.Regions = append(o.Regions, regionNodes{Region: region, Nodes: nodes})
		o.Totals.Nodes += len(nodes)
	}
	sort.Slice(o.Regions, func(i, j int) bool { return o.Regions[i].Region < o.Regions[j].Region })
	return o
}

// roomSummaries lists the rooms v may see with their participants per
// node, from the rooms and sessions buckets.
func (d *Dashboard) roomSummaries(v viewer) []roomSummary {
	byKey := map[string]*roomSummary{}
	get := func(ns, room string) *roomSummary {
		k := bus.RoomKey(ns, room)
		if r := byKey[k]; r != nil {
			return r
		}
		r := &roomSummary{Namespace: ns, Room: room, Nodes: map[string]int{}}
		byKey[k] = r
		return r
	}
	for _, rec := range d.rooms.values() {
		if v.sees(rec.Namespace) {
			r := get(rec.Namespace, rec.Room)
			r.NodeID, r.CreatedAt = rec.NodeID, rec.CreatedAt
		}
	}
	for _, s := range d.sessions.values() {
		if v.sees(s.Namespace) && s.Room != "" {
			r := get(s.Namespace, s.Room)
			r.Participants++
			r.Nodes[s.NodeID]++
		}
	}
	for _, e := range d.egress.values() {
		if !e.Final() && v.sees(e.Namespace) {
			if r := byKey[bus.RoomKey(e.Namespace, e.Room)]; r != nil {
				r.Egress++
			}
		}
	}
	out := make([]roomSummary, 0, len(byKey))
	for _, r := range byKey {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Room < out[j].Room
	})
	return out
}
