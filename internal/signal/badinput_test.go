package signal

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

func TestWebSocketBadInputBeforeAndAfterJoin(t *testing.T) {
	h := newHarness(t, nil)
	c := h.dial("")
	for _, raw := range []string{`{"type":`, `null`, `[]`, `"join"`, `{"type":1}`, `{}`} {
		c.sendRaw([]byte(raw))
		c.expectError(protocol.CodeMalformed)
	}
	c.sendRaw([]byte(`{"type":"fly","id":"x"}`))
	if e := c.expectError(protocol.CodeUnknownType); e.ID != "x" {
		t.Fatalf("error id %q, want x", e.ID)
	}
	c.send(protocol.Message{Type: protocol.TypeOffer, ID: "o", SDP: testOffer})
	c.expectError(protocol.CodeNotJoined)
	c.send(protocol.Message{Type: protocol.TypePing, ID: "p"})
	c.expect(protocol.TypePong, nil)

	c.join(testenv.Mint(t, "ns", "r", "alice"))
	c.send(protocol.Message{Type: protocol.TypeJoin, ID: "again", Token: testenv.Mint(t, "ns", "r", "alice")})
	c.expectError(protocol.CodeNotJoined)
	for _, bad := range []string{"", "hello", "v=0\r\nm=", strings.Repeat("v=0\r\n", 10)} {
		c.send(protocol.Message{Type: protocol.TypeOffer, ID: "o", SDP: bad})
		c.expectError(protocol.CodeBadRequest)
	}
	c.send(protocol.Message{Type: protocol.TypeTrickle})
	c.expectError(protocol.CodeBadRequest)
	c.send(protocol.Message{Type: protocol.TypeSubscribe, ID: "s"})
	c.expectError(protocol.CodeBadRequest)
	c.send(protocol.Message{Type: protocol.TypeData, Payload: make([]byte, maxDataPayload+1)})
	c.expectError(protocol.CodeTooLarge)
	c.send(protocol.Message{Type: protocol.TypeOffer, ID: "ok", SDP: testOffer})
	c.expect(protocol.TypeAnswer, nil)

	// An oversized frame: a clear error, then close 1009.
	c.sendRaw([]byte(`{"type":"ping","id":"` + strings.Repeat("x", protocol.MaxMessageBytes) + `"}`))
	c.expectError(protocol.CodeTooLarge)
	c.expectClose(websocket.StatusMessageTooBig)

	// Others are still served.
	d := h.dial("")
	d.join(testenv.Mint(t, "ns", "r", "bob"))
}

func TestWebSocketBadTokens(t *testing.T) {
	h := newHarness(t, nil)
	grant := auth.Grant{Namespace: "ns", Room: "r", Publish: true}
	tokens := map[string]struct {
		tok   string
		code  string
		close websocket.StatusCode
	}{
		"missing": {"", protocol.CodeUnauthorized, protocol.CloseUnauthorized},
		"garbage": {"abc.def.ghi", protocol.CodeUnauthorized, protocol.CloseUnauthorized},
		"expired": {testenv.MintWith(t, auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: "a", Grant: grant,
			TTL: time.Minute, Now: time.Now().Add(-time.Hour)}), protocol.CodeUnauthorized, protocol.CloseUnauthorized},
		"forged": {testenv.MintWith(t, auth.TokenOptions{Key: auth.DevKey, Secret: "guess", Identity: "a", Grant: grant}),
			protocol.CodeUnauthorized, protocol.CloseUnauthorized},
		"unknown key": {testenv.MintWith(t, auth.TokenOptions{Key: "other", Secret: auth.DevSecret, Identity: "a", Grant: grant}),
			protocol.CodeUnauthorized, protocol.CloseUnauthorized},
		"every room": {testenv.MintWith(t, auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: "a",
			Grant: auth.Grant{Namespace: "ns", Room: "*", Admin: true}}), protocol.CodeForbidden, protocol.CloseForbidden},
	}
	for name, tc := range tokens {
		t.Run(name, func(t *testing.T) {
			c := dialURL(t, "ws"+strings.TrimPrefix(h.web.URL, "http")+"/ws")
			c.send(protocol.Message{Type: protocol.TypeJoin, ID: "j", Token: tc.tok})
			if e := c.expectError(tc.code); e.ID != "j" {
				t.Fatalf("error id %q", e.ID)
			}
			c.expectClose(tc.close)
		})
	}
}

func TestClientVanishingMidHandshakeAndIdleTimeout(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.IdleTimeout = 300 * time.Millisecond })
	addr := strings.TrimPrefix(h.web.URL, "http://")

	// Half an HTTP upgrade, then gone.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = nc.Write([]byte("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"))
	_ = nc.Close()

	// A complete upgrade, then gone without reading the answer.
	nc, err = net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = nc.Write([]byte("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	_ = nc.Close()

	// Join sent, connection dropped before the reply.
	c := h.dial("")
	c.send(protocol.Message{Type: protocol.TypeJoin, Token: testenv.Mint(t, "ns", "r", "ghost")})
	_ = c.ws.CloseNow()

	// A well-behaved client is served, and closed when it goes quiet.
	d := h.dial("")
	d.join(testenv.Mint(t, "ns", "r", "alice"))
	if reason := d.expectClose(websocket.StatusPolicyViolation); reason != "idle timeout" {
		t.Fatalf("close reason %q", reason)
	}
	waitFor(t, "every connection gone", func() bool {
		h.srv.mu.Lock()
		defer h.srv.mu.Unlock()
		return len(h.srv.conns) == 0
	})
}

func TestSlowClientIsDisconnected(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.SendQueue = 4; o.SlowClientGrace = 200 * time.Millisecond })
	// The slow client joins, then never reads again.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	slow, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(h.web.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.CloseNow()
	join, _ := json.Marshal(protocol.Message{Type: protocol.TypeJoin, Token: testenv.Mint(t, "ns", "r", "slow")})
	if err := slow.Write(ctx, websocket.MessageText, join); err != nil {
		t.Fatal(err)
	}
	fast := h.dial("")
	fast.join(testenv.Mint(t, "ns", "r2", "fast"))
	conns := func() int {
		h.srv.mu.Lock()
		defer h.srv.mu.Unlock()
		return len(h.srv.conns)
	}
	waitFor(t, "both joined", func() bool {
		h.srv.mu.Lock()
		defer h.srv.mu.Unlock()
		n := 0
		for c := range h.srv.conns {
			c.mu.Lock()
			if c.joined {
				n++
			}
			c.mu.Unlock()
		}
		return n == 2
	})
	// Room state events (data messages would be dropped for it instead),
	// until the socket buffers are full and the queue overflows.
	p := &bus.Participant{Namespace: "ns", Room: "r", Identity: "other", SessionID: "PA_other"}
	name := strings.Repeat("n", 200)
	i := 0
	testenv.Eventually(t, 20*time.Second, "the slow client disconnected", func() error {
		if conns() == 1 {
			return nil
		}
		for range 200 {
			i++
			tr := bus.TrackInfo{ID: fmt.Sprintf("TR_%d", i), SessionID: p.SessionID, Identity: p.Identity, Kind: bus.KindVideo, Name: name}
			h.node.publish(bus.Event{Type: bus.EventTrackPublished, Participant: p, Track: &tr})
		}
		return fmt.Errorf("still connected after %d events", i)
	})
	// The fast client is unaffected.
	fast.send(protocol.Message{Type: protocol.TypePing, ID: "p"})
	fast.expect(protocol.TypePong, nil)
}
