package browsertest

import (
	"context"
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
	ws      string // the signaling server's WebSocket URL
	dashURL string // the controller's HTTP server
	token   string // an operator admin token
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
	return &dashCluster{ws: "ws" + strings.TrimPrefix(ssrv.URL, "http") + "/ws", dashURL: srv.URL, token: tok}
}

// startRegionNode runs an SFU node of region on 127.0.0.1 (its clients are
// Go clients over loopback; only the dashboard runs in Chromium).
func startRegionNode(t *testing.T, natsURL, id, region string) {
	t.Helper()
	log := testenv.Logger()
	cfg := config.Default().SFU
	cfg.NodeID, cfg.Region, cfg.MediaPort, cfg.HeartbeatInterval = id, region, testenv.FreePort(t, "127.0.0.1"), 250*time.Millisecond
	cfg.BindIP, cfg.AdvertiseIPs, cfg.Capacity = "127.0.0.1", []string{"127.0.0.1"}, 50
	b := testenv.ConnectWith(t, bus.Options{URLs: natsURL, Name: id, Logger: log})
	node, err := sfu.NewNode(sfu.Options{Config: cfg, Bus: b, Logger: log})
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
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		c, err := client.Connect(ctx, dc.ws, testenv.Mint(t, auth.DefaultNamespace, room, identity), client.Options{Name: identity,
			Media: client.MediaOptions{IPFilter: client.LoopbackOnly, Logger: testenv.Logger()}, Logger: testenv.Logger()})
		if err != nil {
			if !client.IsCode(err, protocol.CodeUnavailable) || ctx.Err() != nil {
				t.Fatalf("%s joins %s: %v", identity, room, err)
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		t.Cleanup(c.Close)
		if !publish {
			return c, nil
		}
		tr, err := c.Publish(ctx, client.TrackSpec{Codec: client.CodecVP8, FPS: 10, KbpsPerLayer: []int{150}}, client.TrackSpec{Codec: client.CodecOpus})
		if err == nil {
			err = c.WaitPublished(ctx, tr...)
		}
		if err != nil {
			t.Fatalf("%s publishes: %v", identity, err)
		}
		return c, tr
	}
}

// TestDashboard opens /dashboard in Chromium on a three-node cluster with
// participants in two rooms: the numbers are right, a participant who
// joins appears without a reload, and a kick from the room page closes
// that participant's session.
func TestDashboard(t *testing.T) {
	dc := startDashCluster(t)
	_, alice := dc.join(t, "standup", "alice", true)
	bob, _ := dc.join(t, "standup", "bob", false)
	carol, _ := dc.join(t, "standup", "carol", true)
	dc.join(t, "sales", "dave", true)
	dc.join(t, "sales", "erin", false)
	// Some media out of the node too: carol watches alice.
	if _, err := carol.Subscribe(testenv.Context(t, 10*time.Second), alice[0].ID(), ""); err != nil {
		t.Fatalf("carol subscribes to alice: %v", err)
	}

	browser := newBrowser(t)
	p := newPage(t, browser, "dashboard")
	p.navigate(dc.dashURL + "/dashboard/")
	p.mustEval(fmt.Sprintf(`(() => { document.querySelector('#signin-token').value = %q;
  document.querySelector('#signin-form').requestSubmit(); window.__notReloaded = true; return true; })()`, dc.token), nil)

	type overview struct {
		Participants, Rooms, Nodes  string
		NodeCards, NodeParticipants int
		Live                        bool
	}
	read := func() (overview, error) {
		var o overview
		err := p.eval(`(() => {
  const t = (s) => document.querySelector(s)?.textContent.trim() ?? '';
  const cards = [...document.querySelectorAll('.node')];
  return {Participants: t('#total-participants'), Rooms: t('#total-rooms'), Nodes: t('#total-nodes'), NodeCards: cards.length,
    NodeParticipants: cards.reduce((s, c) => s + Number(c.querySelector('[data-f=participants]').textContent), 0),
    Live: document.querySelector('#live').classList.contains('on')};
})()`, &o)
		return o, err
	}
	eventually(t, 20*time.Second, "overview shows 3 nodes, 2 rooms, 5 participants", func() error {
		o, err := read()
		if err != nil {
			return err
		}
		if o.NodeCards != 3 || o.Participants != "5" || o.NodeParticipants != 5 || o.Rooms != "2" || !o.Live || !strings.HasPrefix(o.Nodes, "3") {
			return fmt.Errorf("overview %+v", o)
		}
		return nil
	})
	saveDashShot(t, p, "dashboard-overview.png")

	// Rooms: both rooms with their counts; a participant joining sales
	// shows up without a reload.
	p.mustEval(`location.hash = '#/rooms'`, nil)
	roomCount := func(room string) func() error {
		return func() error {
			var n string
			if err := p.eval(fmt.Sprintf(`document.querySelector('tr[data-room="default/%s"] .participants')?.textContent ?? ''`, room), &n); err != nil {
				return err
			}
			want := map[string]string{"standup": "3", "sales": "2"}[room]
			if n != want {
				return fmt.Errorf("room %s shows %q participants, want %s", room, n, want)
			}
			return nil
		}
	}
	eventually(t, 10*time.Second, "standup with 3", roomCount("standup"))
	eventually(t, 10*time.Second, "sales with 2", roomCount("sales"))
	dc.join(t, "sales", "frank", false)
	eventually(t, 10*time.Second, "frank appears in sales without a reload", func() error {
		var n string
		if err := p.eval(`(window.__notReloaded ? '' : 'reloaded ') + (document.querySelector('tr[data-room="default/sales"] .participants')?.textContent ?? '')`, &n); err != nil {
			return err
		}
		if n != "3" {
			return fmt.Errorf("sales shows %q", n)
		}
		return nil
	})
	saveDashShot(t, p, "dashboard-rooms.png")

	// The room page: participants with their tracks; kick bob.
	p.mustEval(`location.hash = '#/rooms/default/standup'`, nil)
	eventually(t, 10*time.Second, "standup's page lists 3 participants with tracks", func() error {
		var got struct {
			Rows, Tracks int
			AliceVideo   string
			Connected    int
		}
		if err := p.eval(`({Rows: document.querySelectorAll('tr[data-identity]').length,
  Tracks: document.querySelectorAll('tr[data-identity] .tag.video, tr[data-identity] .tag.audio').length,
  AliceVideo: document.querySelector('tr[data-identity="alice"] .tag.video')?.textContent ?? '',
  Connected: [...document.querySelectorAll('tr[data-identity] .q.good')].length})`, &got); err != nil {
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
		return nil
	})
	saveDashShot(t, p, "dashboard-room.png")
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
	p.mustEval(`location.hash = '#/overview'`, nil)
	eventually(t, 10*time.Second, "5 participants after the kick", func() error {
		o, err := read()
		if err == nil && o.Participants != "5" {
			err = fmt.Errorf("overview %+v", o)
		}
		return err
	})
	p.mustEval(`location.hash = '#/topology'`, nil)
	eventually(t, 10*time.Second, "topology drawn", func() error {
		var n int
		if err := p.eval(`document.querySelectorAll('.topo svg circle').length`, &n); err != nil || n < 3 {
			return fmt.Errorf("%d circles (%v)", n, err)
		}
		return nil
	})
	saveDashShot(t, p, "dashboard-topology.png")
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
	saveDashShot(t, p, "dashboard-history.png")
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
