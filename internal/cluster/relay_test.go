package cluster

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// regionProxy is a trusted reverse proxy in front of a signaling server
// that says its clients come from ip (X-Forwarded-For).
func regionProxy(t *testing.T, target, ip string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	director := rp.Director
	rp.Director = func(r *http.Request) {
		director(r)
		r.Header.Set("X-Forwarded-For", ip)
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL
}

// metric reads one sample of a node's /metrics (0 when absent).
func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// TestRoomAcrossRegions: `rtcloud dev --nodes 3 --regions eu,us,ap`, the
// clients of one room behind a trusted proxy that places them in three
// regions: each lands on its region's node, everyone sees everyone, and
// the publisher's media reaches the other regions over the relay.
func TestRoomAcrossRegions(t *testing.T) {
	urls, out := startRegions(t, nil)
	nodes := []string{"sfu-eu-1", "sfu-us-1", "sfu-ap-1"}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const room = "world"
	joinAt := func(ip, identity string) *client.Client {
		return joinRegion(t, ctx, urls["signal-1"], room, ip, identity)
	}
	pub := joinAt("10.1.0.1", "pub-eu")
	tracks, err := pub.Publish(ctx, client.TrackSpec{Codec: client.CodecVP8, FPS: 15})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.WaitPublished(ctx, tracks...); err != nil {
		t.Fatal(err)
	}
	subUS := joinAt("10.2.0.1", "sub-us")
	subAP := joinAt("10.3.0.1", "sub-ap")
	rtUS := subscribe(t, ctx, subUS, tracks[0].ID())
	rtAP := subscribe(t, ctx, subAP, tracks[0].ID())
	testenv.WaitFor(t, 20*time.Second, "media in us and ap", func() bool {
		return rtUS.Stats().Packets > 30 && rtAP.Stats().Packets > 30
	})
	// One participant on each region's node.
	for _, n := range nodes {
		if got := metric(t, urls[n], `rtcloud_sfu_sessions{node="`+n+`"}`); got != 1 {
			t.Errorf("%s has %v sessions, want 1", n, got)
		}
	}
	// The media crossed the relay: eu sends one stream out.
	if got := metric(t, urls["sfu-eu-1"], `rtcloud_sfu_relay_streams_out{node="sfu-eu-1"}`); got != 1 {
		t.Errorf("eu relays %v streams, want 1", got)
	}
	// Everyone sees everyone, wherever they joined.
	if err := subAP.WaitUntil(ctx, func() bool {
		ids := map[string]bool{}
		for _, p := range subAP.Participants() {
			ids[p.Identity] = true
		}
		return ids["pub-eu"] && ids["sub-us"]
	}); err != nil {
		t.Fatalf("sub-ap's room: %+v", subAP.Participants())
	}
	late := joinAt("10.2.0.9", "late-us")
	rtLate := subscribe(t, ctx, late, tracks[0].ID())
	testenv.WaitFor(t, 20*time.Second, "media at the late joiner", func() bool { return rtLate.Stats().Packets > 30 })
	others := map[string]bool{}
	for _, p := range late.Participants() {
		others[p.Identity] = true
	}
	if !others["pub-eu"] || !others["sub-us"] || !others["sub-ap"] || !others["late-us"] || !hasTrack(late.Participants(), tracks[0].ID()) {
		t.Fatalf("a late joiner on us is told of %+v", late.Participants())
	}
	whepInAnotherRegion(t, ctx, urls, room)
	if !strings.Contains(out.String(), "relay ingress") || !strings.Contains(out.String(), "stream located") {
		t.Error("nodes and controllers do not log why a node receives a relayed stream")
	}
	// The leader's routing tables reach the nodes.
	testenv.WaitFor(t, 10*time.Second, "routing tables at the nodes", func() bool {
		return strings.Count(out.String(), `msg="routing table"`) >= len(nodes)
	})
	admin := testenv.MintWith(t, auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: "ops",
		Grant: auth.Grant{Namespace: "default", Room: "*", Admin: true}})
	roomEventsAcrossNodes(t, ctx, urls["controller-1"], admin, pub, tracks[0], subAP, rtAP)

	streamDirectory(t, urls["controller-1"], admin, room)
}

func hasTrack(parts []bus.ParticipantInfo, id string) bool {
	for _, p := range parts {
		for _, tr := range p.Tracks {
			if tr.ID == id {
				return true
			}
		}
	}
	return false
}

// roomEventsAcrossNodes: data, mute and kick between participants on
// different nodes. pub is on eu, subAP on ap (receiving track as rt),
// subUS on us.
func roomEventsAcrossNodes(t *testing.T, ctx context.Context, controller, admin string, pub *client.Client,
	track *client.LocalTrack, subAP *client.Client, rt *client.RemoteTrack) {
	t.Helper()
	// Data from ap reaches eu.
	got := make(chan string, 16)
	go func() {
		for ev := range pub.Events() {
			if ev.Type == bus.EventData {
				got <- ev.From + ":" + string(ev.Payload)
			}
		}
	}()
	if err := subAP.SendData(ctx, []byte("hello from ap")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != "sub-ap:hello from ap" {
			t.Fatalf("data at eu: %q", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("data from ap never reached eu")
	}
	// A mute on eu is seen on ap; after the unmute media flows again.
	if err := pub.Mute(ctx, track, true); err != nil {
		t.Fatal(err)
	}
	muted := func(want bool) func() bool {
		return func() bool {
			for _, ti := range subAP.Tracks() {
				if ti.ID == track.ID() {
					return ti.Muted == want
				}
			}
			return false
		}
	}
	if err := subAP.WaitUntil(ctx, muted(true)); err != nil {
		t.Fatalf("ap does not learn of the mute on eu: %v", err)
	}
	if err := pub.Mute(ctx, track, false); err != nil {
		t.Fatal(err)
	}
	if err := subAP.WaitUntil(ctx, muted(false)); err != nil {
		t.Fatalf("ap does not learn of the unmute: %v", err)
	}
	before := rt.Stats().Packets
	testenv.WaitFor(t, 10*time.Second, "media at ap after the unmute", func() bool { return rt.Stats().Packets > before+20 })
	// The admin kicks the participant on us, through any controller.
	req, _ := http.NewRequest(http.MethodDelete, controller+"/v1/admin/rooms/default/world/participants/sub-us", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("kick: %d", resp.StatusCode)
	}
	// ap sees the participant on us leave.
	if err := subAP.WaitUntil(ctx, func() bool {
		for _, p := range subAP.Participants() {
			if p.Identity == "sub-us" {
				return false
			}
		}
		return true
	}); err != nil {
		t.Fatalf("ap still lists the kicked participant: %+v", subAP.Participants())
	}
}

// TestMultiHopByRoutes: with relay.links allowing eu-us and us-ap only,
// the leader's routing tables send eu's media to ap through us.
func TestMultiHopByRoutes(t *testing.T) {
	urls, out := startRegions(t, [][]string{{"eu", "us"}, {"us", "ap"}})
	testenv.WaitFor(t, 20*time.Second, "eu routes to ap through us", func() bool {
		return regexp.MustCompile(`msg="routing table" component=sfu node=sfu-eu-1 .*routes=2`).MatchString(out.String())
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	connect := func(ip, identity string) *client.Client {
		return joinRegion(t, ctx, urls["signal-1"], "hops", ip, identity)
	}
	pub := connect("10.1.0.1", "pub-eu")
	tracks, err := pub.Publish(ctx, client.TrackSpec{Codec: client.CodecVP8, FPS: 15})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.WaitPublished(ctx, tracks...); err != nil {
		t.Fatal(err)
	}
	sub := connect("10.3.0.1", "sub-ap")
	rt := subscribe(t, ctx, sub, tracks[0].ID())
	testenv.WaitFor(t, 20*time.Second, "media at ap", func() bool { return rt.Stats().Packets > 60 })
	// Bytes, not datagrams: probes cross every link, media only eu-us-ap.
	toUS := metric(t, urls["sfu-eu-1"], `rtcloud_relay_bytes_total{direction="out",node="sfu-eu-1",peer="sfu-us-1"}`)
	toAP := metric(t, urls["sfu-eu-1"], `rtcloud_relay_bytes_total{direction="out",node="sfu-eu-1",peer="sfu-ap-1"}`)
	transit := metric(t, urls["sfu-us-1"], `rtcloud_sfu_relay_transit_packets_total{node="sfu-us-1"}`)
	t.Logf("eu -> us %v bytes, eu -> ap %v bytes; us passed on %v packets", toUS, toAP, transit)
	if transit < 50 || toAP > toUS/10 {
		t.Fatalf("media did not go through us: eu -> us %v, eu -> ap %v, transit at us %v", toUS, toAP, transit)
	}
}

// whepInAnotherRegion: a WHEP viewer in ap watches the eu publisher from
// its own node; a WHIP publisher in us is watched by WHEP from eu.
func whepInAnotherRegion(t *testing.T, ctx context.Context, urls map[string]string, room string) {
	t.Helper()
	proxyAP := regionProxy(t, urls["signal-1"], "10.3.0.2")
	whep, err := client.WatchWHEP(ctx, proxyAP+"/whep/"+room+"/pub-eu", testenv.Mint(t, "default", room, "whep-ap"),
		client.MediaOptions{IPFilter: client.LoopbackOnly, Logger: testenv.Logger()})
	if err != nil {
		t.Fatalf("WHEP in ap: %v", err)
	}
	defer whep.Close(context.Background())
	testenv.WaitFor(t, 20*time.Second, "WHEP viewer in ap receives", func() bool {
		rt := whep.RemoteTrack(bus.KindVideo)
		return rt != nil && rt.Stats().Packets > 30
	})
	if got := metric(t, urls["sfu-ap-1"], `rtcloud_sfu_sessions{node="sfu-ap-1"}`); got != 2 {
		t.Errorf("sfu-ap-1 has %v sessions with the WHEP viewer, want 2", got)
	}
	// A WHIP publisher in us, on its own node, watched by WHEP from eu.
	proxyUS, proxyEU := regionProxy(t, urls["signal-1"], "10.2.0.7"), regionProxy(t, urls["signal-1"], "10.1.0.7")
	whip, err := client.PublishWHIP(ctx, proxyUS+"/whip/"+room, testenv.Mint(t, "default", room, "whip-us"),
		client.MediaOptions{IPFilter: client.LoopbackOnly, Logger: testenv.Logger()}, client.TrackSpec{Codec: client.CodecVP8, FPS: 15})
	if err != nil {
		t.Fatalf("WHIP in us: %v", err)
	}
	defer whip.Close(context.Background())
	whepEU, err := client.WatchWHEP(ctx, proxyEU+"/whep/"+room+"/whip-us", testenv.Mint(t, "default", room, "whep-eu"),
		client.MediaOptions{IPFilter: client.LoopbackOnly, Logger: testenv.Logger()})
	if err != nil {
		t.Fatalf("WHEP in eu of the WHIP publisher in us: %v", err)
	}
	defer whepEU.Close(context.Background())
	testenv.WaitFor(t, 20*time.Second, "WHEP viewer in eu receives the WHIP publisher in us", func() bool {
		rt := whepEU.RemoteTrack(bus.KindVideo)
		return rt != nil && rt.Stats().Packets > 30
	})
}

// streamDirectory: the admin API lists the stream with its origin and the
// nodes holding a copy.
func streamDirectory(t *testing.T, controller, admin, room string) {
	t.Helper()
	testenv.WaitFor(t, 10*time.Second, "stream holders in the directory", func() bool {
		req, _ := http.NewRequest(http.MethodGet, controller+"/v1/admin/streams?room="+room, nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body struct {
			Streams []struct {
				Origin  string                      `json:"origin"`
				Track   bus.TrackInfo               `json:"track"`
				Holders map[string]bus.StreamHolder `json:"holders"`
				Paths   map[string][]string         `json:"paths"`
			} `json:"streams"`
		}
		if json.NewDecoder(resp.Body).Decode(&body) != nil {
			return false
		}
		for _, s := range body.Streams {
			if s.Track.Identity == "pub-eu" {
				return s.Origin == "sfu-eu-1" && s.Holders["sfu-us-1"].From == "sfu-eu-1" &&
					s.Holders["sfu-ap-1"].From == "sfu-eu-1" && len(s.Paths["sfu-ap-1"]) == 2
			}
		}
		return false
	})
}

// startRegions starts a local cluster of three nodes in eu, us and ap
// (one controller, one signaling server trusting loopback proxies, the
// given relay links), waits until the controller places by region, and
// returns the children's URLs and the cluster's output.
func startRegions(t *testing.T, links [][]string) (map[string]string, *testenv.LogBuffer) {
	t.Helper()
	exe := testenv.Binary(t)
	base := freeBase(t)
	out := &testenv.LogBuffer{}
	cl, err := Start(Options{Exe: exe, Nodes: 3, Regions: []string{"eu", "us", "ap"}, SignalPort: base, ControllerPort: base + 100,
		Signals: 1, Controllers: 1, AdvertiseIP: "127.0.0.1", TrustedProxies: []string{"127.0.0.1"}, RelayLinks: links,
		Out: out, Info: out, Logger: testenv.Logger(), LogLevel: "info"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cl.Stop()
		if t.Failed() {
			t.Logf("cluster output:\n%s", out.String())
		}
	})
	urls := map[string]string{}
	for _, c := range cl.Children {
		urls[c.Name] = c.URL
	}
	for _, name := range []string{"controller-1", "signal-1", "sfu-eu-1", "sfu-us-1", "sfu-ap-1"} {
		testenv.WaitFor(t, 20*time.Second, name+" healthy", func() bool { return getJSON(urls[name]+"/healthz", nil) == 200 })
	}
	testenv.WaitFor(t, 20*time.Second, "placement by region", func() bool {
		for ip, node := range map[string]string{"10.1.0.1": "sfu-eu-1", "10.2.0.1": "sfu-us-1", "10.3.0.1": "sfu-ap-1"} {
			var a struct{ Node bus.NodeInfo }
			if getJSON(urls["controller-1"]+"/v1/allocate?room=probe&ip="+ip, &a); a.Node.ID != node {
				return false
			}
		}
		return true
	})
	return urls, out
}

// joinRegion joins identity to room through a trusted proxy that says the
// client comes from ip.
func joinRegion(t *testing.T, ctx context.Context, signal, room, ip, identity string) *client.Client {
	t.Helper()
	tok := testenv.Mint(t, "default", room, identity)
	var c *client.Client
	testenv.WaitFor(t, 20*time.Second, identity+" joins", func() bool {
		var err error
		c, err = client.Connect(ctx, wsURL(regionProxy(t, signal, ip)), tok, client.Options{Name: identity, Logger: testenv.Logger(),
			Media: client.MediaOptions{IPFilter: client.LoopbackOnly, Logger: testenv.Logger()}})
		if err != nil && !client.IsCode(err, protocol.CodeUnavailable) {
			t.Fatalf("%s joins: %v", identity, err)
		}
		return err == nil
	})
	t.Cleanup(c.Close)
	return c
}
