package signal

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

type httpResult struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, method, url, token, contentType, body string, hdr ...string) httpResult {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return httpResult{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

func TestWHIPPublisherSeenOverWebSocketAndWatchedByWHEP(t *testing.T) {
	h := newHarness(t, nil)
	bob := h.dial("")
	bob.join(testenv.Mint(t, "ns", "r", "bob"))

	alice := testenv.Mint(t, "ns", "r", "alice")
	res := do(t, "POST", h.web.URL+"/whip/r", alice, "application/sdp", testOffer)
	if res.status != http.StatusCreated || !strings.HasPrefix(res.body, "v=0") || res.header.Get("Content-Type") != typeSDP {
		t.Fatalf("WHIP POST = %d %q", res.status, res.body)
	}
	loc, tag := res.header.Get("Location"), res.header.Get("ETag")
	if !strings.HasPrefix(loc, "/whip/r/PA_") || tag == "" {
		t.Fatalf("Location %q ETag %q", loc, tag)
	}
	sid := strings.TrimPrefix(loc, "/whip/r/")
	bob.expect(protocol.TypeParticipantJoined, func(m protocol.Message) bool { return m.Participant.Identity == "alice" })
	bob.expect(protocol.TypeTrackPublished, func(m protocol.Message) bool { return m.Track.Kind == bus.KindVideo })

	// WHEP: the most recent publisher, and alice by name.
	viewer := testenv.Mint(t, "ns", "r", "viewer")
	for _, path := range []string{"/whep/r", "/whep/r/alice"} {
		res := do(t, "POST", h.web.URL+path, viewer, "application/sdp", testViewOffer)
		if res.status != http.StatusCreated || !strings.HasPrefix(res.header.Get("Location"), "/whep/r/PA_") {
			t.Fatalf("WHEP POST %s = %d %q", path, res.status, res.body)
		}
		vs, _ := h.node.Session(strings.TrimPrefix(res.header.Get("Location"), "/whep/r/"))
		if len(vs.lastSubs) != 2 || vs.lastSubs[0].MID != "a" || vs.lastSubs[1].MID != "v" {
			t.Fatalf("WHEP subscriptions %+v, want mids a (audio) and v (video)", vs.lastSubs)
		}
	}
	res = do(t, "POST", h.web.URL+"/whep/r/nobody", viewer, "application/sdp", testViewOffer)
	if res.status != http.StatusConflict || res.header.Get("Retry-After") == "" {
		t.Fatalf("WHEP of a missing publisher = %d (Retry-After %q)", res.status, res.header.Get("Retry-After"))
	}
	if res := do(t, "POST", h.web.URL+"/whep/empty", testenv.Mint(t, "ns", "empty", "v"), "application/sdp", testViewOffer); res.status != http.StatusConflict {
		t.Fatalf("WHEP of an empty room = %d", res.status)
	}

	// Trickle, then ICE restart, through a second signaling server.
	other, _ := h.startServer(nil)
	web2 := httpTestServer(t, other)
	frag := "a=ice-ufrag:cli1\r\na=ice-pwd:clientpasswordclientpass\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host\r\n"
	if res := do(t, "PATCH", web2+loc, alice, typeSDPFrag, frag, "If-Match", tag); res.status != http.StatusNoContent {
		t.Fatalf("trickle PATCH = %d %q", res.status, res.body)
	}
	if !slices.Contains(h.node.Calls(), bus.CmdTrickle+" "+sid) {
		t.Fatal("node got no trickle")
	}
	if res := do(t, "PATCH", h.web.URL+loc, alice, typeSDPFrag, frag, "If-Match", `"other"`); res.status != http.StatusPreconditionFailed {
		t.Fatalf("PATCH with a stale If-Match = %d", res.status)
	}
	restart := "a=ice-ufrag:cli2\r\na=ice-pwd:newclientpasswordnewpass\r\n"
	if res := do(t, "PATCH", web2+loc, alice, typeSDPFrag, restart); res.status != http.StatusPreconditionRequired {
		t.Fatalf("PATCH without If-Match = %d, want 428", res.status)
	}
	res = do(t, "PATCH", web2+loc, alice, typeSDPFrag, restart, "If-Match", "*")
	if res.status != http.StatusOK || !strings.Contains(res.body, "a=ice-ufrag:srv2") || !strings.Contains(res.body, "a=candidate:") ||
		res.header.Get("ETag") == tag || res.header.Get("Content-Type") != typeSDPFrag {
		t.Fatalf("ICE restart PATCH = %d %q ETag %q", res.status, res.body, res.header.Get("ETag"))
	}
	if rec, _ := h.srv.dir.Session(t.Context(), sid); !strings.Contains(rec.Offer, "a=ice-ufrag:cli2") {
		t.Fatal("stored offer keeps the old credentials")
	}

	// Another identity may not end alice's session; alice may, anywhere.
	if res := do(t, "DELETE", web2+loc, viewer, "", ""); res.status != http.StatusForbidden {
		t.Fatalf("DELETE by another identity = %d", res.status)
	}
	if res := do(t, "DELETE", web2+loc, alice, "", ""); res.status != http.StatusOK {
		t.Fatalf("DELETE = %d %q", res.status, res.body)
	}
	bob.expect(protocol.TypeParticipantLeft, func(m protocol.Message) bool { return m.Participant.Identity == "alice" })
	if res := do(t, "DELETE", h.web.URL+loc, alice, "", ""); res.status != http.StatusNotFound {
		t.Fatalf("second DELETE = %d, want 404", res.status)
	}
}

func TestHTTPBadInput(t *testing.T) {
	h := newHarness(t, nil)
	u := h.web.URL
	good := testenv.Mint(t, "ns", "r", "alice")
	res := do(t, "POST", u+"/whip/r", good, typeSDP, testOffer)
	if res.status != http.StatusCreated {
		t.Fatalf("setup WHIP = %d", res.status)
	}
	loc := res.header.Get("Location")
	expired := testenv.MintWith(t, auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: "alice", TTL: time.Minute,
		Now: time.Now().Add(-time.Hour), Grant: auth.Grant{Namespace: "ns", Room: "r", Publish: true}})
	forged := testenv.MintWith(t, auth.TokenOptions{Key: auth.DevKey, Secret: "wrong", Identity: "alice", Grant: auth.Grant{Namespace: "ns", Room: "r", Publish: true}})
	noPublish := testenv.MintWith(t, auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: "alice", Grant: auth.Grant{Namespace: "ns", Room: "r", Subscribe: true}})
	otherNS := testenv.Mint(t, "other", "r", "alice")
	cases := []struct {
		name, method, path, token, ctype, body string
		want                                   int
	}{
		{"no token", "POST", "/whip/r", "", typeSDP, testOffer, 401},
		{"garbage token", "POST", "/whip/r", "not.a.jwt", typeSDP, testOffer, 401},
		{"expired token", "POST", "/whip/r", expired, typeSDP, testOffer, 401},
		{"forged token", "POST", "/whip/r", forged, typeSDP, testOffer, 401},
		{"other room", "POST", "/whip/x", good, typeSDP, testOffer, 403},
		{"no publish grant", "POST", "/whip/r", noPublish, typeSDP, testOffer, 403},
		{"no subscribe grant", "POST", "/whep/r", testenv.MintWith(t, auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: "v", Grant: auth.Grant{Namespace: "ns", Room: "r", Publish: true}}), typeSDP, testViewOffer, 403},
		{"wrong content type", "POST", "/whip/r", good, "text/plain", testOffer, 415},
		{"no content type", "POST", "/whip/r", good, "", testOffer, 415},
		{"too large", "POST", "/whip/r", good, typeSDP, strings.Repeat("a", maxSDPBytes+1), 413},
		{"garbage SDP", "POST", "/whip/r", good, typeSDP, "hello", 400},
		{"SDP sending nothing", "POST", "/whip/r", good, typeSDP, testViewOffer, 400},
		{"WHEP offer receiving nothing", "POST", "/whep/r", good, typeSDP, testOffer, 400},
		{"WHEP garbage SDP", "POST", "/whep/r", good, typeSDP, "v=0\r\nm=", 400},
		{"PATCH unknown session", "PATCH", "/whip/r/PA_nope", good, typeSDPFrag, "a=end-of-candidates\r\n", 404},
		{"PATCH bad session id", "PATCH", "/whip/r/PA_a.b", good, typeSDPFrag, "a=end-of-candidates\r\n", 404},
		{"PATCH from another namespace", "PATCH", loc, otherNS, typeSDPFrag, "a=end-of-candidates\r\n", 404},
		{"PATCH as WHEP resource", "PATCH", strings.Replace(loc, "whip", "whep", 1), good, typeSDPFrag, "a=end-of-candidates\r\n", 404},
		{"PATCH wrong content type", "PATCH", loc, good, typeSDP, "a=end-of-candidates\r\n", 415},
		{"PATCH garbage sdpfrag", "PATCH", loc, good, typeSDPFrag, "garbage", 400},
		{"PATCH bad candidate", "PATCH", loc, good, typeSDPFrag, "a=candidate:1 2\r\n", 400},
		{"PATCH empty", "PATCH", loc, good, typeSDPFrag, "", 400},
		{"DELETE no token", "DELETE", loc, "", "", "", 401},
		{"GET not allowed", "GET", "/whip/r", good, "", "", 405},
		{"dev token disabled", "GET", "/dev/token?room=r&identity=a", "", "", "", 404},
	}
	for _, c := range cases {
		if res := do(t, c.method, u+c.path, c.token, c.ctype, c.body); res.status != c.want {
			t.Errorf("%s: %s %s = %d %q, want %d", c.name, c.method, c.path, res.status, strings.TrimSpace(res.body), c.want)
		}
	}
	// The server still serves.
	if res := do(t, "PATCH", u+loc, good, typeSDPFrag, "a=end-of-candidates\r\n", "If-Match", "*"); res.status != http.StatusNoContent {
		t.Fatalf("PATCH after bad input = %d", res.status)
	}
}

func TestCORSAndDevToken(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Config.DevTokens = true })
	res := do(t, "OPTIONS", h.web.URL+"/whip/r", "", "", "", "Origin", "https://app.example", "Access-Control-Request-Method", "POST")
	if res.status != http.StatusNoContent || res.header.Get("Access-Control-Allow-Origin") == "" ||
		!strings.Contains(res.header.Get("Access-Control-Allow-Headers"), "Authorization") || res.header.Get("Accept-Post") != typeSDP {
		t.Fatalf("preflight = %d %v", res.status, res.header)
	}
	res = do(t, "GET", h.web.URL+"/dev/token?room=r&identity=alice&name=Alice", "", "", "", "Origin", "https://app.example")
	if res.status != http.StatusOK || !strings.Contains(res.header.Get("Access-Control-Expose-Headers"), "Location") {
		t.Fatalf("dev token = %d %q", res.status, res.body)
	}
	tok := res.body[strings.Index(res.body, `"token":"`)+9:]
	tok = tok[:strings.Index(tok, `"`)]
	claims, err := auth.NewVerifier(map[string]string{auth.DevKey: auth.DevSecret}).Verify(tok)
	if err != nil || claims.Identity() != "alice" || claims.Name != "Alice" || !claims.Grant.Publish || !claims.Grant.Subscribe || claims.Grant.Room != "r" {
		t.Fatalf("dev token claims %+v, %v", claims, err)
	}
	if res := do(t, "GET", h.web.URL+"/dev/token?room=bad.room&identity=a", "", "", ""); res.status != http.StatusBadRequest {
		t.Fatalf("dev token with a bad room = %d", res.status)
	}
}
