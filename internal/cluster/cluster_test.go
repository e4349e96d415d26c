package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/client"
	"github.com/rtcloud/rtcloud/internal/protocol"
	"go.uber.org/goleak"
)

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) {
		if binDir != "" {
			_ = os.RemoveAll(binDir)
		}
	}))
}

func rtcloudBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "rtcloud-cluster-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "rtcloud")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/rtcloud/rtcloud/cmd/rtcloud").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
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

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
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

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// The local cluster as `rtcloud dev --nodes 3 --regions eu,us,ap` starts
// it: 3 SFU nodes, 2 controllers, 2 signaling servers, each a process.
func TestLocalCluster(t *testing.T) {
	exe := rtcloudBinary(t)
	base := freeBase(t)
	var out lockedBuffer
	cl, err := Start(Options{Exe: exe, Nodes: 3, Regions: []string{"eu", "us", "ap"}, SignalPort: base, ControllerPort: base + 100,
		AdvertiseIP: "127.0.0.1", Out: &out, Info: &out, Logger: quiet(), LogLevel: "info"})
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
	for _, name := range []string{"controller-1", "controller-2", "signal-1", "signal-2"} {
		waitFor(t, 20*time.Second, name+" healthy", func() bool { return getJSON(urls[name]+"/healthz", nil) == 200 })
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
	waitFor(t, 30*time.Second, "placement by region", func() bool {
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
	took := waitFor(t, 3500*time.Millisecond, "sfu-us-1 avoided", func() bool {
		return allocate("controller-1", fmt.Sprintf("new-%d", time.Now().UnixNano()), "10.2.0.1").Node.ID != "sfu-us-1"
	})
	t.Logf("new joins avoid the killed node %v after its death", took)

	// A killed leader is replaced within 3 s.
	type status struct {
		Leader bool
		ID     string
	}
	var leader, standby string
	waitFor(t, 5*time.Second, "a leader", func() bool {
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
	took = waitFor(t, 3*time.Second, "standby leads", func() bool {
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

// mediaAcrossSignalServers joins a publisher through one signaling server
// and a subscriber through the other, checks media flows, then kills the
// publisher's signaling server: media keeps flowing.
func mediaAcrossSignalServers(t *testing.T, sig1, sig2 string, cl *Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	join := func(sig, identity string) *client.Client {
		tok, err := auth.Mint(auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: identity,
			Grant: auth.Grant{Namespace: "default", Room: "across", Publish: true, Subscribe: true}})
		if err != nil {
			t.Fatal(err)
		}
		ws := "ws" + strings.TrimPrefix(sig, "http") + "/ws"
		for {
			c, err := client.Connect(ctx, ws, tok, client.Options{Name: identity, Logger: quiet(),
				Media: client.MediaOptions{IPFilter: client.LoopbackOnly, Logger: quiet()}})
			if err == nil {
				t.Cleanup(c.Close)
				return c
			}
			if !client.IsCode(err, protocol.CodeUnavailable) || ctx.Err() != nil {
				t.Fatalf("%s joins through %s: %v", identity, sig, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	pub := join(sig1, "pub")
	tracks, err := pub.Publish(ctx, client.TrackSpec{Codec: client.CodecVP8, FPS: 15})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.WaitPublished(ctx, tracks...); err != nil {
		t.Fatal(err)
	}
	sub := join(sig2, "sub")
	if _, err := sub.WaitTracks(ctx, 1, func(ti bus.TrackInfo) bool { return ti.ID == tracks[0].ID() && ti.Identity == "pub" }); err != nil {
		t.Fatalf("the subscriber does not see the publisher: %v (client error %v, close reason %q)", err, sub.Err(), sub.ClosedReason())
	}
	rt, err := sub.Subscribe(ctx, tracks[0].ID(), "")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "media across signaling servers", func() bool { return rt.Stats().Packets > 50 })
	if err := cl.Kill("signal-1"); err != nil {
		t.Fatal(err)
	}
	before := rt.Stats().Packets
	waitFor(t, 5*time.Second, "media after the publisher's signaling server died", func() bool { return rt.Stats().Packets > before+50 })
}
