package browsertest

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/cluster"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

// TestConferenceSurvivesNodeDeath: Alice and Bob talk through the
// conference page on a local cluster of real processes (two SFU nodes, a
// controller, a signaling server serving the page). The SFU node of their
// room is killed with SIGKILL: both pages rejoin on the other node by
// themselves, show each other's video again, and each saw the other
// reconnect rather than leave.
func TestConferenceSurvivesNodeDeath(t *testing.T) {
	ip := testIP(t)
	exe := testenv.Binary(t)
	base := freePortBlock(t)
	out := &testenv.LogBuffer{}
	cl, err := cluster.Start(cluster.Options{Exe: exe, Nodes: 2, Signals: 1, Controllers: 1, SignalPort: base, ControllerPort: base + 100,
		AdvertiseIP: ip, Out: out, Info: out, Logger: testenv.Logger(), LogLevel: "info", DevTokens: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cl.Stop()
		if t.Failed() {
			t.Logf("cluster output (last lines):\n%s", out.Tail(120))
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
	for name, u := range urls {
		testenv.WaitFor(t, 30*time.Second, name+" healthy", func() bool {
			resp, err := http.Get(u + "/healthz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
	s := &stack{URL: urls["signal-1"], IP: ip}
	browser := newBrowser(t)
	alice, bob := newPage(t, browser, "alice"), newPage(t, browser, "bob")
	const room = "failover"
	joinConference(t, s, alice, room, "Alice")
	joinConference(t, s, bob, room, "Bob")
	remoteTile(t, alice, "Bob")
	remoteTile(t, bob, "Alice")
	for _, p := range []*page{alice, bob} {
		if err := p.eval(`(() => { window.moves = []; const r = window.rtcloudApp.room;
			r.on('participantReconnecting', (p, why) => window.moves.push('reconnecting ' + p.name + ': ' + why));
			r.on('participantReconnected', (p) => window.moves.push('reconnected ' + p.name));
			r.on('participantLeft', (p) => window.moves.push('left ' + p.name));
			window.pcBefore = r.peerConnection;
			return true; })()`, nil); err != nil {
			t.Fatal(err)
		}
	}
	killed := ""
	for _, n := range nodes {
		if sessionsOf(urls[n], n) > 0 {
			killed = n
		}
	}
	if killed == "" {
		t.Fatal("no node serves the room")
	}
	if err := cl.Kill(killed); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, p := range []*page{alice, bob} {
		other := map[*page]string{alice: "Bob", bob: "Alice"}[p]
		eventually(t, 30*time.Second, p.name+" decodes "+other+"'s video again, from the other node", func() error {
			var st struct {
				State  string   `json:"state"`
				Moves  []string `json:"moves"`
				Frames int      `json:"frames"`
				NewPC  bool     `json:"newPC"`
			}
			if err := p.eval(`(async () => { const r = window.rtcloudApp.room, pc = r.peerConnection; let n = 0;
				if (pc) (await pc.getStats()).forEach((x) => { if (x.type === 'inbound-rtp' && x.kind === 'video') n += x.framesDecoded ?? 0; });
				return {state: r.state, moves: window.moves, frames: n, newPC: !!pc && pc !== window.pcBefore}; })()`, &st); err != nil {
				return err
			}
			// A new session has a new PeerConnection: its frames are the
			// ones decoded since the move.
			if st.State != "connected" || !st.NewPC || st.Frames < 30 || !contains(st.Moves, "reconnected "+other) {
				return fmt.Errorf("state %s, new PeerConnection %v, frames decoded there %d, events %v", st.State, st.NewPC, st.Frames, st.Moves)
			}
			for _, m := range st.Moves {
				if strings.HasPrefix(m, "left ") {
					return fmt.Errorf("%s saw a departure: %v", p.name, st.Moves)
				}
			}
			return nil
		})
	}
	t.Logf("both pages decode video again %v after %s was killed", time.Since(start).Round(10*time.Millisecond), killed)
	survivor := nodes[0]
	if survivor == killed {
		survivor = nodes[1]
	}
	if n := sessionsOf(urls[survivor], survivor); n != 2 {
		t.Errorf("the surviving node %s serves %d sessions, want Alice's and Bob's", survivor, n)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sessionsOf reads how many sessions node name serves from its /metrics
// (-1 when it does not answer).
func sessionsOf(url, name string) int {
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

// freePortBlock finds a port p with p..p+3, p+10 and p+100..p+122 free
// (TCP and UDP), the ports a local cluster takes.
func freePortBlock(t *testing.T) int {
	t.Helper()
	free := func(q int) bool {
		ln, err := net.Listen("tcp", "0.0.0.0:"+strconv.Itoa(q))
		if err != nil {
			return false
		}
		ln.Close()
		pc, err := net.ListenPacket("udp", "0.0.0.0:"+strconv.Itoa(q))
		if err != nil {
			return false
		}
		pc.Close()
		return true
	}
	for range 50 {
		p := 20000 + rand.IntN(30000)
		ok := true
		for _, q := range []int{p, p + 1, p + 2, p + 3, p + 10, p + 100, p + 101, p + 120, p + 121, p + 122} {
			ok = ok && free(q)
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free ports")
	return 0
}
