package cluster

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bench"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

// TestNodeDeathMovesItsParticipants kills (SIGKILL) the SFU node that
// serves a room with a publisher and subscribers, all Go clients driven by
// the load generator: the signaling server learns of the death within
// about a second, tells each client to rejoin, and every one of them gets
// media again from the surviving node, in a new session.
func TestNodeDeathMovesItsParticipants(t *testing.T) {
	cl, urls, nodes, out := twoNodeCluster(t)
	// The conference page gets its token from /dev/token on a dev cluster.
	if code := getJSON(urls["signal-1"]+"/dev/token?room=demo&identity=ann", nil); code != http.StatusOK {
		t.Errorf("GET /dev/token on the dev cluster: %d, want 200", code)
	}
	goroutines := map[string]float64{}
	for _, n := range nodes {
		if goroutines[n] = metricValue(urls[n], "go_goroutines"); goroutines[n] <= 0 {
			t.Fatalf("%s does not report go_goroutines", n)
		}
	}
	killed := ""
	rep := benchAround(t, urls, func() {
		killed = roomNode(t, urls, nodes)
		if err := cl.Kill(killed); err != nil {
			t.Error(err)
		}
	})
	t.Logf("killed %s", killed)
	checkMoved(t, rep)
	if rep.Recovered != rep.Joined {
		t.Errorf("%d of %d subscribers saw the interruption and recovered", rep.Recovered, rep.Joined)
	}
	if !strings.Contains(out.String(), "clients told to rejoin elsewhere") {
		t.Error("the signaling server never moved the dead node's clients")
	}
	// The survivor leaks nothing: once the clients have left, no session
	// is left and its goroutines are back to about what it ran before.
	for _, n := range nodes {
		if n == killed {
			continue
		}
		testenv.WaitFor(t, 15*time.Second, n+" has no session left", func() bool { return testenv.NodeSessions(urls[n], n) == 0 })
		testenv.WaitFor(t, 15*time.Second, n+"'s goroutines back to its idle count", func() bool {
			return metricValue(urls[n], "go_goroutines") <= goroutines[n]+10
		})
	}
}

// metricValue reads one unlabelled sample of the Prometheus metrics at base
// (-1 when it is not there).
func metricValue(base, name string) float64 {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// TestDrainMigratesParticipants drains the room's node with migration
// through the admin API: every participant moves to the other node and
// gets media again, and the drained node is left empty.
func TestDrainMigratesParticipants(t *testing.T) {
	_, urls, nodes, _ := twoNodeCluster(t)
	admin := testenv.MintWith(t, auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: "ops",
		Grant: auth.Grant{Namespace: "default", Room: "*", Admin: true}})
	drained := ""
	rep := benchAround(t, urls, func() {
		drained = roomNode(t, urls, nodes)
		req, _ := http.NewRequest(http.MethodPost, urls["controller-1"]+"/v1/admin/nodes/"+drained+"/drain?migrate=true", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("drain with migration: %s", resp.Status)
		}
	})
	t.Logf("drained %s", drained)
	checkMoved(t, rep)
	if n := testenv.NodeSessions(urls[drained], drained); n != 0 {
		t.Errorf("the drained node still serves %d sessions", n)
	}
}

// TestShutdownMigratesParticipants stops the room's node with SIGTERM, as
// Kubernetes does in a rolling upgrade: with sfu.migrate_on_shutdown the
// node first moves every participant to the other node, then exits.
func TestShutdownMigratesParticipants(t *testing.T) {
	cl, urls, nodes, out := twoNodeCluster(t, "RTCLOUD_MIGRATE_ON_SHUTDOWN=10s")
	stopped := ""
	rep := benchAround(t, urls, func() {
		stopped = roomNode(t, urls, nodes)
		if err := cl.Terminate(stopped); err != nil {
			t.Error(err)
		}
	})
	t.Logf("stopped %s", stopped)
	checkMoved(t, rep)
	if !strings.Contains(out.String(), "migrating the node's sessions to other nodes") {
		t.Error("the stopping node did not migrate its sessions")
	}
	testenv.WaitFor(t, 10*time.Second, stopped+" exits", func() bool { return testenv.NodeSessions(urls[stopped], stopped) == -1 })
}

// twoNodeCluster starts two SFU nodes, one controller and one signaling
// server (with env added to each child's environment), and waits until
// each is healthy.
func twoNodeCluster(t *testing.T, env ...string) (*Cluster, map[string]string, []string, *testenv.LogBuffer) {
	t.Helper()
	exe := testenv.Binary(t)
	base := freeBase(t)
	out := &testenv.LogBuffer{}
	cl, err := Start(Options{Exe: exe, Nodes: 2, Signals: 1, Controllers: 1, SignalPort: base, ControllerPort: base + 100,
		AdvertiseIP: "127.0.0.1", Out: out, Info: out, Logger: testenv.Logger(), LogLevel: "info", DevTokens: true, ExtraEnv: env,
		// The whole room on one node, so killing it moves everyone.
		Policy: "same-node"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cl.Stop()
		if t.Failed() {
			t.Logf("cluster output:\n%s", out.Tail(200))
		}
	})
	urls := map[string]string{}
	var nodes []string
	for _, c := range cl.Children {
		urls[c.Name] = c.URL
		if strings.HasPrefix(c.Name, "sfu-") {
			nodes = append(nodes, c.Name)
		}
	}
	for name := range urls {
		testenv.WaitFor(t, 20*time.Second, name+" healthy", func() bool { return getJSON(urls[name]+"/healthz", nil) == 200 })
	}
	return cl, urls, nodes, out
}

// roomNode is the node that serves the bench's room.
func roomNode(t *testing.T, urls map[string]string, nodes []string) string {
	for _, n := range nodes {
		if testenv.NodeSessions(urls[n], n) > 0 {
			return n
		}
	}
	t.Error("no node serves the room")
	return ""
}

// benchAround runs the load generator (1 publisher, 4 subscribers) through
// signal-1 and calls act when its measured window starts.
func benchAround(t *testing.T, urls map[string]string, act func()) *bench.Report {
	t.Helper()
	o := bench.Options{URL: wsURL(urls["signal-1"]), MetricsURL: "-", Subscribers: 4, VideoKbps: 300,
		Duration: 6 * time.Second, Settle: 500 * time.Millisecond, JoinRate: 20, Logger: testenv.Logger(),
		DuringWindow: func(context.Context) { act() }}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rep, err := bench.Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rep.WriteTable(&b)
	t.Log("\n" + b.String())
	return rep
}

// checkMoved: the publisher and every subscriber moved, and every
// subscriber gets media again.
func checkMoved(t *testing.T, rep *bench.Report) {
	t.Helper()
	if rep.Moves < 5 {
		t.Errorf("%d sessions moved, want the publisher and 4 subscribers", rep.Moves)
	}
	// Lost counts subscribers receiving nothing in the last 5 s: their
	// old sessions are gone, so what they receive comes from the new ones.
	if rep.Lost != 0 || rep.Joined != 4 {
		t.Errorf("%d of %d subscribers lost their media", rep.Lost, rep.Joined)
	}
}
