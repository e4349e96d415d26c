package signal

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var jsonUnmarshal = json.Unmarshal

type harness struct {
	t    *testing.T
	nats string
	node *fakeNode
	srv  *Server
	web  *httptest.Server
	bus  *bus.Client
}

func newHarness(t *testing.T, mutate func(*Options)) *harness {
	t.Helper()
	h := &harness{t: t, nats: testenv.StartNATS(t).ClientURL()}
	h.node = startFakeNode(t, h.nats, "node1")
	h.srv, h.bus = h.startServer(mutate)
	h.web = httptest.NewServer(h.srv.Handler())
	t.Cleanup(h.web.Close)
	h.waitNode(h.srv, "node1")
	return h
}

func (h *harness) startServer(mutate func(*Options)) (*Server, *bus.Client) {
	b := testenv.Connect(h.t, h.nats)
	keys := map[string]string{auth.DevKey: auth.DevSecret}
	o := Options{Bus: b, Verifier: auth.NewVerifier(keys), Keys: keys, Logger: testenv.Logger()}
	if mutate != nil {
		mutate(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := NewServer(ctx, o)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(s.Close)
	return s, b
}

func (h *harness) waitNode(s *Server, id string) {
	waitFor(h.t, "node "+id+" live", func() bool { _, ok := s.dir.Node(id); return ok })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 5*time.Second, what, cond)
}

// client is a raw WebSocket client of the protocol.
type client struct {
	t       *testing.T
	ws      *websocket.Conn
	in      chan protocol.Message
	done    chan struct{}
	err     error // why reading stopped; valid after done
	mu      sync.Mutex
	seen    []protocol.Message
	joined  protocol.Message
	backlog []protocol.Message // received, not yet expected
}

func (h *harness) dial(query string) *client {
	h.t.Helper()
	return dialURL(h.t, "ws"+strings.TrimPrefix(h.web.URL, "http")+"/ws"+query)
}

func dialURL(t *testing.T, url string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(4 << 20)
	c := &client{t: t, ws: ws, in: make(chan protocol.Message, 1024), done: make(chan struct{})}
	go c.readLoop()
	t.Cleanup(func() { _ = ws.CloseNow(); <-c.done })
	return c
}

func (c *client) readLoop() {
	defer close(c.done)
	for {
		_, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.err = err
			return
		}
		var m protocol.Message
		if err := json.Unmarshal(data, &m); err != nil {
			c.err = err
			return
		}
		c.mu.Lock()
		c.seen = append(c.seen, m)
		c.mu.Unlock()
		c.in <- m
	}
}

func (c *client) send(m protocol.Message) {
	c.t.Helper()
	data, err := json.Marshal(m)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(data)
}

func (c *client) sendRaw(data []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, data); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// expect returns the first message not yet expected of type typ that
// matches ok (nil: any); others stay for later expects.
func (c *client) expect(typ string, ok func(protocol.Message) bool) protocol.Message {
	c.t.Helper()
	match := func(m protocol.Message) bool { return m.Type == typ && (ok == nil || ok(m)) }
	for i, m := range c.backlog {
		if match(m) {
			c.backlog = append(c.backlog[:i], c.backlog[i+1:]...)
			return m
		}
	}
	timeout := time.After(5 * time.Second)
	done := c.done
	for {
		select {
		case m := <-c.in:
			if match(m) {
				return m
			}
			c.backlog = append(c.backlog, m)
		case <-done:
			// What arrived before the end may still be queued: it is
			// read first (a nil channel never fires again).
			done = nil
		case <-timeout:
			c.t.Fatalf("timed out waiting for %s", typ)
		}
		if done == nil && len(c.in) == 0 {
			c.t.Fatalf("connection ended (%v) while waiting for %s", c.err, typ)
		}
	}
}

// expectError waits for an error with code.
func (c *client) expectError(code string) protocol.Message {
	c.t.Helper()
	m := c.expect(protocol.TypeError, nil)
	if m.Error == nil || m.Error.Code != code {
		c.t.Fatalf("error = %+v, want code %s", m.Error, code)
	}
	return m
}

// expectClose waits for the server to close the connection with code.
func (c *client) expectClose(code websocket.StatusCode) string {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		c.t.Fatalf("connection not closed, want close %d", code)
	}
	var ce websocket.CloseError
	if !errors.As(c.err, &ce) || ce.Code != code {
		c.t.Fatalf("closed with %v, want code %d", c.err, code)
	}
	return ce.Reason
}

func (c *client) join(token string) protocol.Message {
	c.t.Helper()
	c.send(protocol.Message{Type: protocol.TypeJoin, ID: "join", Token: token})
	m := c.expect(protocol.TypeJoined, nil)
	if m.ID != "join" || m.Self == nil || m.SessionID == "" || m.Self.SessionID != m.SessionID {
		c.t.Fatalf("joined = %+v", m)
	}
	c.joined = m
	return m
}

func (c *client) seenAll() []protocol.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]protocol.Message(nil), c.seen...)
}

const testOffer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=ice-ufrag:cli1\r\na=ice-pwd:clientpasswordclientpass\r\na=rtpmap:111 opus/48000/2\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendonly\r\na=ice-ufrag:cli1\r\na=ice-pwd:clientpasswordclientpass\r\na=rtpmap:96 VP8/90000\r\n"

const testViewOffer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:a\r\na=recvonly\r\na=ice-ufrag:vw1\r\na=ice-pwd:viewerpasswordviewerpass\r\na=rtpmap:111 opus/48000/2\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:v\r\na=recvonly\r\na=ice-ufrag:vw1\r\na=ice-pwd:viewerpasswordviewerpass\r\na=rtpmap:96 VP8/90000\r\n"

func httpTestServer(t *testing.T, s *Server) string {
	web := httptest.NewServer(s.Handler())
	t.Cleanup(web.Close)
	return web.URL
}
