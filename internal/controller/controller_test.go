package controller

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

func threeRegions(t *testing.T, url string) map[string]*fakeNode {
	return map[string]*fakeNode{
		"eu": startNode(t, url, bus.NodeInfo{ID: "eu-1", Region: "eu", Capacity: 100, PublicIPs: []string{"127.0.0.1"}, MediaPort: 7801}),
		"us": startNode(t, url, bus.NodeInfo{ID: "us-1", Region: "us", Capacity: 100, PublicIPs: []string{"127.0.0.1"}, MediaPort: 7802}),
		"ap": startNode(t, url, bus.NodeInfo{ID: "ap-1", Region: "ap", Capacity: 100, PublicIPs: []string{"127.0.0.1"}, MediaPort: 7803}),
	}
}

func TestPlacementByRegion(t *testing.T) {
	url := startNATS(t)
	c1 := startController(t, url, testConfig(), 1)
	c2 := startController(t, url, testConfig(), 1)
	threeRegions(t, url)
	waitNodes(t, c1, 3)
	waitNodes(t, c2, 3)

	// Nearest: each client on its region's node, whichever controller answers.
	for _, tc := range []struct{ ip, node string }{{"10.1.0.7", "eu-1"}, {"10.2.9.9", "us-1"}, {"10.3.1.1", "ap-1"}} {
		for _, c := range []*instance{c1, c2} {
			a, code := allocate(t, c.url, "near", "r1", tc.ip)
			if code != http.StatusOK || a.Node.ID != tc.node || a.Client.Region == "" || !strings.Contains(a.Reason, "matches the node") {
				t.Fatalf("nearest %s via %s: %d %+v, want %s", tc.ip, c.ID(), code, a, tc.node)
			}
		}
	}
	// Same-node: the first client picks by region, the rest follow the room.
	a, _ := allocate(t, c1.url, "default", "talk", "10.2.0.1")
	if a.Node.ID != "us-1" || a.Policy != "same-node" {
		t.Fatalf("first client of talk: %+v", a)
	}
	b, _ := allocate(t, c2.url, "default", "talk", "10.1.0.1")
	if b.Node.ID != "us-1" || !strings.Contains(b.Reason, "room already on node us-1") {
		t.Fatalf("second client of talk: %+v", b)
	}
	// The bus answers like HTTP (the signaling server asks on every join).
	var viaBus bus.Allocation
	if err := connect(t, url, 1).Request(context.Background(), bus.ControllerAllocate,
		bus.AllocateRequest{Namespace: "default", Room: "talk", ClientIP: "10.3.0.1"}, &viaBus); err != nil || viaBus.Node.ID != "us-1" {
		t.Fatalf("bus allocate: %+v %v", viaBus, err)
	}
	err := connect(t, url, 1).Request(context.Background(), bus.ControllerAllocate, bus.AllocateRequest{Namespace: "a.b", Room: "x"}, nil)
	if !bus.IsCode(err, bus.CodeBadRequest) {
		t.Fatalf("bus allocate with bad namespace: %v, want bad_request", err)
	}
}

func TestConcurrentFirstClientsAgree(t *testing.T) {
	url := startNATS(t)
	cs := []*instance{startController(t, url, testConfig(), 1), startController(t, url, testConfig(), 1)}
	threeRegions(t, url)
	for _, c := range cs {
		waitNodes(t, c, 3)
	}
	ips := []string{"10.1.0.1", "10.2.0.1", "10.3.0.1", "10.1.0.2", "10.2.0.2", "10.3.0.2"}
	got := make([]string, len(ips))
	var wg sync.WaitGroup
	for i, ip := range ips {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := cs[i%2].Allocate(context.Background(), bus.AllocateRequest{Namespace: "default", Room: "race", ClientIP: ip}, "test")
			if err == nil {
				got[i] = p.Node.ID
			}
		}()
	}
	wg.Wait()
	for _, g := range got {
		if g == "" || g != got[0] {
			t.Fatalf("clients of one same-node room landed on %v", got)
		}
	}
}

func TestPlacementByLoad(t *testing.T) {
	url := startNATS(t)
	c := startController(t, url, testConfig(), 1)
	startNode(t, url, bus.NodeInfo{ID: "eu-full", Region: "eu", Capacity: 10, Load: bus.NodeLoad{Participants: 10}})
	startNode(t, url, bus.NodeInfo{ID: "eu-busy", Region: "eu", Capacity: 10, Load: bus.NodeLoad{Participants: 7}})
	startNode(t, url, bus.NodeInfo{ID: "eu-idle", Region: "eu", Capacity: 10, Load: bus.NodeLoad{Participants: 1}})
	waitNodes(t, c, 3)
	for i, room := range []string{"a", "b", "c"} {
		a, code := allocate(t, c.url, "default", room, "10.1.0.1")
		if code != http.StatusOK || a.Node.ID != "eu-idle" {
			t.Fatalf("room %d: %d %+v, want eu-idle", i, code, a)
		}
	}
	// Only full nodes left: 503 with a JSON error.
	var e errorJSON
	if code := call(t, "GET", c.url+"/v1/allocate?room=x&ip=10.1.0.1&namespace=acme", "", &e); code != http.StatusServiceUnavailable || e.Error.Code != bus.CodeUnavailable {
		t.Fatalf("acme (no gold nodes): %d %+v", code, e)
	}
}

func TestPlacementByNamespacePool(t *testing.T) {
	url := startNATS(t)
	c := startController(t, url, testConfig(), 1)
	startNode(t, url, bus.NodeInfo{ID: "plain-1", Region: "eu", Capacity: 10})
	startNode(t, url, bus.NodeInfo{ID: "gold-1", Region: "us", Capacity: 10, Load: bus.NodeLoad{Participants: 8}})
	waitNodes(t, c, 2)
	a, _ := allocate(t, c.url, "acme", "board", "10.1.0.1")
	if a.Node.ID != "gold-1" || !strings.Contains(a.Reason, "pinned to pools gold") {
		t.Fatalf("acme: %+v, want gold-1", a)
	}
	b, _ := allocate(t, c.url, "default", "board", "10.1.0.1")
	if b.Node.ID != "plain-1" {
		t.Fatalf("default: %+v, want plain-1", b)
	}
}

func TestDeadNodeExcludedWithin3s(t *testing.T) {
	url := startNATS(t)
	c := startController(t, url, testConfig(), 1)
	nodes := threeRegions(t, url)
	waitNodes(t, c, 3)
	a, _ := allocate(t, c.url, "default", "room", "10.1.0.1")
	if a.Node.ID != "eu-1" {
		t.Fatalf("placed on %s", a.Node.ID)
	}
	testenv.WaitFor(t, 5*time.Second, "leader", c.IsLeader)
	nodes["eu"].kill()
	took := testenv.WaitFor(t, 3500*time.Millisecond, "eu-1 dead", func() bool { return !hasNode(c.liveNodes(), "eu-1") })
	t.Logf("eu-1 excluded %v after its death", took)
	// New joins avoid it, even for the room that lived there.
	for _, room := range []string{"room", "fresh"} {
		b, code := allocate(t, c.url, "default", room, "10.1.0.1")
		if code != http.StatusOK || b.Node.ID == "eu-1" {
			t.Fatalf("%s after eu-1 died: %d %+v", room, code, b)
		}
	}
	// The leader removes the dead node from the directory.
	testenv.WaitFor(t, 3*time.Second, "eu-1 removed from the nodes bucket", func() bool {
		_, err := c.nodesKV.Get(context.Background(), "eu-1")
		return err != nil
	})
}

func TestLeaderFailoverWithin3s(t *testing.T) {
	url := startNATS(t)
	c1 := startController(t, url, testConfig(), 1)
	c2 := startController(t, url, testConfig(), 1)
	testenv.WaitFor(t, 5*time.Second, "one leader", func() bool { return c1.IsLeader() != c2.IsLeader() })
	leader, standby := c1, c2
	if c2.IsLeader() {
		leader, standby = c2, c1
	}
	testenv.WaitFor(t, 2*time.Second, "standby status names the leader", func() bool {
		var st statusJSON
		call(t, "GET", standby.url+"/v1/status", "", &st)
		return !st.Leader && st.LeaderID == leader.ID()
	})
	leader.crash()
	took := testenv.WaitFor(t, 3*time.Second, "standby takes over", standby.IsLeader)
	t.Logf("standby took over %v after the leader died", took)

	// A third controller stays standby; a graceful stop hands over at once.
	c3 := startController(t, url, testConfig(), 1)
	testenv.WaitFor(t, 2*time.Second, "c3 has campaigned and names the leader", func() bool {
		var st statusJSON
		call(t, "GET", c3.url+"/v1/status", "", &st)
		return st.LeaderID == standby.ID()
	})
	if c3.IsLeader() {
		t.Fatal("two leaders")
	}
	standby.Close()
	testenv.WaitFor(t, time.Second, "c3 takes over after a graceful stop", c3.IsLeader)
}
