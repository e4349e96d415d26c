package placement

import (
	"errors"
	"strings"
	"testing"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/geoip"
)

func node(id, region string, participants, capacity int) bus.NodeInfo {
	return bus.NodeInfo{ID: id, Region: region, Capacity: capacity, Load: bus.NodeLoad{Participants: participants}}
}

func TestLeastLoaded(t *testing.T) {
	nodes := []bus.NodeInfo{
		node("full", "eu", 10, 10),
		node("busy", "eu", 8, 10),
		node("idle", "us", 1, 10),
		{ID: "draining", Draining: true},
		{ID: "hot", Capacity: 10, Load: bus.NodeLoad{Participants: 0, CPU: 0.95}},
	}
	d, err := LeastLoaded{}.Place(Request{}, nodes)
	if err != nil || d.Node.ID != "idle" {
		t.Fatalf("Place = %q, %v; want idle", d.Node.ID, err)
	}
	if !strings.Contains(d.Reason, "1/10 participants") {
		t.Errorf("reason %q does not tell the load", d.Reason)
	}
	if _, err := (LeastLoaded{}).Place(Request{}, nodes[:1]); !errors.Is(err, ErrNoNode) {
		t.Fatalf("only a full node: %v, want ErrNoNode", err)
	}
	if _, err := (LeastLoaded{}).Place(Request{}, nil); !errors.Is(err, ErrNoNode) {
		t.Fatalf("no nodes: %v, want ErrNoNode", err)
	}
}

func TestNearest(t *testing.T) {
	nodes := []bus.NodeInfo{
		node("eu-1", "eu", 5, 10),
		node("eu-2", "eu", 2, 10),
		node("us-1", "us", 0, 10),
		{ID: "ap-isp", Region: "ap", ISP: "fiber", Capacity: 10, Load: bus.NodeLoad{Participants: 4}},
		node("ap-1", "ap", 1, 10),
		node("sa-full", "sa", 10, 10),
	}
	cases := []struct {
		loc    geoip.Location
		want   string
		reason string
	}{
		{geoip.Location{Region: "eu"}, "eu-2", "region eu matches"},
		{geoip.Location{Region: "us"}, "us-1", "region us matches"},
		{geoip.Location{Region: "ap", ISP: "fiber"}, "ap-isp", "ISP fiber match"},
		{geoip.Location{Region: "ap"}, "ap-1", "region ap matches"},
		{geoip.Location{Region: "sa"}, "us-1", "no node with capacity in client region sa"},
		{geoip.Location{}, "us-1", "location unknown"},
	}
	for _, c := range cases {
		d, err := Nearest{}.Place(Request{Location: c.loc}, nodes)
		if err != nil || d.Node.ID != c.want || !strings.Contains(d.Reason, c.reason) {
			t.Errorf("%+v: %q %q %v; want %q with %q", c.loc, d.Node.ID, d.Reason, err, c.want, c.reason)
		}
	}
	if _, err := (Nearest{}).Place(Request{}, []bus.NodeInfo{{ID: "d", Draining: true}}); !errors.Is(err, ErrNoNode) {
		t.Fatalf("only draining: %v, want ErrNoNode", err)
	}
}

func TestSameNode(t *testing.T) {
	p := SameNode{First: Nearest{}}
	nodes := []bus.NodeInfo{node("eu-1", "eu", 0, 10), node("us-1", "us", 5, 10), {ID: "drain", Region: "us", Draining: true}, node("full", "us", 3, 3)}
	// The first client decides by its location.
	d, err := p.Place(Request{Location: geoip.Location{Region: "us"}}, nodes)
	if err != nil || d.Node.ID != "us-1" || !strings.HasPrefix(d.Reason, "first client") {
		t.Fatalf("first = %q %q %v", d.Node.ID, d.Reason, err)
	}
	// Later clients follow the room, wherever they are.
	d, err = p.Place(Request{RoomNode: "us-1", Location: geoip.Location{Region: "eu"}}, nodes)
	if err != nil || d.Node.ID != "us-1" || !strings.Contains(d.Reason, "room already on node us-1") {
		t.Fatalf("follower = %q %q %v", d.Node.ID, d.Reason, err)
	}
	// A room on a draining node stays there; a full node takes nobody.
	if d, err := p.Place(Request{RoomNode: "drain"}, nodes); err != nil || d.Node.ID != "drain" {
		t.Fatalf("draining room node = %q %v", d.Node.ID, err)
	}
	if _, err := p.Place(Request{RoomNode: "full"}, nodes); !errors.Is(err, ErrRoomFull) {
		t.Fatalf("full room node: %v, want ErrRoomFull", err)
	}
	// With the relay the room grows onto the next best node.
	grow := SameNode{First: p.First, Grow: true}
	if d, err := grow.Place(Request{RoomNode: "full", Location: geoip.Location{Region: "eu"}}, nodes); err != nil || d.Node.ID != "eu-1" ||
		!strings.Contains(d.Reason, "grows onto") {
		t.Fatalf("full room node with the relay = %q %q %v", d.Node.ID, d.Reason, err)
	}
	// The room's node is gone (not among the live nodes): place afresh.
	if d, err := p.Place(Request{RoomNode: "dead", Location: geoip.Location{Region: "eu"}}, nodes); err != nil || d.Node.ID != "eu-1" {
		t.Fatalf("dead room node = %q %v", d.Node.ID, err)
	}
}

func TestPinned(t *testing.T) {
	rules := map[string][2][]string{
		"gold":    {{"gold"}, nil},
		"euonly":  {nil, {"eu"}},
		"both":    {{"gold"}, {"us"}},
		"nowhere": {nil, {"mars"}},
	}
	p := Pinned{
		Pools: map[string][]string{"gold": {"gold-*"}},
		Allowed: func(ns string) ([]string, []string) {
			r := rules[ns]
			return r[0], r[1]
		},
		Next: LeastLoaded{},
	}
	nodes := []bus.NodeInfo{node("plain-1", "eu", 0, 10), node("gold-eu", "eu", 5, 10), node("gold-us", "us", 6, 10), node("plain-us", "us", 1, 10)}
	cases := map[string]string{"free": "plain-1", "gold": "gold-eu", "euonly": "plain-1", "both": "gold-us"}
	for ns, want := range cases {
		d, err := p.Place(Request{Namespace: ns}, nodes)
		if err != nil || d.Node.ID != want {
			t.Errorf("%s: %q %v, want %q", ns, d.Node.ID, err, want)
		}
		if ns != "free" && !strings.Contains(d.Reason, "namespace "+ns+" pinned") {
			t.Errorf("%s: reason %q does not mention the pin", ns, d.Reason)
		}
	}
	if _, err := p.Place(Request{Namespace: "nowhere"}, nodes); !errors.Is(err, ErrNoNode) {
		t.Fatalf("nowhere: %v, want ErrNoNode", err)
	}
	full := []bus.NodeInfo{node("gold-eu", "eu", 10, 10), node("plain-1", "eu", 0, 10)}
	if _, err := p.Place(Request{Namespace: "gold"}, full); !errors.Is(err, ErrNoNode) {
		t.Fatalf("pool full: %v, want ErrNoNode (never spill out of the pool)", err)
	}
}
