package browsertest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/cluster"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

// TestConferenceSurvivesNodeDeath: Alice and Bob talk through the
// conference page on a local cluster of real processes (SFU nodes in eu and
// us, a controller, a signaling server serving the page). Alice's page is
// placed in eu; Bob's comes through a proxy that says he is in us, so each
// page is on its own node and media crosses the relay. Bob's node is killed
// with SIGKILL: Bob's page rejoins on the surviving node by itself and shows
// Alice again; Alice keeps her session and PeerConnection, sees Bob
// reconnect (never leave) and shows his video again.
func TestConferenceSurvivesNodeDeath(t *testing.T) {
	ip := testIP(t)
	exe := testenv.Binary(t)
	base := freePortBlock(t)
	out := &testenv.LogBuffer{}
	cl, err := cluster.Start(cluster.Options{Exe: exe, Nodes: 2, Regions: []string{"eu", "us"}, Signals: 1, Controllers: 1,
		SignalPort: base, ControllerPort: base + 100, AdvertiseIP: ip, TrustedProxies: []string{"127.0.0.1"},
		Out: out, Info: out, Logger: testenv.Logger(), LogLevel: "info", DevTokens: true})
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
	for _, c := range cl.Children {
		urls[c.Name] = c.URL
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
	browser := newBrowser(t)
	alice, bob := newPage(t, browser, "alice"), newPage(t, browser, "bob")
	const room = "failover"
	joinConference(t, &stack{URL: urls["signal-1"], IP: ip}, alice, room, "Alice")
	joinConference(t, &stack{URL: usProxy(t, urls["signal-1"]), IP: ip}, bob, room, "Bob")
	remoteTile(t, alice, "Bob")
	remoteTile(t, bob, "Alice")
	if eu, us := testenv.NodeSessions(urls["sfu-eu-1"], "sfu-eu-1"), testenv.NodeSessions(urls["sfu-us-1"], "sfu-us-1"); eu != 1 || us != 1 {
		t.Fatalf("want one page per node: eu serves %d sessions, us %d", eu, us)
	}
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
	if err := cl.Kill("sfu-us-1"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// Bob moved: a new session and PeerConnection, Alice's video in it.
	eventually(t, 30*time.Second, "bob decodes Alice's video again, from the surviving node", func() error {
		st, err := readPage(bob)
		if err != nil {
			return err
		}
		if st.State != "connected" || !st.NewPC || st.Frames < 30 {
			return fmt.Errorf("state %s, new PeerConnection %v, frames decoded there %d, events %v", st.State, st.NewPC, st.Frames, st.Moves)
		}
		return nil
	})
	// Alice stayed: the same PeerConnection, Bob back in it.
	before, err := readPage(alice)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "alice sees Bob reconnect and decodes his video again", func() error {
		st, err := readPage(alice)
		if err != nil {
			return err
		}
		if st.NewPC {
			return fmt.Errorf("alice's session moved too (new PeerConnection); only Bob's node died")
		}
		if st.State != "connected" || !contains(st.Moves, "reconnected Bob") || st.Frames < before.Frames+30 {
			return fmt.Errorf("state %s, frames %d (then %d), events %v", st.State, st.Frames, before.Frames, st.Moves)
		}
		for _, m := range st.Moves {
			if strings.HasPrefix(m, "left ") {
				return fmt.Errorf("alice saw a departure: %v", st.Moves)
			}
		}
		return nil
	})
	remoteTile(t, alice, "Bob")
	t.Logf("both pages show each other again %v after sfu-us-1 was killed", time.Since(start).Round(10*time.Millisecond))
	if n := testenv.NodeSessions(urls["sfu-eu-1"], "sfu-eu-1"); n != 2 {
		t.Errorf("the surviving node serves %d sessions, want Alice's and Bob's", n)
	}
}

// pageState is what readPage finds in a conference page.
type pageState struct {
	State  string   `json:"state"`
	Moves  []string `json:"moves"`
	Frames int      `json:"frames"` // video frames decoded on the current PeerConnection
	NewPC  bool     `json:"newPC"`  // the PeerConnection is not the one of window.pcBefore
}

func readPage(p *page) (pageState, error) {
	var st pageState
	err := p.eval(`(async () => { const r = window.rtcloudApp.room, pc = r.peerConnection; let n = 0;
		if (pc) (await pc.getStats()).forEach((x) => { if (x.type === 'inbound-rtp' && x.kind === 'video') n += x.framesDecoded ?? 0; });
		return {state: r.state, moves: window.moves, frames: n, newPC: !!pc && pc !== window.pcBefore}; })()`, &st)
	return st, err
}

// usProxy serves target through a proxy that tells it the client is at
// 10.2.0.1, the demo address of region us (the cluster trusts the proxy).
func usProxy(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	director := rp.Director
	rp.Director = func(r *http.Request) {
		director(r)
		r.Header.Set("X-Forwarded-For", "10.2.0.1")
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
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
