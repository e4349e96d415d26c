package signal

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

// reader is a WebSocket client that reads as fast as it can and only
// counts what it gets, so it can never be the slow one.
type reader struct {
	ws     *websocket.Conn
	data   atomic.Int64
	mu     sync.Mutex
	codes  map[string]int
	joined chan struct{}
	pong   chan struct{}
	done   chan struct{}
	err    error
}

func dialReader(t *testing.T, h *harness, token string) *reader {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(h.web.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(4 << 20)
	r := &reader{ws: ws, codes: map[string]int{}, joined: make(chan struct{}), pong: make(chan struct{}, 1), done: make(chan struct{})}
	go r.loop()
	t.Cleanup(func() { _ = ws.CloseNow(); <-r.done })
	r.write(t, protocol.Message{Type: protocol.TypeJoin, Token: token})
	select {
	case <-r.joined:
	case <-r.done:
		t.Fatalf("join failed: %v", r.err)
	case <-time.After(5 * time.Second):
		t.Fatal("no joined")
	}
	return r
}

func (r *reader) loop() {
	defer close(r.done)
	for {
		_, data, err := r.ws.Read(context.Background())
		if err != nil {
			r.err = err
			return
		}
		var m protocol.Message
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		switch m.Type {
		case protocol.TypeJoined:
			close(r.joined)
		case protocol.TypeData:
			r.data.Add(1)
		case protocol.TypePong:
			r.pong <- struct{}{}
		case protocol.TypeError:
			r.mu.Lock()
			r.codes[m.Error.Code]++
			r.mu.Unlock()
		}
	}
}

func (r *reader) write(t *testing.T, m protocol.Message) {
	t.Helper()
	data, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.ws.Write(ctx, websocket.MessageText, data); err != nil {
		t.Fatalf("write: %v (connection: %v)", err, r.err)
	}
}

// alive checks a ping round trip.
func (r *reader) alive(t *testing.T, who string) {
	t.Helper()
	r.write(t, protocol.Message{Type: protocol.TypePing, ID: "p"})
	select {
	case <-r.pong:
	case <-r.done:
		t.Fatalf("%s was disconnected: %v", who, r.err)
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no pong", who)
	}
}

// A burst of data messages from one participant is cut by its rate limit
// and never disconnects the others, who read as fast as they can.
func TestDataFloodDoesNotDisconnectOthers(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, func(o *Options) { o.SendQueue = 32; o.Metrics = reg })
	var others []*reader
	for _, id := range []string{"bob", "carol", "dave"} {
		others = append(others, dialReader(t, h, testenv.Mint(t, "ns", "r", id)))
	}
	alice := dialReader(t, h, testenv.Mint(t, "ns", "r", "alice"))
	frame, _ := json.Marshal(protocol.Message{Type: protocol.TypeData, Payload: []byte("x")})
	ctx := testenv.Context(t, 10*time.Second)
	for i := 0; i < 3000; i++ {
		if err := alice.ws.Write(ctx, websocket.MessageText, frame); err != nil {
			break // the sender may be cut off as too slow: it does not matter
		}
	}
	testenv.Eventually(t, 5*time.Second, "refusals counted", func() error {
		if n := testutil.ToFloat64(h.srv.met.refused.WithLabelValues("rate")); n < 2800 {
			return fmt.Errorf("%v refused", n)
		}
		return nil
	})
	for i, r := range others {
		r.alive(t, fmt.Sprintf("receiver %d", i))
		if n := r.data.Load(); n == 0 || n > int64(DefaultDataBurst)+50 {
			t.Errorf("receiver %d got %d data messages; want 1 to about the burst of %d", i, n, DefaultDataBurst)
		}
	}
	alice.alive(t, "the sender")
	alice.mu.Lock()
	limited := alice.codes[protocol.CodeRateLimited]
	alice.mu.Unlock()
	if limited == 0 || limited > 5 {
		t.Errorf("the sender got %d rate_limited errors; want one a second", limited)
	}
}

// A connection that never joins is closed at its join deadline even while
// it keeps the idle timer happy with pings.
func TestUnjoinedConnectionClosedAtJoinDeadline(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, func(o *Options) {
		o.JoinTimeout = 500 * time.Millisecond
		o.IdleTimeout = 300 * time.Millisecond
		o.Metrics = reg
	})
	c := h.dial("")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		data, _ := json.Marshal(protocol.Message{Type: protocol.TypePing})
		for {
			select {
			case <-stop:
				return
			case <-c.done:
				return
			case <-tick.C:
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_ = c.ws.Write(ctx, websocket.MessageText, data)
				cancel()
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	c.expectError(protocol.CodeUnauthorized)
	c.expectClose(protocol.CloseUnauthorized)
	if n := testutil.ToFloat64(h.srv.met.refused.WithLabelValues("unauthenticated")); n != 1 {
		t.Fatalf("refused{unauthenticated} = %v", n)
	}
	// A client that joins in time stays past the deadline.
	d := h.dial("")
	d.join(testenv.Mint(t, "ns", "r", "alice"))
	d.send(protocol.Message{Type: protocol.TypePing, ID: "p"})
	d.expect(protocol.TypePong, nil)
}

// Oversized participant fields are refused at join, over the WebSocket
// and over WHIP, and the room keeps working for everyone else.
func TestOversizedParticipantFieldsRefusedAtJoin(t *testing.T) {
	h := newHarness(t, nil)
	big := strings.Repeat("x", MaxNameBytes+1)
	c := h.dial("")
	c.send(protocol.Message{Type: protocol.TypeJoin, ID: "j", Token: testenv.Mint(t, "ns", "r", "alice"), Name: big})
	c.expectError(protocol.CodeLimit)
	c.expectClose(websocket.StatusPolicyViolation)

	c = h.dial("")
	c.send(protocol.Message{Type: protocol.TypeJoin, ID: "j", Token: testenv.Mint(t, "ns", "r", "alice"),
		Metadata: strings.Repeat("m", MaxMetadataBytes+1)})
	c.expectError(protocol.CodeLimit)

	tok := testenv.MintWith(t, auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: "obs", Name: big,
		Grant: auth.Grant{Namespace: "ns", Room: "r", Publish: true}})
	res := do(t, "POST", h.web.URL+"/whip/r", tok, "application/sdp", testOffer)
	if res.status != http.StatusBadRequest || !strings.Contains(res.body, "name is over") {
		t.Fatalf("WHIP with an oversized name = %d %q", res.status, res.body)
	}
	for _, id := range h.node.Calls() {
		if strings.HasPrefix(id, "create") {
			t.Fatalf("a refused participant reached the node: %v", h.node.Calls())
		}
	}
	ok := h.dial("")
	ok.join(testenv.Mint(t, "ns", "r", "bob"))
}

// Offers with too many m-lines or too many sending tracks are refused with
// limit_exceeded (WebSocket) or 400 (WHIP) before a node sees them.
func TestOfferLimits(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Limits.MediaSections = 8; o.Limits.PublishedTracks = 2 })
	many := manyLines(9, "recvonly")
	sending := manyLines(3, "sendonly")
	c := h.dial("")
	c.join(testenv.Mint(t, "ns", "r", "alice"))
	for _, offer := range []string{many, sending} {
		c.send(protocol.Message{Type: protocol.TypeOffer, ID: "o", SDP: offer})
		if e := c.expectError(protocol.CodeLimit); !strings.Contains(e.Error.Message, "at most") {
			t.Fatalf("error %+v", e.Error)
		}
	}
	c.send(protocol.Message{Type: protocol.TypeOffer, ID: "ok", SDP: testOffer})
	c.expect(protocol.TypeAnswer, nil)

	d := h.dial("")
	d.send(protocol.Message{Type: protocol.TypeJoin, ID: "j", Token: testenv.Mint(t, "ns", "r", "bob"), SDP: many})
	d.expectError(protocol.CodeLimit)

	res := do(t, "POST", h.web.URL+"/whip/r", testenv.Mint(t, "ns", "r", "obs"), "application/sdp", sending)
	if res.status != http.StatusBadRequest || !strings.Contains(res.body, "at most 2") {
		t.Fatalf("WHIP with 3 tracks = %d %q", res.status, res.body)
	}
}

// A session may trickle a bounded number of remote candidates.
func TestCandidateLimit(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Limits.Candidates = 3 })
	c := h.dial("")
	c.join(testenv.Mint(t, "ns", "r", "alice"))
	for i := range 4 {
		cand := fmt.Sprintf("candidate:%d 1 udp 1 10.0.0.%d 5000 typ host", i, i+1)
		c.send(protocol.Message{Type: protocol.TypeTrickle, ID: fmt.Sprint(i), Candidate: &bus.Candidate{Candidate: cand}})
	}
	if e := c.expectError(protocol.CodeLimit); e.ID != "3" {
		t.Fatalf("limit error for request %q, want the 4th", e.ID)
	}
	// Oversized ids and lists.
	c.send(protocol.Message{Type: protocol.TypeData, ID: "d", Payload: []byte("x"), To: make([]string, MaxRecipients+1)})
	c.expectError(protocol.CodeLimit)
	c.send(protocol.Message{Type: protocol.TypeSetLayer, ID: "s", MID: strings.Repeat("m", MaxIDBytes+1)})
	c.expectError(protocol.CodeLimit)
	c.send(protocol.Message{Type: protocol.TypeUnsubscribe, ID: "u", MIDs: make([]string, MaxListEntries+1)})
	c.expectError(protocol.CodeLimit)
}

func manyLines(n int, dir string) string {
	var b strings.Builder
	b.WriteString("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")
	for i := range n {
		fmt.Fprintf(&b, "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:%d\r\na=%s\r\na=ice-ufrag:cli1\r\na=ice-pwd:clientpasswordclientpass\r\na=rtpmap:111 opus/48000/2\r\n", i, dir)
	}
	return b.String()
}

// ICE restart credentials must follow RFC 8839: a bad one is refused and
// the session keeps working with later PATCHes.
func TestICERestartCredentialsValidated(t *testing.T) {
	h := newHarness(t, nil)
	alice := testenv.Mint(t, "ns", "r", "alice")
	res := do(t, "POST", h.web.URL+"/whip/r", alice, "application/sdp", testOffer)
	if res.status != http.StatusCreated {
		t.Fatalf("WHIP POST = %d %q", res.status, res.body)
	}
	loc := res.header.Get("Location")
	pwd := "newclientpasswordnewpass"
	for name, frag := range map[string]string{
		"short ufrag":   "a=ice-ufrag:a\r\na=ice-pwd:" + pwd + "\r\n",
		"huge ufrag":    "a=ice-ufrag:" + strings.Repeat("u", 60<<10) + "\r\na=ice-pwd:" + pwd + "\r\n",
		"short pwd":     "a=ice-ufrag:cli2\r\na=ice-pwd:short\r\n",
		"bad character": "a=ice-ufrag:cl;i2\r\na=ice-pwd:" + pwd + "\r\n",
		"space in pwd":  "a=ice-ufrag:cli2\r\na=ice-pwd:new client password new pass\r\n",
	} {
		if r := do(t, "PATCH", h.web.URL+loc, alice, typeSDPFrag, frag, "If-Match", "*"); r.status != http.StatusBadRequest {
			t.Errorf("%s: PATCH = %d %q, want 400", name, r.status, r.body)
		}
	}
	if rec, _ := h.srv.dir.Session(t.Context(), strings.TrimPrefix(loc, "/whip/r/")); strings.Contains(rec.Offer, "uuuu") {
		t.Fatal("a refused ufrag was stored")
	}
	ok := "a=ice-ufrag:cli2\r\na=ice-pwd:" + pwd + "\r\n"
	if r := do(t, "PATCH", h.web.URL+loc, alice, typeSDPFrag, ok, "If-Match", "*"); r.status != http.StatusOK {
		t.Fatalf("valid ICE restart = %d %q", r.status, r.body)
	}
}

// Through a real SFU node: a WHIP offer with many sending m-lines is
// refused with 400 before it can flood the room with track_published
// events, and a watcher in the room stays connected; an offer within the
// limit is served and the watcher sees its tracks.
func TestManyTrackWHIPOfferThroughRealSFU(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.SendQueue = 8 })
	testenv.StartNode(t, h.nats, testenv.NodeOptions{NodeID: "sfu1"})
	h.waitNode(h.srv, "sfu1")
	h.node.Stop()
	waitFor(t, "only the real node is live", func() bool { _, ok := h.srv.dir.Node("node1"); return !ok })
	watcher := dialReader(t, h, testenv.Mint(t, "ns", "many", "watcher"))

	offer := func(n int) string {
		pc := newPionPeer(t)
		t.Cleanup(func() { _ = pc.Close() })
		for i := range n {
			tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
				fmt.Sprintf("a%d", i), "whip")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
				t.Fatal(err)
			}
		}
		return httpOffer(t, pc)
	}
	tok := testenv.Mint(t, "ns", "many", "flooder")
	res := do(t, "POST", h.web.URL+"/whip/many", tok, typeSDP, offer(60))
	if res.status != http.StatusBadRequest || !strings.Contains(res.body, "at most") {
		t.Fatalf("WHIP with 60 tracks = %d %q", res.status, res.body)
	}
	res = do(t, "POST", h.web.URL+"/whip/many", tok, typeSDP, offer(DefaultPublishedTracks))
	if res.status != http.StatusCreated {
		t.Fatalf("WHIP with %d tracks = %d %q", DefaultPublishedTracks, res.status, res.body)
	}
	watcher.alive(t, "the watcher")
}
