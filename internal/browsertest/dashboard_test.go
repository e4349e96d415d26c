package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/controller"
	"github.com/rtcloud/rtcloud/internal/dashboard"
	"github.com/rtcloud/rtcloud/internal/protocol"
	"github.com/rtcloud/rtcloud/internal/sfu"
	"github.com/rtcloud/rtcloud/internal/signal"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// dashCluster is a local cluster in the test process: NATS, three SFU
// nodes in three regions, a signaling server and a controller serving the
// admin API and the dashboard, each on its own bus connection.
type dashCluster struct {
	nats    string // the NATS URL
	ws      string // the signaling server's WebSocket URL
	dashURL string // the controller's HTTP server
	token   string // an operator admin token
	ctl     *controller.Controller
}

func startDashCluster(t *testing.T) *dashCluster {
	t.Helper()
	log := testenv.Logger()
	nats := testenv.StartNATS(t)
	url := nats.ClientURL()
	for i, region := range []string{"eu-west", "us-east", "ap-south"} {
		startRegionNode(t, url, fmt.Sprintf("sfu-%s-%d", region, i+1), region)
	}
	c := config.Default()
	// Clients say where they are through X-Forwarded-For (the signaling
	// server trusts loopback as its proxy): 10.1/16 is eu-west, 10.2/16
	// us-east, 10.3/16 ap-south. Each lands on its region's node; rooms
	// span nodes over the relay.
	c.Controller.Policy = config.PolicyNearest
	c.Controller.GeoIP.CIDRs = []config.GeoCIDR{{CIDR: "10.1.0.0/16", Region: "eu-west"}, {CIDR: "10.2.0.0/16", Region: "us-east"}, {CIDR: "10.3.0.0/16", Region: "ap-south"}}
	c.Signal.TrustedProxies = []string{"127.0.0.1/32"}
	b := testenv.ConnectWith(t, bus.Options{URLs: url, Name: "dash-controller", Logger: log})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ctl, err := controller.New(ctx, controller.Options{Config: c.Controller, Bus: b, Verifier: auth.NewVerifier(config.DevKeys()), Logger: log, ID: "ctl-1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctl.Close)
	dash, err := dashboard.New(ctx, dashboard.Options{Cluster: ctl, Bus: b, Verifier: auth.NewVerifier(config.DevKeys()), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dash.Close)
	mux := http.NewServeMux()
	mux.Handle("/dashboard/", dash.Handler())
	mux.Handle("/", ctl.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	sb := testenv.ConnectWith(t, bus.Options{URLs: url, Name: "dash-signal", Logger: log})
	sig, err := signal.NewServer(ctx, signal.Options{Config: c.Signal, Bus: sb, Verifier: auth.NewVerifier(config.DevKeys()), Keys: config.DevKeys(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ssrv := httptest.NewServer(sig.Handler())
	t.Cleanup(func() { ssrv.CloseClientConnections(); ssrv.Close(); sig.Close() })
	testenv.WaitFor(t, 15*time.Second, "three nodes in the controller", func() bool { return len(ctl.Nodes()) == 3 })
	testenv.WaitFor(t, 15*time.Second, "signaling ready", sig.Ready)
	tok := testenv.MintWith(t, auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: "ops",
		Grant: auth.Grant{Namespace: c.Controller.OperatorNamespace, Room: "*", Admin: true}})
	return &dashCluster{nats: url, ws: "ws" + strings.TrimPrefix(ssrv.URL, "http") + "/ws", dashURL: srv.URL, token: tok, ctl: ctl}
}

// startRegionNode runs an SFU node of region on 127.0.0.1 with its relay
// (its clients are Go clients over loopback; only the dashboard runs in
// Chromium).
func startRegionNode(t *testing.T, natsURL, id, region string) {
	t.Helper()
	log := testenv.Logger()
	cfg := config.Default().SFU
	cfg.NodeID, cfg.Region, cfg.MediaPort, cfg.HeartbeatInterval = id, region, testenv.FreePort(t, "127.0.0.1"), 250*time.Millisecond
	cfg.BindIP, cfg.AdvertiseIPs, cfg.Capacity = "127.0.0.1", []string{"127.0.0.1"}, 50
	cfg.RelayPort = testenv.FreePort(t, "127.0.0.1")
	b := testenv.ConnectWith(t, bus.Options{URLs: natsURL, Name: id, Logger: log})
	node, err := sfu.NewNode(sfu.Options{Config: cfg, Bus: b, Logger: log, RelaySecret: []byte("dashboard test relay key, 32 B!")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = node.Run(ctx) }()
	t.Cleanup(func() { stop(); wg.Wait() })
	testenv.WaitFor(t, 15*time.Second, "node "+id+" ready", node.Ready)
}

func (dc *dashCluster) join(t *testing.T, room, identity string, publish bool) (*client.Client, []*client.LocalTrack) {
	t.Helper()
	c := dc.joinIn(t, auth.DefaultNamespace, room, identity)
	if !publish {
		return c, nil
	}
	ctx := testenv.Context(t, 20*time.Second)
	tr, err := c.Publish(ctx, client.TrackSpec{Codec: client.CodecVP8, FPS: 10, KbpsPerLayer: []int{150}}, client.TrackSpec{Codec: client.CodecOpus})
	if err == nil {
		err = c.WaitPublished(ctx, tr...)
	}
	if err != nil {
		t.Fatalf("%s publishes: %v", identity, err)
	}
	return c, tr
}

// TestDashboard opens /dashboard in Chromium on a three-node cluster with
// participants in two rooms: the numbers are right, a participant who
// joins appears without a reload, a kick from the room page closes that
// participant's session, the topology lights up with the relay's data and
// the history has a line per node.
func TestDashboard(t *testing.T) {
	dc := startDashCluster(t)
	bob := dc.populate(t)
	p := dc.open(t)
	checkOverview(t, p, "5")
	saveDashShot(t, p, "dashboard-overview.png")
	dc.recording(t, "standup")
	checkRooms(t, p, dc)
	checkRoomPage(t, p)
	saveDashShot(t, p, "dashboard-room.png")
	kickFromPage(t, p, bob)
	p.mustEval(`location.hash = '#/overview'`, nil)
	checkOverview(t, p, "5") // frank joined, bob was kicked
	checkTopology(t, p, dc)
	saveDashShot(t, p, "dashboard-topology.png")
	checkHistory(t, p)
	saveDashShot(t, p, "dashboard-history.png")
}

// populate puts alice, bob and carol in standup (alice and carol publish,
// carol watches alice) and dave and erin in sales; it returns bob.
func (dc *dashCluster) populate(t *testing.T) *client.Client {
	t.Helper()
	_, alice := dc.join(t, "standup", "alice", true)
	bob, _ := dc.join(t, "standup", "bob", false)
	carol, _ := dc.join(t, "standup", "carol", true)
	dc.join(t, "sales", "dave", true)
	dc.join(t, "sales", "erin", false)
	if _, err := carol.Subscribe(testenv.Context(t, 10*time.Second), alice[0].ID(), ""); err != nil {
		t.Fatalf("carol subscribes to alice: %v", err)
	}
	return bob
}

// open opens the dashboard and signs in with the operator token.
func (dc *dashCluster) open(t *testing.T) *page {
	t.Helper()
	p := newPage(t, newBrowser(t), "dashboard")
	p.navigate(dc.dashURL + "/dashboard/")
	p.mustEval(fmt.Sprintf(`(() => { document.querySelector('#signin-token').value = %q;
  document.querySelector('#signin-form').requestSubmit(); window.__notReloaded = true; return true; })()`, dc.token), nil)
	return p
}

// checkOverview waits for 3 node cards, 2 rooms and the participants, in
// the totals and summed over the cards, with the live stream connected.
func checkOverview(t *testing.T, p *page, participants string) {
	t.Helper()
	eventually(t, 20*time.Second, "overview shows 3 nodes, 2 rooms, "+participants+" participants", func() error {
		var o struct {
			Participants, Rooms, Nodes  string
			NodeCards, NodeParticipants int
			Live                        bool
			Relay                       []string
		}
		err := p.eval(`(() => {
  const t = (s) => document.querySelector(s)?.textContent.trim() ?? '';
  const cards = [...document.querySelectorAll('.node')];
  return {Participants: t('#total-participants'), Rooms: t('#total-rooms'), Nodes: t('#total-nodes'), NodeCards: cards.length,
    NodeParticipants: cards.reduce((s, c) => s + Number(c.querySelector('[data-f=participants]').textContent), 0),
    Live: document.querySelector('#live').classList.contains('on'),
    Relay: cards.map((c) => c.querySelector('[data-f=relay] span:nth-child(2)')?.textContent ?? '')};
})()`, &o)
		if err != nil {
			return err
		}
		// Each node's relay reaches the two others.
		if o.NodeCards != 3 || o.Participants != participants || fmt.Sprint(o.NodeParticipants) != participants ||
			o.Rooms != "2" || !o.Live || !strings.HasPrefix(o.Nodes, "3") || fmt.Sprint(o.Relay) != "[2/2 links up 2/2 links up 2/2 links up]" {
			return fmt.Errorf("overview %+v", o)
		}
		return nil
	})
}

// checkRooms: both rooms with their counts; frank joining sales shows up
// without a reload.
func checkRooms(t *testing.T, p *page, dc *dashCluster) {
	t.Helper()
	p.mustEval(`location.hash = '#/rooms'`, nil)
	count := func(room, want string) func() error {
		return func() error {
			var n string
			if err := p.eval(fmt.Sprintf(`(window.__notReloaded ? '' : 'reloaded ') + (document.querySelector('tr[data-room="default/%s"] .participants')?.textContent ?? '')`, room), &n); err != nil {
				return err
			}
			if n != want {
				return fmt.Errorf("room %s shows %q participants, want %s", room, n, want)
			}
			return nil
		}
	}
	eventually(t, 10*time.Second, "standup with 3", count("standup", "3"))
	eventually(t, 10*time.Second, "sales with 2", count("sales", "2"))
	dc.join(t, "sales", "frank", false)
	eventually(t, 10*time.Second, "frank appears in sales without a reload", count("sales", "3"))
}

// checkRoomPage: standup's participants with their tracks, codecs,
// bitrates and connection states.
func checkRoomPage(t *testing.T, p *page) {
	t.Helper()
	p.mustEval(`location.hash = '#/rooms/default/standup'`, nil)
	eventually(t, 10*time.Second, "standup's page lists 3 participants with tracks", func() error {
		var got struct {
			Rows, Tracks int
			AliceVideo   string
			Connected    int
			Egress       string
		}
		if err := p.eval(`({Rows: document.querySelectorAll('tr[data-identity]').length,
  Tracks: document.querySelectorAll('tr[data-identity] .tag.video, tr[data-identity] .tag.audio').length,
  AliceVideo: document.querySelector('tr[data-identity="alice"] .tag.video')?.textContent ?? '',
  Connected: [...document.querySelectorAll('tr[data-identity] .q.good')].length,
  Egress: document.querySelector('tr[data-egress="EG_standup"] .status')?.textContent ?? ''})`, &got); err != nil {
			return err
		}
		// bob publishes nothing and has no PeerConnection.
		if got.Rows != 3 || got.Tracks != 4 || got.Connected != 2 {
			return fmt.Errorf("%d participants, %d tracks, %d connected shown, want 3, 4, 2", got.Rows, got.Tracks, got.Connected)
		}
		// The codec and the measured bitrate (alice sends about 150 kbit/s).
		if !strings.HasPrefix(got.AliceVideo, "VP8") || !strings.Contains(got.AliceVideo, "kb/s") {
			return fmt.Errorf("alice's video shows %q, want VP8 with a bitrate", got.AliceVideo)
		}
		if got.Egress != "active" {
			return fmt.Errorf("the recording shows %q, want active", got.Egress)
		}
		return nil
	})
}

// kickFromPage kicks bob with the room page's button and its
// confirmation: bob's session ends with reason kicked and the page drops
// him.
func kickFromPage(t *testing.T, p *page, bob *client.Client) {
	t.Helper()
	p.mustEval(`document.querySelector('tr[data-identity="bob"] button.kick').click(); true`, nil)
	eventually(t, 5*time.Second, "the confirmation", func() error {
		var shown bool
		if err := p.eval(`!document.querySelector('#modal').hidden`, &shown); err != nil || !shown {
			return fmt.Errorf("no confirmation dialog (%v)", err)
		}
		return nil
	})
	p.mustEval(`document.querySelector('#confirm-ok').click(); true`, nil)
	select {
	case <-bob.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("bob's session was not closed after the kick")
	}
	if r := bob.ClosedReason(); r != bus.ReasonKicked {
		t.Errorf("bob closed with reason %q, want %q", r, bus.ReasonKicked)
	}
	eventually(t, 10*time.Second, "bob gone from the page", func() error {
		var n int
		if err := p.eval(`document.querySelectorAll('tr[data-identity]').length`, &n); err != nil {
			return err
		}
		if n != 2 {
			return fmt.Errorf("%d participants shown", n)
		}
		return nil
	})
}

// checkTopology: the nodes, the relay links they measure (all six
// directions up, from their link reports), the routes the controller
// computed, and alice's video crossing the eu-west to us-east link to
// carol (from the nodes' stream directory).
func checkTopology(t *testing.T, p *page, dc *dashCluster) {
	t.Helper()
	p.mustEval(`location.hash = '#/topology'`, nil)
	origin, holder := "sfu-eu-west-1", "sfu-us-east-2" // alice's video to carol
	eventually(t, 20*time.Second, "relay links, routes and the stream crossing them", func() error {
		var got struct {
			Rows, Up, Lines, Routes int
			Crossing                string
		}
		if err := p.eval(fmt.Sprintf(`({Rows: document.querySelectorAll('tr[data-link]').length, Up: document.querySelectorAll('tr[data-link] .pill.live').length,
  Lines: document.querySelectorAll('.topo svg line').length, Routes: document.querySelectorAll('tr[data-route]').length,
  Crossing: document.querySelector('tr[data-link="%s>%s"] .streams')?.textContent ?? ''})`, origin, holder), &got); err != nil {
			return err
		}
		if got.Rows != 6 || got.Up != 6 || got.Lines != 3 || got.Routes != 6 || got.Crossing != "1" {
			return fmt.Errorf("%d link rows (%d up), %d lines, %d routes, %s→%s streams %q; want 6 (6), 3, 6, 1",
				got.Rows, got.Up, got.Lines, got.Routes, origin, holder, got.Crossing)
		}
		return nil
	})
}

// checkHistory: four charts, each with a line per node.
func checkHistory(t *testing.T, p *page) {
	t.Helper()
	p.mustEval(`location.hash = '#/history'`, nil)
	eventually(t, 10*time.Second, "history charts of three nodes", func() error {
		var got struct{ Charts, Lines int }
		if err := p.eval(`({Charts: document.querySelectorAll('.chart svg').length, Lines: document.querySelectorAll('.chart svg path[fill=none]').length})`, &got); err != nil {
			return err
		}
		if got.Charts != 4 || got.Lines != 12 {
			return fmt.Errorf("%d charts with %d lines, want 4 with one line per node", got.Charts, got.Lines)
		}
		return nil
	})
}

// saveDashShot saves a full-page screenshot at 1440 px wide in
// test-artifacts/.
func saveDashShot(t *testing.T, p *page, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.EmulateViewport(1440, 900)); err != nil {
		t.Fatalf("viewport: %v", err)
	}
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join("..", "..", "test-artifacts", name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// recording records, as an egress worker does in rtcloud_egress, a
// composite recording of room to a file, running for a minute.
func (dc *dashCluster) recording(t *testing.T, room string) {
	t.Helper()
	ctx := testenv.Context(t, 10*time.Second)
	kv, err := testenv.Connect(t, dc.nats).KV(ctx, bus.BucketEgress, 0)
	if err != nil {
		t.Fatal(err)
	}
	info := bus.EgressInfo{EgressRequest: bus.EgressRequest{EgressID: "EG_" + room, Namespace: "default", Room: room,
		Type: bus.EgressTypeRoom, Layout: bus.LayoutGrid, Outputs: []bus.EgressOutput{{File: room + ".mp4"}}},
		WorkerID: "egress-1", Status: bus.EgressActive, StartedAt: time.Now().Add(-time.Minute), Duration: 60, Bytes: 7 << 20, UpdatedAt: time.Now()}
	v, _ := json.Marshal(info)
	if _, err := kv.Put(ctx, info.EgressID, v); err != nil {
		t.Fatal(err)
	}
}

// TestDashboardTenant: a tenant admin token of namespace acme sees acme's
// room only, no nodes, and no topology; a forged token is refused at
// sign-in.
func TestDashboardTenant(t *testing.T) {
	dc := startDashCluster(t)
	dc.join(t, "standup", "alice", false)
	dc.joinIn(t, "acme", "board", "ann")
	dc.joinIn(t, "acme", "board", "abe")
	p := newPage(t, newBrowser(t), "tenant")
	p.navigate(dc.dashURL + "/dashboard/")
	saveDashShot(t, p, "dashboard-signin.png")
	signIn := func(tok string) {
		p.mustEval(fmt.Sprintf(`(() => { document.querySelector('#signin-token').value = %q;
  document.querySelector('#signin-form').requestSubmit(); return true; })()`, tok), nil)
	}
	signIn(testenv.MintWith(t, auth.TokenOptions{Key: auth.DevKey, Secret: "not-the-secret", Identity: "mallory",
		Grant: auth.Grant{Namespace: "default", Room: "*", Admin: true}}))
	eventually(t, 10*time.Second, "the forged token refused", func() error {
		var msg string
		if err := p.eval(`document.querySelector('#signin-error').hidden ? '' : document.querySelector('#signin-error').textContent`, &msg); err != nil {
			return err
		}
		if !strings.Contains(msg, "token") {
			return fmt.Errorf("sign-in error %q", msg)
		}
		return nil
	})
	signIn(testenv.MintWith(t, auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: "acme-ops",
		Grant: auth.Grant{Namespace: "acme", Room: "*", Admin: true}}))
	eventually(t, 10*time.Second, "acme sees its room only", func() error {
		var got struct {
			Rooms  []string
			Cards  int
			Viewer string
			Total  string
		}
		if err := p.eval(`({Rooms: [...document.querySelectorAll('tr[data-room]')].map((r) => r.dataset.room), Cards: document.querySelectorAll('.node').length,
  Viewer: document.querySelector('#viewer')?.textContent ?? '', Total: document.querySelector('#total-participants')?.textContent ?? ''})`, &got); err != nil {
			return err
		}
		if fmt.Sprint(got.Rooms) != "[acme/board]" || got.Cards != 0 || got.Total != "2" || !strings.Contains(got.Viewer, "tenant") {
			return fmt.Errorf("tenant sees %+v", got)
		}
		return nil
	})
	saveDashShot(t, p, "dashboard-tenant.png")
	p.mustEval(`location.hash = '#/topology'`, nil)
	eventually(t, 10*time.Second, "no topology for a tenant", func() error {
		var msg string
		if err := p.eval(`document.querySelector('#view .empty')?.textContent ?? ''`, &msg); err != nil || !strings.Contains(msg, "operator") {
			return fmt.Errorf("topology view %q (%v)", msg, err)
		}
		return nil
	})
}

// regionOf places test identities: 10.N.0.1 is in region N (1 eu-west,
// 2 us-east, 3 ap-south).
var regionOf = map[string]int{"alice": 1, "bob": 3, "carol": 2, "dave": 2, "erin": 1, "frank": 3, "ann": 1, "abe": 2}

// joinIn joins identity to room of namespace, without media yet, from its
// region (regionOf).
func (dc *dashCluster) joinIn(t *testing.T, namespace, room, identity string) *client.Client {
	t.Helper()
	ctx := testenv.Context(t, 20*time.Second)
	hdr := http.Header{"X-Forwarded-For": {fmt.Sprintf("10.%d.0.1", regionOf[identity])}}
	for {
		c, err := client.Connect(ctx, dc.ws, testenv.Mint(t, namespace, room, identity), client.Options{Name: identity, Header: hdr,
			Media: client.MediaOptions{IPFilter: client.LoopbackOnly, Logger: testenv.Logger()}, Logger: testenv.Logger()})
		if err == nil {
			t.Cleanup(c.Close)
			return c
		}
		// Right after start the signaling server may not have seen every
		// node's first heartbeat yet.
		if !client.IsCode(err, protocol.CodeUnavailable) || ctx.Err() != nil {
			t.Fatalf("%s joins %s/%s: %v", identity, namespace, room, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
