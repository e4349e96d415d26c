package ingress

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// Wrong keys, a token without the publish grant, a codec rtcloud cannot
// carry and a second encoder on the same key are refused with a log line
// that says why; garbage on the RTMP port disturbs nothing; the stream
// already running goes on.
func TestRTMPRefusals(t *testing.T) {
	g := startGateway(t)
	ctx := testenv.Context(t, 60*time.Second)
	key := testenv.Mint(t, "default", "live", "first")
	g.publish(t, key, 30)
	viewer, err := client.Connect(ctx, g.stack.Signals[0].WS, testenv.Mint(t, "default", "live", "viewer"),
		client.Options{Media: media(), Logger: testenv.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Close()
	if _, err := viewer.WaitTracks(ctx, 2, func(ti bus.TrackInfo) bool { return ti.Identity == "first" }); err != nil {
		t.Fatal(err)
	}

	noPublish := testenv.MintWith(t, auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: "peeker",
		Grant: auth.Grant{Namespace: "default", Room: "live", Subscribe: true}})
	cases := []struct {
		name, key, log string
		extra          []string
	}{
		{"wrong key", "not-a-key", "unknown stream key", nil},
		{"unknown ingress key", "ik_00000000000000000000000000000000", "unknown stream key", nil},
		{"token without publish", noPublish, "does not allow publishing", nil},
		{"second encoder", key, "another encoder is already publishing", nil},
		{"unsupported codec", testenv.Mint(t, "default", "live", "old"), "unsupported codec", []string{"-c:v", "flv1", "-c:a", "aac"}},
	}
	t.Run("second encoder through another gateway", func(t *testing.T) {
		other := g.run(t)
		p := g.publishTo(t, other, key, 5)
		if err, out := p.exited(t, 20*time.Second); err == nil {
			t.Fatalf("ffmpeg published through the second gateway:\n%s", out)
		}
		if strings.Count(g.logs.String(), "another encoder is already publishing") < 1 {
			t.Fatal("no log line says the key is in use")
		}
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := g.publish(t, c.key, 5, c.extra...)
			if err, out := p.exited(t, 20*time.Second); err == nil {
				t.Fatalf("ffmpeg published for 5 s without an error:\n%s", out)
			}
			if !strings.Contains(g.logs.String(), c.log) {
				t.Fatalf("no log line says %q", c.log)
			}
		})
	}

	// Garbage: a bad handshake, a half handshake left open, random bytes.
	addr := g.srv.Addr().String()
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		junk := make([]byte, 1537*i+7)
		_, _ = rand.Read(junk)
		_, _ = c.Write(append([]byte{3}, junk...))
		if i != 1 {
			_ = c.Close()
		} else {
			defer c.Close()
		}
	}
	var video *client.RemoteTrack
	for _, ti := range viewer.Tracks() {
		if ti.Identity == "first" && ti.Kind == bus.KindVideo {
			if video, err = viewer.Subscribe(ctx, ti.ID, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	g.wait(t, "the first stream keeps flowing", func() bool { return video.Stats().Frames >= 30 })
	for _, p := range viewer.Participants() {
		if p.Identity != "first" && p.Identity != "viewer" {
			t.Errorf("refused publisher %q is in the room", p.Identity)
		}
	}
}

// Ingress keys made through the API work as stream keys; kicking the
// participant ends the stream, and so does revoking the key; the API
// checks tokens and says what is wrong.
func TestIngressKeyAPI(t *testing.T) {
	g := startGateway(t)
	api := &API{Keys: g.keys, Verifier: auth.NewVerifier(map[string]string{auth.DevKey: auth.DevSecret}), URL: g.srv.URL()}
	mux := http.NewServeMux()
	api.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	admin := testenv.MintWith(t, auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: "ops",
		Grant: auth.Grant{Namespace: "default", Room: "*", Admin: true}})
	do := func(method, path, token, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, hs.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	create := `{"room":"show","identity":"obs","name":"OBS"}`
	if code, _ := do("POST", "/v1/ingress", "", create); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	if code, _ := do("POST", "/v1/ingress", testenv.Mint(t, "default", "show", "u"), create); code != http.StatusForbidden {
		t.Fatalf("no admin grant: %d", code)
	}
	if code, _ := do("POST", "/v1/ingress", admin, `{"room":"bad room"}`); code != http.StatusBadRequest {
		t.Fatalf("bad room: %d", code)
	}
	code, info := do("POST", "/v1/ingress", admin, create)
	if code != http.StatusCreated || info["url"] != g.srv.URL() || !strings.HasPrefix(info["stream_key"].(string), keyPrefix) {
		t.Fatalf("create: %d %v", code, info)
	}
	key := info["stream_key"].(string)
	if code, list := do("GET", "/v1/ingress", admin, ""); code != 200 || !bytes.Contains(mustJSON(list), []byte(key)) {
		t.Fatalf("list: %d %v", code, list)
	}

	g.publish(t, key, 20)
	ctx := testenv.Context(t, 30*time.Second)
	viewer, err := client.Connect(ctx, g.stack.Signals[0].WS, testenv.Mint(t, "default", "show", "viewer"),
		client.Options{Media: media(), Logger: testenv.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Close()
	tis, err := viewer.WaitTracks(ctx, 2, func(ti bus.TrackInfo) bool { return ti.Identity == "obs" })
	if err != nil {
		t.Fatalf("the ingress key's participant publishes: %v", err)
	}
	// Kicking the participant ends the RTMP stream; revoking the key
	// ends the next one.
	g.wait(t, "the stream flows", func() bool { return strings.Contains(g.logs.String(), "RTMP stream joined the room") })
	if err := g.bus.Request(ctx, bus.NodeCommand(g.stack.Node.ID(), bus.CmdClose),
		bus.Close{SessionID: tis[0].SessionID, Reason: bus.ReasonKicked}, nil); err != nil {
		t.Fatal(err)
	}
	g.wait(t, "the kick ends the RTMP stream", func() bool {
		return strings.Contains(g.logs.String(), "removed from the room: kicked") && g.srv.Active() == 0
	})
	g.publish(t, key, 20)
	g.wait(t, "the key streams again", func() bool {
		return strings.Count(g.logs.String(), "RTMP stream joined the room") == 2
	})
	if code, _ := do("DELETE", "/v1/ingress/"+key, admin, ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	g.wait(t, "revoking the key ends the stream", func() bool {
		return strings.Contains(g.logs.String(), "ingress key revoked") && g.srv.Active() == 0
	})
	if code, m := do("DELETE", "/v1/ingress/"+key, admin, ""); code != http.StatusNotFound || m["error"] == nil {
		t.Fatalf("delete again: %d %v", code, m)
	}
	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := g.keys.Get(dctx, key); err == nil {
		t.Fatal("the key is still stored")
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
