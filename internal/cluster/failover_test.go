package cluster

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/bench"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

// sessionsOn reads the number of sessions node name serves from its
// /metrics (-1 when it does not answer).
func sessionsOn(url, name string) int {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^rtcloud_sfu_sessions\{node="` + regexp.QuoteMeta(name) + `"\} (\d+)`).FindSubmatch(body)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// TestNodeDeathMovesItsParticipants kills (SIGKILL) the SFU node that
// serves a room with a publisher and subscribers, all Go clients driven by
// the load generator: the signaling server learns of the death within
// about a second, tells each client to rejoin, and every one of them gets
// media again from the surviving node, in a new session.
func TestNodeDeathMovesItsParticipants(t *testing.T) {
	exe := testenv.Binary(t)
	base := freeBase(t)
	var out testenv.LogBuffer
	cl, err := Start(Options{Exe: exe, Nodes: 2, Signals: 1, Controllers: 1, SignalPort: base, ControllerPort: base + 100,
		AdvertiseIP: "127.0.0.1", Out: &out, Info: &out, Logger: testenv.Logger(), LogLevel: "info", DevTokens: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		cl.Stop()
		if t.Failed() {
			t.Logf("cluster output:\n%s", out.Tail(200))
		}
	}()
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
	// The conference page gets its token from /dev/token on a dev cluster.
	if code := getJSON(urls["signal-1"]+"/dev/token?room=demo&identity=ann", nil); code != http.StatusOK {
		t.Errorf("GET /dev/token on the dev cluster: %d, want 200", code)
	}
	killed := ""
	o := bench.Options{URL: wsURL(urls["signal-1"]), MetricsURL: "-", Subscribers: 4, VideoKbps: 300,
		Duration: 6 * time.Second, Settle: 500 * time.Millisecond, JoinRate: 20, Logger: testenv.Logger(),
		DuringWindow: func(context.Context) {
			for _, n := range nodes {
				if sessionsOn(urls[n], n) > 0 {
					killed = n
					break
				}
			}
			if killed == "" {
				t.Error("no node serves the room")
				return
			}
			if err := cl.Kill(killed); err != nil {
				t.Error(err)
			}
		}}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rep, err := bench.Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rep.WriteTable(&b)
	t.Logf("killed %s\n%s", killed, b.String())
	if rep.Moves < 5 {
		t.Errorf("%d sessions moved, want the publisher and 4 subscribers", rep.Moves)
	}
	if rep.Lost != 0 || rep.Recovered != rep.Joined {
		t.Errorf("after the node's death: %d of %d subscribers recovered, %d lost", rep.Recovered, rep.Joined, rep.Lost)
	}
	if !strings.Contains(out.String(), "clients told to rejoin elsewhere") {
		t.Error("the signaling server never moved the dead node's clients")
	}
}
