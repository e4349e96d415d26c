package controller

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

func relayConfig() config.Relay {
	r := config.DefaultRelay()
	r.RouteInterval = 150 * time.Millisecond
	r.LinkTimeout = time.Second
	return r
}

// relayTrio starts eu-1, us-1 and ap-1 as nodes that run a relay.
func relayTrio(t *testing.T, url string) map[string]*fakeNode {
	t.Helper()
	out := map[string]*fakeNode{}
	for i, r := range []string{"eu", "us", "ap"} {
		out[r] = startNode(t, url, bus.NodeInfo{ID: r + "-1", Region: r, RelayAddr: fmt.Sprintf("127.0.0.1:%d", 7901+i)})
	}
	return out
}

func startRouting(t *testing.T, url string, relay config.Relay) *instance {
	t.Helper()
	cfg := testConfig()
	cfg.DeadAfter = 1500 * time.Millisecond
	cfg.LeaseTTL = 2 * time.Second
	return startControllerWith(t, url, Options{Config: cfg, Relay: relay}, 1)
}

// routesWatch records every table the leader pushes to one node, as a
// relay node would receive them.
type routesWatch struct {
	mu     sync.Mutex
	pushes []bus.NodeRoutes
}

func watchRoutes(t *testing.T, b *bus.Client, node string) *routesWatch {
	t.Helper()
	w := &routesWatch{}
	sub, err := b.Subscribe(bus.NodeRoutesSubject(node), func(m *nats.Msg) {
		var nr bus.NodeRoutes
		if json.Unmarshal(m.Data, &nr) == nil {
			w.mu.Lock()
			w.pushes = append(w.pushes, nr)
			w.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return w
}

func (w *routesWatch) last() bus.NodeRoutes {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pushes) == 0 {
		return bus.NodeRoutes{}
	}
	return w.pushes[len(w.pushes)-1]
}

// hops lists the next hops towards dst of every push, collapsing repeats.
func (w *routesWatch) hops(dst string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, nr := range w.pushes {
		h := nr.Routes[dst].NextHop
		if len(out) == 0 || out[len(out)-1] != h {
			out = append(out, h)
		}
	}
	return out
}

func stored(t *testing.T, b *bus.Client, node string) (bus.NodeRoutes, bool) {
	t.Helper()
	kv, err := b.KV(testenv.Context(t, 5*time.Second), bus.BucketRoutes, 0)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(testenv.Context(t, 2*time.Second), bus.RoutesKey(node))
	if err != nil {
		return bus.NodeRoutes{}, false
	}
	var nr bus.NodeRoutes
	if err := json.Unmarshal(e.Value(), &nr); err != nil {
		t.Fatal(err)
	}
	return nr, true
}

func TestRoutesFollowNodes(t *testing.T) {
	url := startNATS(t)
	c := startRouting(t, url, relayConfig())
	b := connect(t, url, 1)
	pushed := watchRoutes(t, b, "eu-1")
	nodes := relayTrio(t, url)
	testenv.WaitFor(t, 10*time.Second, "eu-1 gets a table to us-1 and ap-1", func() bool {
		nr := pushed.last()
		return nr.Routes["us-1"].NextHop == "us-1" && nr.Routes["ap-1"].NextHop == "ap-1"
	})
	nr, ok := stored(t, b, "eu-1")
	if !ok || nr.Version == 0 || nr.Routes["ap-1"].NextHop != "ap-1" || nr.Routes["ap-1"].Alternate != "us-1" {
		t.Fatalf("eu-1's stored table: %+v", nr)
	}
	v := nr.Version

	nodes["ap"].kill()
	testenv.WaitFor(t, 10*time.Second, "ap-1 leaves eu-1's table", func() bool {
		nr := pushed.last()
		_, has := nr.Routes["ap-1"]
		return !has && nr.Version > v
	})
	testenv.WaitFor(t, 5*time.Second, "ap-1's table deleted", func() bool { _, ok := stored(t, b, "ap-1"); return !ok })

	startNode(t, url, bus.NodeInfo{ID: "eu-2", Region: "eu", RelayAddr: "127.0.0.1:7910"})
	startNode(t, url, bus.NodeInfo{ID: "eu-3", Region: "eu"}) // no relay: not routed
	testenv.WaitFor(t, 10*time.Second, "eu-2 joins eu-1's table", func() bool {
		return pushed.last().Routes["eu-2"].NextHop == "eu-2"
	})
	if _, ok := pushed.last().Routes["eu-3"]; ok {
		t.Fatal("a node without a relay address is routed to")
	}
	if !c.IsLeader() {
		t.Fatal("the only controller does not lead")
	}
}

func TestRoutesAllowedLinksAndAdmin(t *testing.T) {
	url := startNATS(t)
	relay := relayConfig()
	relay.Links = [][]string{{"eu", "us"}, {"us", "ap"}}
	c := startRouting(t, url, relay)
	relayTrio(t, url)
	op := token(t, auth.Grant{Namespace: "default", Room: "*", Admin: true})
	var st RoutesStatus
	testenv.WaitFor(t, 10*time.Second, "routes of the three nodes", func() bool {
		st = RoutesStatus{}
		return call(t, "GET", c.url+"/v1/admin/routes", op, &st) == 200 && len(st.Tables) == 3
	})
	if st.Tables["eu-1"]["ap-1"] != "us-1" || st.Tables["ap-1"]["eu-1"] != "us-1" || st.Tables["eu-1"]["us-1"] != "us-1" {
		t.Fatalf("eu <-> ap is not allowed, so it goes through us: %+v", st.Tables)
	}
	if st.Costs["eu-1"]["ap-1"] != 202 || !strings.Contains(st.Reasons["eu-1"]["ap-1"], "cost 202") || st.Version == 0 {
		t.Fatalf("costs %+v reasons %+v version %d", st.Costs, st.Reasons, st.Version)
	}

	var links LinksStatus
	if code := call(t, "GET", c.url+"/v1/admin/links", op, &links); code != 200 || len(links.Nodes) != 3 || len(links.Links) != 6 {
		t.Fatalf("links: %d %+v", code, links)
	}
	for _, l := range links.Links {
		euap := (l.From == "eu-1" && l.To == "ap-1") || (l.From == "ap-1" && l.To == "eu-1")
		switch {
		case euap && (l.State != LinkNotAllowed || l.Cost != nil):
			t.Errorf("%s -> %s: %+v, want not allowed", l.From, l.To, l)
		case !euap && (l.State != LinkUnmeasured || l.Cost == nil || *l.Cost != 101):
			t.Errorf("%s -> %s: %+v, want unmeasured at cost 101", l.From, l.To, l)
		}
	}

	// Operator tokens only.
	if code := call(t, "GET", c.url+"/v1/admin/routes", "", nil); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	tenant := token(t, auth.Grant{Namespace: "acme", Room: "*", Admin: true})
	if code := call(t, "GET", c.url+"/v1/admin/links", tenant, nil); code != 403 {
		t.Fatalf("tenant admin token: %d", code)
	}
}

// reporters publishes link reports for nodes from a matrix the test
// changes, as the nodes' probes would.
type reporters struct {
	mu      sync.Mutex
	links   map[[2]string]bus.LinkSample // [from, to]
	version uint64                       // the routes version every node claims to run
	b       *bus.Client
	stop    chan struct{}
	done    chan struct{}
}

func newReporters(t *testing.T, url string) *reporters {
	t.Helper()
	return &reporters{links: map[[2]string]bus.LinkSample{}, b: connect(t, url, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// start publishes the reports of nodes every 100 ms until the test ends.
func (r *reporters) start(t *testing.T, nodes ...string) {
	go func() {
		defer close(r.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			r.mu.Lock()
			for _, n := range nodes {
				rep := bus.LinkReport{NodeID: n, SentAt: time.Now(), RoutesVersion: r.version}
				for k, s := range r.links {
					if k[0] == n {
						s.Peer, s.SampledAt = k[1], time.Now()
						rep.Links = append(rep.Links, s)
					}
				}
				_ = r.b.Publish(bus.LinkReports(n), rep)
			}
			r.mu.Unlock()
			select {
			case <-r.stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { close(r.stop); <-r.done })
}

// set sets the link a <-> b as both ends see it.
func (r *reporters) set(a, b string, rtt float64, up bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.links[[2]string{a, b}] = bus.LinkSample{RTTMs: rtt, Up: up}
	r.links[[2]string{b, a}] = bus.LinkSample{RTTMs: rtt, Up: up}
}

// claim sets only what a says of its link to b.
func (r *reporters) claim(a, b string, rtt float64, up bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.links[[2]string{a, b}] = bus.LinkSample{RTTMs: rtt, Up: up}
}

func TestRoutesFromReports(t *testing.T) {
	url := startNATS(t)
	c := startRouting(t, url, relayConfig())
	b := connect(t, url, 1)
	pushed := watchRoutes(t, b, "eu-1")
	relayTrio(t, url)
	rep := newReporters(t, url)
	rep.set("eu-1", "us-1", 30, true)
	rep.set("us-1", "ap-1", 30, true)
	rep.set("eu-1", "ap-1", 50, true) // direct 51 beats 62 through us
	rep.start(t, "eu-1", "us-1", "ap-1")
	op := token(t, auth.Grant{Namespace: "default", Room: "*", Admin: true})
	testenv.WaitFor(t, 10*time.Second, "measured direct route eu-1 -> ap-1", func() bool {
		var st RoutesStatus
		call(t, "GET", c.url+"/v1/admin/routes", op, &st)
		return pushed.last().Routes["ap-1"].NextHop == "ap-1" && st.Tables["eu-1"]["ap-1"] == "ap-1" && st.Costs["eu-1"]["ap-1"] == 51
	})

	// The direct link gets slow: the route moves to us, after hysteresis.
	rep.set("eu-1", "ap-1", 150, true)
	testenv.Eventually(t, 10*time.Second, "eu-1 -> ap-1 through us", func() error {
		if r := pushed.last().Routes["ap-1"]; r.NextHop != "us-1" {
			var st RoutesStatus
			call(t, "GET", c.url+"/v1/admin/routes", op, &st)
			return fmt.Errorf("pushed v%d %+v; leader v%d: %s", pushed.last().Version, r, st.Version, st.Reasons["eu-1"]["ap-1"])
		}
		return nil
	})
	if r := pushed.last().Routes["ap-1"]; !strings.Contains(r.Reason, "for 3 rounds") || r.Cost != 62 {
		t.Fatalf("switched route: %+v", r)
	}
	h := pushed.hops("ap-1")
	for len(h) > 0 && h[0] == "" {
		h = h[1:] // tables from before ap-1 was heard of
	}
	if len(h) != 2 || h[0] != "ap-1" || h[1] != "us-1" {
		t.Fatalf("eu-1 -> ap-1 next hops over time: %q (want one switch)", h)
	}

	// Back to fast; then the direct link dies while eu-1 lies that it is
	// up: ap-1's word suffices to take it out, without hysteresis. (eu-1
	// was closer to ap-1 than us-1 was, so it may have no route for a
	// version or two before it routes through us-1: see "Hysteresis and
	// loop freedom" in docs/relay.md.)
	rep.set("eu-1", "ap-1", 10, true)
	testenv.WaitFor(t, 10*time.Second, "back to direct", func() bool { return pushed.last().Routes["ap-1"].NextHop == "ap-1" })
	rep.claim("eu-1", "ap-1", 1, true)
	rep.claim("ap-1", "eu-1", 0, false)
	testenv.Eventually(t, 10*time.Second, "the dead link is avoided", func() error {
		if r := pushed.last().Routes["ap-1"]; r.NextHop != "us-1" || strings.Contains(r.Reason, "switched") {
			return fmt.Errorf("route %+v", r)
		}
		return nil
	})
	var links LinksStatus
	call(t, "GET", c.url+"/v1/admin/links", op, &links)
	for _, l := range links.Links {
		if l.From == "eu-1" && l.To == "ap-1" && (l.State != LinkDown || l.FromReport == nil || !l.FromReport.Up) {
			t.Fatalf("eu-1 -> ap-1: %+v, want down despite eu-1's report", l)
		}
	}

	// A report published for another node is refused and changes nothing.
	before := c.routes.rejected.Load()
	forged := bus.LinkReport{NodeID: "eu-1", Links: []bus.LinkSample{{Peer: "ap-1", RTTMs: 1, Up: true}}}
	if err := b.Publish(bus.LinkReports("us-1"), forged); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(bus.LinkReports("us-1"), bus.LinkReport{NodeID: "us-1", Links: []bus.LinkSample{{Peer: "ap-1", RTTMs: -5}}}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 5*time.Second, "forged and bad reports rejected", func() bool { return c.routes.rejected.Load() >= before+2 })
}

// TestRoutesSurviveLeaderFailover: a standby serves the published tables;
// when the leader dies it takes over from them, continuing the version
// numbers.
func TestRoutesSurviveLeaderFailover(t *testing.T) {
	url := startNATS(t)
	c1 := startRouting(t, url, relayConfig())
	c2 := startRouting(t, url, relayConfig())
	b := connect(t, url, 1)
	pushed := watchRoutes(t, b, "eu-1")
	nodes := relayTrio(t, url)
	testenv.WaitFor(t, 10*time.Second, "eu-1's table", func() bool { return len(pushed.last().Routes) == 2 })
	leader, standby := c1, c2
	if c2.IsLeader() {
		leader, standby = c2, c1
	}
	op := token(t, auth.Grant{Namespace: "default", Room: "*", Admin: true})
	var st RoutesStatus
	testenv.WaitFor(t, 5*time.Second, "the standby serves the stored tables", func() bool {
		st = RoutesStatus{}
		call(t, "GET", standby.url+"/v1/admin/routes", op, &st)
		return st.Source == "bucket" && st.Tables["eu-1"]["ap-1"] == "ap-1" && st.Version == pushed.last().Version
	})
	v := st.Version

	leader.crash()
	testenv.WaitFor(t, 5*time.Second, "standby leads", standby.IsLeader)
	nodes["us"].kill()
	testenv.WaitFor(t, 10*time.Second, "the new leader drops us-1", func() bool {
		_, has := pushed.last().Routes["us-1"]
		return !has && pushed.last().Version > v
	})
	pushed.mu.Lock()
	defer pushed.mu.Unlock()
	for i := 1; i < len(pushed.pushes); i++ {
		if pushed.pushes[i].Version <= pushed.pushes[i-1].Version {
			t.Fatalf("versions went %d then %d", pushed.pushes[i-1].Version, pushed.pushes[i].Version)
		}
	}
}

// TestRoutesRenumberAboveRunningVersion: nodes that run a higher version
// than the bucket knows (it was lost) get tables numbered above it.
func TestRoutesRenumberAboveRunningVersion(t *testing.T) {
	url := startNATS(t)
	startRouting(t, url, relayConfig())
	b := connect(t, url, 1)
	pushed := watchRoutes(t, b, "eu-1")
	relayTrio(t, url)
	rep := newReporters(t, url)
	rep.set("eu-1", "us-1", 30, true)
	rep.set("us-1", "ap-1", 30, true)
	rep.set("eu-1", "ap-1", 50, true)
	rep.version = 1000
	rep.start(t, "eu-1", "us-1", "ap-1")
	testenv.WaitFor(t, 10*time.Second, "a table above version 1000", func() bool {
		nr := pushed.last()
		return nr.Version > 1000 && len(nr.Routes) == 2
	})
}

// TestRoutesPushedAgainToLaggingNode: a node whose reports say it runs an
// older version than the newest (it missed the push) gets the table again.
func TestRoutesPushedAgainToLaggingNode(t *testing.T) {
	url := startNATS(t)
	startRouting(t, url, relayConfig())
	b := connect(t, url, 1)
	pushed := watchRoutes(t, b, "eu-1")
	relayTrio(t, url)
	testenv.WaitFor(t, 10*time.Second, "eu-1's table", func() bool { return len(pushed.last().Routes) == 2 })
	startNode(t, url, bus.NodeInfo{ID: "eu-2", Region: "eu", RelayAddr: "127.0.0.1:7910"})
	testenv.WaitFor(t, 10*time.Second, "a later version", func() bool { return len(pushed.last().Routes) == 3 })
	v := pushed.last().Version
	pushed.mu.Lock()
	before := len(pushed.pushes)
	pushed.mu.Unlock()
	rep := newReporters(t, url)
	rep.set("eu-1", "us-1", 30, true)
	rep.set("eu-1", "ap-1", 30, true)
	rep.version = v - 1 // never takes the newest (v is 2 at least)
	rep.start(t, "eu-1")
	testenv.WaitFor(t, 10*time.Second, "the same table pushed again", func() bool {
		pushed.mu.Lock()
		defer pushed.mu.Unlock()
		seen := map[uint64]int{}
		for _, nr := range pushed.pushes[before:] {
			if seen[nr.Version]++; seen[nr.Version] == 2 {
				return true
			}
		}
		return false
	})
}
