package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/pkg/client"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { testenv.RemoveBinary() }))
}

// freeBase finds a port p with p, p+1..p+3 (TCP and UDP) and p+10 free.
func freeBase(t *testing.T) int {
	t.Helper()
	for range 50 {
		p := 20000 + rand.IntN(30000)
		ok := true
		for _, q := range []int{p, p + 1, p + 2, p + 3, p + 10, p + 100, p + 101} {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", q))
			if err != nil {
				ok = false
				break
			}
			ln.Close()
			pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", q))
			if err != nil {
				ok = false
				break
			}
			pc.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free ports")
	return 0
}

func getJSON(url string, v any) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if v != nil {
		_ = json.NewDecoder(resp.Body).Decode(v)
	}
	return resp.StatusCode
}

// The local cluster as `rtcloud dev --nodes 3 --regions eu,us,ap` starts
// it: 3 SFU nodes, 2 controllers, 2 signaling servers, each a process.
func TestLocalCluster(t *testing.T) {
	exe := testenv.Binary(t)
	base := freeBase(t)
	var out testenv.LogBuffer
	cl, err := Start(Options{Exe: exe, Nodes: 3, Regions: []string{"eu", "us", "ap"}, SignalPort: base, ControllerPort: base + 100,
		AdvertiseIP: "127.0.0.1", Out: &out, Info: &out, Logger: testenv.Logger(), LogLevel: "info"})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			cl.Stop()
		}
		if t.Failed() {
			t.Logf("cluster output:\n%s", out.String())
		}
	}()
	urls := map[string]string{}
	for _, c := range cl.Children {
		urls[c.Name] = c.URL
	}
	for _, name := range []string{"controller-1", "controller-2", "signal-1", "signal-2", "sfu-eu-1", "sfu-us-1", "sfu-ap-1"} {
		testenv.WaitFor(t, 20*time.Second, name+" healthy", func() bool { return getJSON(urls[name]+"/healthz", nil) == 200 })
	}
	// Every SFU node serves its own Prometheus metrics.
	for _, name := range []string{"sfu-eu-1", "sfu-us-1", "sfu-ap-1"} {
		resp, err := http.Get(urls[name] + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := `rtcloud_sfu_sessions{node="` + name + `"}`; !strings.Contains(string(body), want) {
			t.Errorf("%s /metrics lacks %s", name, want)
		}
	}
	type alloc struct {
		Node   bus.NodeInfo
		Reason string
	}
	allocate := func(ctl, room, ip string) alloc {
		var a alloc
		getJSON(urls[ctl]+"/v1/allocate?room="+room+"&ip="+ip, &a)
		return a
	}
	// Placement by region, through either controller, once both have
	// heard every node (a fresh room each try: same-node rooms stick).
	try := 0
	testenv.WaitFor(t, 30*time.Second, "placement by region", func() bool {
		try++
		room := func(r string) string { return fmt.Sprintf("%s-%d", r, try) }
		return allocate("controller-1", room("eu"), "10.1.0.1").Node.ID == "sfu-eu-1" &&
			allocate("controller-2", room("us"), "10.2.0.1").Node.ID == "sfu-us-1" &&
			allocate("controller-2", room("ap"), "10.3.0.1").Node.ID == "sfu-ap-1" &&
			allocate("controller-1", room("ap2"), "10.3.0.1").Node.ID == "sfu-ap-1"
	})
	if !strings.Contains(out.String(), "client placed") {
		t.Error("controllers do not log placements")
	}

	mediaAcrossSignalServers(t, urls["signal-1"], urls["signal-2"], cl)

	// A killed SFU node is avoided within 3 s.
	if err := cl.Kill("sfu-us-1"); err != nil {
		t.Fatal(err)
	}
	took := testenv.WaitFor(t, 3500*time.Millisecond, "sfu-us-1 avoided", func() bool {
		return allocate("controller-1", fmt.Sprintf("new-%d", time.Now().UnixNano()), "10.2.0.1").Node.ID != "sfu-us-1"
	})
	t.Logf("new joins avoid the killed node %v after its death", took)

	// A killed leader is replaced within 3 s.
	type status struct {
		Leader bool
		ID     string
	}
	var leader, standby string
	testenv.WaitFor(t, 5*time.Second, "a leader", func() bool {
		var s1, s2 status
		getJSON(urls["controller-1"]+"/v1/status", &s1)
		getJSON(urls["controller-2"]+"/v1/status", &s2)
		switch {
		case s1.Leader && !s2.Leader:
			leader, standby = "controller-1", "controller-2"
		case s2.Leader && !s1.Leader:
			leader, standby = "controller-2", "controller-1"
		default:
			return false
		}
		return true
	})
	if err := cl.Kill(leader); err != nil {
		t.Fatal(err)
	}
	took = testenv.WaitFor(t, 3*time.Second, "standby leads", func() bool {
		var s status
		return getJSON(urls[standby]+"/v1/status", &s) == 200 && s.Leader
	})
	t.Logf("%s took over %v after %s was killed", standby, took, leader)
	if a := allocate(standby, "after-leader", "10.3.0.1"); a.Node.ID != "sfu-ap-1" {
		t.Fatalf("allocate after the leader died: %+v", a)
	}

	cl.Stop()
	stopped = true
	for _, c := range cl.Children {
		if c.cmd.ProcessState == nil {
			t.Errorf("%s still running after Stop", c.Name)
		}
	}
}

// mediaAcrossSignalServers joins a publisher and a subscriber through one
// signaling server and another subscriber through the other, checks media
// flows, then kills the first server: media keeps flowing, the publisher
// and its subscriber reconnect through the survivor with the same
// sessions, room state and media (no renegotiation), and new requests go
// through the new server.
func mediaAcrossSignalServers(t *testing.T, sig1, sig2 string, cl *Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ws1, ws2 := wsURL(sig1), wsURL(sig2)
	pub := join(t, ctx, ws1, "pub")
	tracks, err := pub.Publish(ctx, client.TrackSpec{Codec: client.CodecVP8, FPS: 15})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.WaitPublished(ctx, tracks...); err != nil {
		t.Fatal(err)
	}
	trackID := tracks[0].ID()
	sub := join(t, ctx, ws2, "sub")
	rt := subscribe(t, ctx, sub, trackID)
	testenv.WaitFor(t, 20*time.Second, "media across signaling servers", func() bool { return rt.Stats().Packets > 50 })
	sub1 := join(t, ctx, ws1, "sub1")
	rt1 := subscribe(t, ctx, sub1, trackID)
	testenv.WaitFor(t, 20*time.Second, "media to sub1", func() bool { return rt1.Stats().Packets > 20 })
	pubID, sub1ID := pub.SessionID(), sub1.SessionID()

	if err := cl.Kill("signal-1"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Client{pub, sub1} {
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the WebSocket outlived its killed server", c.Self().Identity)
		}
	}
	before, before1 := rt.Stats().Packets, rt1.Stats().Packets
	testenv.WaitFor(t, 5*time.Second, "media after the publisher's signaling server died", func() bool {
		return rt.Stats().Packets > before+50 && rt1.Stats().Packets > before1+50
	})

	// Both reconnect through the survivor and keep everything.
	for _, c := range []*client.Client{pub, sub1} {
		if err := c.Reconnect(ctx, ws2); err != nil {
			t.Fatalf("%s reconnects through signal-2: %v", c.Self().Identity, err)
		}
	}
	if pub.SessionID() != pubID || sub1.SessionID() != sub1ID {
		t.Fatalf("sessions after reconnect %s %s, want %s %s", pub.SessionID(), sub1.SessionID(), pubID, sub1ID)
	}
	state := map[string]bus.ParticipantInfo{}
	for _, p := range sub1.Participants() {
		state[p.Identity] = p
	}
	if p := state["pub"]; p.SessionID != pubID || len(p.Tracks) != 1 || p.Tracks[0].ID != trackID || state["sub"].SessionID != sub.SessionID() {
		t.Fatalf("sub1's room state after reconnect: %+v", state)
	}
	if n := len(pub.Participants()); n != 3 {
		t.Fatalf("pub sees %d participants after reconnect, want 3: %+v", n, pub.Participants())
	}
	before1 = rt1.Stats().Packets
	testenv.WaitFor(t, 5*time.Second, "sub1's media after the reconnect", func() bool { return rt1.Stats().Packets > before1+50 })

	// New requests through the new server: a mute reaches sub1 as an
	// event, and a newcomer receives the publisher.
	if err := pub.Mute(ctx, tracks[0], true); err != nil {
		t.Fatal(err)
	}
	if err := sub1.WaitUntil(ctx, func() bool {
		for _, ti := range sub1.Tracks() {
			if ti.ID == trackID && ti.Muted {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("sub1 does not learn of the mute: %v", err)
	}
	if err := pub.Mute(ctx, tracks[0], false); err != nil {
		t.Fatal(err)
	}
	late := join(t, ctx, ws2, "late")
	rtLate := subscribe(t, ctx, late, trackID)
	testenv.WaitFor(t, 10*time.Second, "a newcomer receives the publisher", func() bool { return rtLate.Stats().Packets > 30 })
}

func wsURL(httpURL string) string { return "ws" + strings.TrimPrefix(httpURL, "http") + "/ws" }

// join connects identity to the room "across", retrying while no node is
// known yet; the client is closed when the test ends.
func join(t *testing.T, ctx context.Context, ws, identity string) *client.Client {
	t.Helper()
	tok := testenv.Mint(t, "default", "across", identity)
	for {
		c, err := client.Connect(ctx, ws, tok, client.Options{Name: identity, Logger: testenv.Logger(),
			Media: client.MediaOptions{IPFilter: client.LoopbackOnly, Logger: testenv.Logger()}})
		if err == nil {
			t.Cleanup(c.Close)
			return c
		}
		if !client.IsCode(err, protocol.CodeUnavailable) || ctx.Err() != nil {
			t.Fatalf("%s joins through %s: %v", identity, ws, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// subscribe waits until c sees the track and subscribes to it.
func subscribe(t *testing.T, ctx context.Context, c *client.Client, trackID string) *client.RemoteTrack {
	t.Helper()
	if _, err := c.WaitTracks(ctx, 1, func(ti bus.TrackInfo) bool { return ti.ID == trackID }); err != nil {
		t.Fatalf("%s does not see track %s: %v (client error %v, close reason %q)", c.Self().Identity, trackID, err, c.Err(), c.ClosedReason())
	}
	rt, err := c.Subscribe(ctx, trackID, "")
	if err != nil {
		t.Fatal(err)
	}
	return rt
}
