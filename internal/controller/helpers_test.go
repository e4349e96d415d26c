package controller

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startNATS(t *testing.T) string { return testenv.StartNATS(t).ClientURL() }

func connect(t *testing.T, url string, replicas int) *bus.Client {
	t.Helper()
	return testenv.ConnectWith(t, bus.Options{URLs: url, KVReplicas: replicas})
}

// testConfig is a controller config with a CIDR table of three regions.
func testConfig() config.Controller {
	c := config.DefaultController()
	c.Policy = config.PolicySameNode
	c.GeoIP.CIDRs = []config.GeoCIDR{
		{CIDR: "10.1.0.0/16", Region: "eu"},
		{CIDR: "10.2.0.0/16", Region: "us"},
		{CIDR: "10.3.0.0/16", Region: "ap"},
	}
	c.Pools = map[string][]string{"gold": {"gold-*"}}
	c.Namespaces = map[string]config.NamespacePlacement{
		"acme": {Pools: []string{"gold"}},
		"near": {Policy: config.PolicyNearest},
	}
	return c
}

type instance struct {
	*Controller
	url string
}

func startController(t *testing.T, natsURL string, cfg config.Controller, replicas int) *instance {
	t.Helper()
	return startControllerWith(t, natsURL, Options{Config: cfg}, replicas)
}

// startControllerWith starts a controller with o, filling in the bus,
// verifier and logger.
func startControllerWith(t *testing.T, natsURL string, o Options, replicas int) *instance {
	t.Helper()
	// Opening a dozen buckets replicated on a fresh three-server cluster
	// takes seconds on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	o.Bus, o.Verifier, o.Logger = connect(t, natsURL, replicas), auth.NewVerifier(map[string]string{auth.DevKey: auth.DevSecret}), testenv.Logger()
	c, err := New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(func() { srv.Close(); c.Close() })
	return &instance{Controller: c, url: srv.URL}
}

// fakeNode stands in for an SFU node on the bus: heartbeats, room state,
// close and drain commands.
type fakeNode struct {
	mu     sync.Mutex
	info   bus.NodeInfo
	parts  []bus.ParticipantInfo
	closed []bus.Close
	drain  []bool
	fwd    []bus.Forward

	b    *bus.Client
	sub  *nats.Subscription
	stop chan struct{}
	done chan struct{}
}

func startNode(t *testing.T, natsURL string, info bus.NodeInfo) *fakeNode {
	t.Helper()
	n := &fakeNode{info: info, b: connect(t, natsURL, 1), stop: make(chan struct{}), done: make(chan struct{})}
	var err error
	n.sub, err = n.b.Subscribe(bus.NodeCommands(info.ID), n.serve)
	if err != nil {
		t.Fatal(err)
	}
	go n.beat()
	t.Cleanup(n.kill)
	return n
}

func (n *fakeNode) beat() {
	defer close(n.done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		n.mu.Lock()
		info := n.info
		n.mu.Unlock()
		info.SentAt = time.Now()
		_ = n.b.Publish(bus.NodeHeartbeats, info)
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
	}
}

// kill stops heartbeats and commands, as if the node died.
func (n *fakeNode) kill() {
	select {
	case <-n.stop:
		return
	default:
	}
	close(n.stop)
	<-n.done
	_ = n.sub.Unsubscribe()
}

func (n *fakeNode) set(fn func(*bus.NodeInfo)) {
	n.mu.Lock()
	fn(&n.info)
	n.mu.Unlock()
}

func (n *fakeNode) serve(m *nats.Msg) {
	switch {
	case strings.HasSuffix(m.Subject, "."+bus.CmdRoomState), strings.HasSuffix(m.Subject, "."+bus.CmdRoomStateLocal):
		bus.ServeMsg(m, func(_ context.Context, req bus.RoomStateRequest) (any, error) {
			n.mu.Lock()
			defer n.mu.Unlock()
			st := bus.RoomState{Participants: []bus.ParticipantInfo{}}
			for _, p := range n.parts {
				if p.Namespace == req.Namespace && p.Room == req.Room {
					st.Participants = append(st.Participants, p)
				}
			}
			return st, nil
		})
	case strings.HasSuffix(m.Subject, "."+bus.CmdClose):
		bus.ServeMsg(m, func(_ context.Context, req bus.Close) (any, error) {
			n.mu.Lock()
			defer n.mu.Unlock()
			n.closed = append(n.closed, req)
			kept := n.parts[:0]
			for _, p := range n.parts {
				if p.SessionID != req.SessionID {
					kept = append(kept, p)
				}
			}
			n.parts = kept
			return bus.Reply{}, nil
		})
	case strings.HasSuffix(m.Subject, "."+bus.CmdForward):
		bus.ServeMsg(m, func(_ context.Context, req bus.Forward) (any, error) {
			n.mu.Lock()
			defer n.mu.Unlock()
			n.fwd = append(n.fwd, req)
			return bus.Reply{}, nil
		})
	case strings.HasSuffix(m.Subject, "."+bus.CmdDrain):
		bus.ServeMsg(m, func(_ context.Context, req bus.Drain) (any, error) {
			n.mu.Lock()
			defer n.mu.Unlock()
			n.drain = append(n.drain, req.Draining)
			n.info.Draining = req.Draining
			return bus.Reply{}, nil
		})
	}
}

// call does an HTTP request and decodes the JSON answer into out.
func call(t *testing.T, method, url, token string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: content type %q, body %s", method, url, ct, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, body)
		}
	}
	return resp.StatusCode
}

func token(t *testing.T, g auth.Grant) string {
	t.Helper()
	return testenv.MintWith(t, auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: "ops", Grant: g})
}

// allocate places a room with a token for it, so the placement is stored
// (an anonymous allocate only previews it).
func allocate(t *testing.T, base, ns, room, ip string) (allocationJSON, int) {
	t.Helper()
	var a allocationJSON
	tok := token(t, auth.Grant{Namespace: ns, Room: room, Publish: true, Subscribe: true})
	code := call(t, "GET", base+"/v1/allocate?namespace="+ns+"&room="+room+"&ip="+ip, tok, &a)
	return a, code
}

// waitNodes waits until the controller sees n live nodes.
func waitNodes(t *testing.T, c *instance, n int) {
	t.Helper()
	testenv.WaitFor(t, 5*time.Second, "controller sees the nodes", func() bool { return len(c.liveNodes()) == n })
}
