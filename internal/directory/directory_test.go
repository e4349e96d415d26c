package directory

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/placement"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func open(t *testing.T, b *bus.Client, now func() time.Time) *Directory {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := Open(ctx, Options{Bus: b, Logger: testenv.Logger(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

func TestLeastLoaded(t *testing.T) {
	nodes := []bus.NodeInfo{
		{ID: "busy", Load: bus.NodeLoad{Participants: 9}},
		{ID: "draining", Draining: true},
		{ID: "full", Capacity: 2, Load: bus.NodeLoad{Participants: 2}},
		{ID: "b", Load: bus.NodeLoad{Participants: 1, CPU: 0.5}},
		{ID: "a", Load: bus.NodeLoad{Participants: 1, CPU: 0.5}},
		{ID: "c", Capacity: 5, Load: bus.NodeLoad{Participants: 1, CPU: 0.9}},
	}
	n, ok := LeastLoaded(nodes)
	if !ok || n.ID != "a" {
		t.Fatalf("LeastLoaded = %q, %v; want a", n.ID, ok)
	}
	if _, ok := LeastLoaded(nodes[1:3]); ok {
		t.Fatal("a draining and a full node must not be chosen")
	}
}

func TestHeartbeatsMakeNodesLiveAndSilenceKillsThem(t *testing.T) {
	url := testenv.StartNATS(t).ClientURL()
	clk := &clock{t: time.Now()}
	d := open(t, testenv.Connect(t, url), clk.Now)
	node := testenv.Connect(t, url)
	if err := node.Publish(bus.NodeHeartbeats, bus.NodeInfo{ID: "n1", MediaPort: 7801}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 5*time.Second, "n1 live", func() bool { _, ok := d.Node("n1"); return ok })
	if got := d.LiveNodes(); len(got) != 1 || got[0].MediaPort != 7801 {
		t.Fatalf("LiveNodes = %+v", got)
	}
	clk.Add(DefaultSuspectAfter - 100*time.Millisecond)
	if _, ok := d.Node("n1"); !ok {
		t.Fatal("n1 dead after a missed beat")
	}
	clk.Add(DefaultDeadAfter)
	if _, ok := d.Node("n1"); ok {
		t.Fatal("n1 alive after DeadAfter without a beat")
	}
	if got := d.LiveNodes(); len(got) != 0 {
		t.Fatalf("LiveNodes = %+v, want none", got)
	}
	// Garbage on the heartbeat subject is ignored.
	if err := node.Conn().Publish(bus.NodeHeartbeats, []byte("{nope")); err != nil {
		t.Fatal(err)
	}
}

func TestSameNodePlacementAgreesUnderRaceAndMovesOffDeadNodes(t *testing.T) {
	url := testenv.StartNATS(t).ClientURL()
	clk := &clock{t: time.Now()}
	d1 := open(t, testenv.Connect(t, url), clk.Now)
	d2 := open(t, testenv.Connect(t, url), clk.Now)
	ctx := context.Background()

	if _, err := (SameNode{Dir: d1}).Place(ctx, "ns", "r"); !errors.Is(err, ErrNoNode) {
		t.Fatalf("Place with no nodes: %v, want ErrNoNode", err)
	}
	// d1 and d2 see different loads, so each alone would pick another node.
	d1.Observe(bus.NodeInfo{ID: "a"})
	d1.Observe(bus.NodeInfo{ID: "b", Load: bus.NodeLoad{Participants: 5}})
	d2.Observe(bus.NodeInfo{ID: "a", Load: bus.NodeLoad{Participants: 5}})
	d2.Observe(bus.NodeInfo{ID: "b"})

	var wg sync.WaitGroup
	got := make([]string, 2)
	errs := make([]error, 2)
	for i, d := range []*Directory{d1, d2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := SameNode{Dir: d}.Place(ctx, "ns", "r")
			got[i], errs[i] = n.ID, err
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if got[0] != got[1] {
		t.Fatalf("racing servers placed the room on %q and %q", got[0], got[1])
	}
	rec, err := d1.Room(ctx, "ns", "r")
	if err != nil || rec.NodeID != got[0] {
		t.Fatalf("room record %+v, %v; want node %s", rec, err, got[0])
	}
	// The same room name in another namespace is another room.
	if _, err := d1.Room(ctx, "other", "r"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("room of another namespace: %v, want ErrNotFound", err)
	}

	// The room's node dies: the room moves to the survivor.
	clk.Add(4 * time.Second)
	survivor := "a"
	if got[0] == "a" {
		survivor = "b"
	}
	d2.Observe(bus.NodeInfo{ID: survivor})
	n, err := SameNode{Dir: d2}.Place(ctx, "ns", "r")
	if err != nil || n.ID != survivor {
		t.Fatalf("Place after node death = %q, %v; want %q", n.ID, err, survivor)
	}
	if rec, _ := d1.Room(ctx, "ns", "r"); rec.NodeID != survivor {
		t.Fatalf("room record still on %q", rec.NodeID)
	}
}

func TestSessionRecords(t *testing.T) {
	d := open(t, testenv.Connect(t, testenv.StartNATS(t).ClientURL()), time.Now)
	ctx := context.Background()
	rec := bus.SessionRecord{
		Participant: bus.Participant{Namespace: "ns", Room: "r", Identity: "alice", SessionID: "PA_abc"},
		NodeID:      "n1",
		Grants:      bus.Grants{Publish: true},
	}
	if err := d.CreateSession(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateSession(ctx, rec); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	got, err := d.Session(ctx, "PA_abc")
	if err != nil || got.Identity != "alice" || got.NodeID != "n1" || !got.Grants.Publish {
		t.Fatalf("Session = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "a.b", "x y", "*", ">"} {
		if _, err := d.Session(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Session(%q) = %v, want ErrNotFound", bad, err)
		}
	}
	if err := d.DeleteSession(ctx, "PA_abc"); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteSession(ctx, "PA_abc"); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
	if _, err := d.Session(ctx, "PA_abc"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v, want ErrNotFound", err)
	}
	if err := d.CreateSession(ctx, rec); err != nil {
		t.Fatalf("re-create after delete: %v", err)
	}
}

// The fallback placement honours the operator's drain marks: a marked
// node gets no new room and no new session of the rooms it has (they go
// on elsewhere), and is placeable again once the mark is gone.
func TestSameNodeSkipsDrainMarkedNodes(t *testing.T) {
	url := testenv.StartNATS(t).ClientURL()
	b := testenv.Connect(t, url)
	d := open(t, b, time.Now)
	ctx := context.Background()
	control, err := b.KV(ctx, bus.BucketControl, 0)
	if err != nil {
		t.Fatal(err)
	}
	d.Observe(bus.NodeInfo{ID: "a"}) // least loaded: first choice
	d.Observe(bus.NodeInfo{ID: "b", Load: bus.NodeLoad{Participants: 5}})
	if n, err := (SameNode{Dir: d}).Place(ctx, "ns", "before"); err != nil || n.ID != "a" {
		t.Fatalf("Place = %q, %v; want a", n.ID, err)
	}
	if _, err := control.Put(ctx, bus.DrainKey("a"), []byte("now")); err != nil {
		t.Fatal(err)
	}
	if n, err := (SameNode{Dir: d}).Place(ctx, "ns", "new"); err != nil || n.ID != "b" {
		t.Fatalf("Place of a new room with a drained = %q, %v; want b", n.ID, err)
	}
	if n, err := (SameNode{Dir: d}).Place(ctx, "ns", "before"); err != nil || n.ID != "b" {
		t.Fatalf("Place in a room of the drained node = %q, %v; want b (a takes no new sessions)", n.ID, err)
	}
	if _, err := control.Put(ctx, bus.DrainKey("b"), []byte("now")); err != nil {
		t.Fatal(err)
	}
	if _, err := (SameNode{Dir: d}).Place(ctx, "ns", "newer"); !errors.Is(err, ErrNoNode) {
		t.Fatalf("Place with every node drained: %v, want ErrNoNode", err)
	}
	if err := control.Delete(ctx, bus.DrainKey("a")); err != nil {
		t.Fatal(err)
	}
	if n, err := (SameNode{Dir: d}).Place(ctx, "ns", "newest"); err != nil || n.ID != "a" {
		t.Fatalf("Place after the mark is gone = %q, %v; want a", n.ID, err)
	}
	if got, err := d.DrainingNodes(ctx); err != nil || len(got) != 1 || !got["b"] {
		t.Fatalf("DrainingNodes = %v, %v; want b", got, err)
	}
}

// The fallback uses the controller's placement policies, so it honours
// namespace pins: a namespace pinned to eu never lands on the less loaded
// us node.
func TestSameNodeHonoursNamespacePins(t *testing.T) {
	url := testenv.StartNATS(t).ClientURL()
	b := testenv.Connect(t, url)
	d := open(t, b, time.Now)
	ctx := context.Background()
	d.Observe(bus.NodeInfo{ID: "us-1", Region: "us"})
	d.Observe(bus.NodeInfo{ID: "eu-1", Region: "eu", Load: bus.NodeLoad{Participants: 5}})
	cfg := config.DefaultController()
	cfg.Namespaces = map[string]config.NamespacePlacement{"acme": {Regions: []string{"eu"}}}
	p := SameNode{Dir: d, Policies: placement.Build(cfg, true), PolicyName: func(ns string) string { return placement.PolicyName(cfg, ns) }}
	if n, err := p.Place(ctx, "acme", "r"); err != nil || n.ID != "eu-1" {
		t.Fatalf("pinned namespace placed on %q, %v; want eu-1", n.ID, err)
	}
	if n, err := p.Place(ctx, "other", "r"); err != nil || n.ID != "us-1" {
		t.Fatalf("free namespace placed on %q, %v; want the least loaded us-1", n.ID, err)
	}
	cfg.Namespaces["acme"] = config.NamespacePlacement{Regions: []string{"ap"}}
	if _, err := p.Place(ctx, "acme", "r2"); !errors.Is(err, ErrNoNode) {
		t.Fatalf("namespace pinned to a region without nodes: %v, want ErrNoNode", err)
	}
}
