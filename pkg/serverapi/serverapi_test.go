package serverapi_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/controller"
	"github.com/rtcloud/rtcloud/internal/egress"
	"github.com/rtcloud/rtcloud/internal/ingress"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/internal/teststack"
	"github.com/rtcloud/rtcloud/internal/webhook"
	"github.com/rtcloud/rtcloud/pkg/client"
	"github.com/rtcloud/rtcloud/pkg/serverapi"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startController runs a controller on the stack's bus and returns its
// HTTP URL.
func startController(tb testing.TB, st *teststack.Stack) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	b := testenv.ConnectWith(tb, bus.Options{URLs: st.NATS.ClientURL(), Name: "test-controller"})
	c, err := controller.New(ctx, controller.Options{Config: config.DefaultController(), Bus: b,
		Verifier: auth.NewVerifier(map[string]string{auth.DevKey: auth.DevSecret}), Logger: testenv.Logger()})
	if err != nil {
		tb.Fatalf("controller: %v", err)
	}
	srv := httptest.NewServer(c.Handler())
	tb.Cleanup(func() { srv.Close(); c.Close() })
	return srv.URL
}

// The admin API through the client: a participant's room is listed, the
// participant kicked (its client hears "kicked"), the node drained and
// undrained; bad credentials and unknown rooms give coded errors.
func TestAdminAPI(t *testing.T) {
	st := teststack.Start(t, teststack.Options{})
	api := serverapi.New(startController(t, st), auth.DevKey, auth.DevSecret)
	ctx := testenv.Context(t, 30*time.Second)
	testenv.Eventually(t, 10*time.Second, "the controller sees the node", func() error {
		nodes, err := api.Nodes(ctx)
		if err == nil && len(nodes) == 0 {
			err = errors.New("no node")
		}
		return err
	})

	tok, err := serverapi.NewToken(auth.DevKey, auth.DevSecret, serverapi.TokenOptions{Identity: "alice", Room: "meet", Publish: true, Subscribe: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Connect(ctx, st.Signals[0].WS, tok, client.Options{Logger: testenv.Logger(),
		Media: client.MediaOptions{IPFilter: client.LoopbackOnly}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)

	testenv.Eventually(t, 10*time.Second, "alice listed in room meet", func() error {
		rooms, err := api.Rooms(ctx, "")
		if err != nil {
			return err
		}
		for _, r := range rooms {
			if r.Room == "meet" && len(r.Participants) == 1 && r.Participants[0].Identity == "alice" {
				return nil
			}
		}
		return errors.New("not listed")
	})
	room, err := api.Room(ctx, "", "meet")
	if err != nil || room.NodeID != st.Node.ID() {
		t.Fatalf("Room: %+v, %v", room, err)
	}
	if _, err := api.Room(ctx, "", "nowhere"); !serverapi.IsCode(err, "not_found") {
		t.Fatalf("unknown room: %v, want not_found", err)
	}
	kicked, err := api.Kick(ctx, "", "meet", "alice")
	if err != nil || len(kicked) != 1 || kicked[0] != c.SessionID() {
		t.Fatalf("Kick: %v, %v", kicked, err)
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("the kicked client's connection stays up")
	}
	if c.ClosedReason() != "kicked" {
		t.Fatalf("closed reason %q, want kicked", c.ClosedReason())
	}

	for _, drain := range []bool{true, false} {
		if err := api.Drain(ctx, st.Node.ID(), drain); err != nil {
			t.Fatalf("Drain(%v): %v", drain, err)
		}
		testenv.Eventually(t, 10*time.Second, "node draining flag", func() error {
			nodes, err := api.Nodes(ctx)
			if err != nil {
				return err
			}
			if len(nodes) != 1 || nodes[0].ID != st.Node.ID() || nodes[0].Draining != drain {
				return errors.New("not yet")
			}
			return nil
		})
	}

	bad := serverapi.New(strings.TrimSuffix(api.BaseURL(), "/"), auth.DevKey, "wrong secret")
	if _, err := bad.Nodes(ctx); !serverapi.IsCode(err, "unauthorized") || !errors.Is(err, serverapi.ErrAPI) {
		t.Fatalf("wrong secret: %v, want unauthorized", err)
	}
}

func TestNewTokenRejectsIncompleteOptions(t *testing.T) {
	for _, o := range []serverapi.TokenOptions{{Room: "r"}, {Identity: "a"}, {Identity: "a", Room: "*"}, {Identity: "a", Room: "bad room"}} {
		if _, err := serverapi.NewToken("k", "s", o); !errors.Is(err, serverapi.ErrBadToken) {
			t.Errorf("%+v: err = %v, want ErrBadToken", o, err)
		}
	}
	if _, err := serverapi.NewToken("", "s", serverapi.TokenOptions{Identity: "a", Room: "r"}); !errors.Is(err, serverapi.ErrBadToken) {
		t.Errorf("no key: %v", err)
	}
}

func TestVerifyWebhook(t *testing.T) {
	keys := map[string]string{"k1": "s1"}
	body := []byte(`{"id":"EV_1_0","type":"room_started","namespace":"default","room":"meet"}`)
	now := time.Now()
	sig, err := serverapi.SignWebhook(body, "k1", "s1", now)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(body))
	req.Header.Set("Authorization", sig)
	ev, err := serverapi.VerifyWebhook(req, keys)
	if err != nil || ev.Type != "room_started" || ev.Room != "meet" || ev.ID != "EV_1_0" {
		t.Fatalf("verify: %+v, %v", ev, err)
	}
	if _, err := serverapi.VerifyWebhookBody("Bearer "+sig, body, keys); err != nil {
		t.Fatalf("with Bearer: %v", err)
	}
	old, _ := serverapi.SignWebhook(body, "k1", "s1", now.Add(-time.Hour))
	other, _ := serverapi.SignWebhook(body, "k2", "s1", now)
	forged, _ := serverapi.SignWebhook(body, "k1", "not s1", now)
	cases := map[string]struct {
		auth string
		body []byte
	}{
		"tampered body": {sig, bytes.Replace(body, []byte("meet"), []byte("mall"), 1)},
		"expired":       {old, body},
		"unknown key":   {other, body},
		"wrong secret":  {forged, body},
		"no header":     {"", body},
		"garbage":       {"Bearer x.y.z", body},
	}
	for name, c := range cases {
		if _, err := serverapi.VerifyWebhookBody(c.auth, c.body, keys); !errors.Is(err, serverapi.ErrBadWebhook) {
			t.Errorf("%s: err = %v, want ErrBadWebhook", name, err)
		}
	}
}

func FuzzVerifyWebhookBody(f *testing.F) {
	body := []byte(`{"type":"room_started"}`)
	sig, _ := serverapi.SignWebhook(body, "k", "s", time.Now().Add(time.Hour*24*365*50))
	f.Add(sig, body)
	f.Add("Bearer a.b.c", []byte("{}"))
	f.Fuzz(func(t *testing.T, auth string, body []byte) {
		_, _ = serverapi.VerifyWebhookBody(auth, body, map[string]string{"k": "s"})
	})
}

// What rtcloud's webhook sender signs verifies here, and the other way
// round: one format on both sides.
func TestWebhookFormatMatchesTheSender(t *testing.T) {
	body := []byte(`{"id":"EV_3_0","type":"track_published","timestamp":"2026-01-02T03:04:05Z","namespace":"default","room":"meet","object":{"id":"TR_x"}}`)
	auth, err := webhook.Sign(body, "k1", "s1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ev, err := serverapi.VerifyWebhookBody(auth, body, map[string]string{"k1": "s1"})
	if err != nil || ev.Type != "track_published" || ev.Room != "meet" || string(ev.Object) != `{"id":"TR_x"}` {
		t.Fatalf("the sender's signature: %+v, %v", ev, err)
	}
	mine, err := serverapi.SignWebhook(body, "k1", "s1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if key, err := webhook.Verify(mine, body, map[string]string{"k1": "s1"}); err != nil || key != "k1" {
		t.Fatalf("SignWebhook's header, checked by the sender's Verify: %q, %v", key, err)
	}
}

// startServices serves the real egress and ingress APIs on the stack's
// bus, as the controller does, and returns their URL.
func startServices(t *testing.T, st *teststack.Stack) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	b := testenv.ConnectWith(t, bus.Options{URLs: st.NATS.ClientURL(), Name: "test-services"})
	verifier := auth.NewVerifier(map[string]string{auth.DevKey: auth.DevSecret})
	eg, err := egress.NewAPI(ctx, egress.APIOptions{Bus: b, Verifier: verifier, Logger: testenv.Logger()})
	if err != nil {
		t.Fatalf("egress API: %v", err)
	}
	keys, err := ingress.OpenKeys(ctx, b)
	if err != nil {
		t.Fatalf("ingress keys: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/egress", eg.Handler())
	mux.Handle("/v1/egress/", eg.Handler())
	(&ingress.API{Keys: keys, Verifier: verifier, URL: "rtmp://127.0.0.1:1935/live"}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); eg.Close() })
	return srv.URL
}

// Ingress keys are created, listed and revoked; an egress of a live room
// without a worker is refused as unavailable, and an unknown one is
// not_found.
func TestEgressAndIngressAPI(t *testing.T) {
	st := teststack.Start(t, teststack.Options{})
	api := serverapi.New(startServices(t, st), auth.DevKey, auth.DevSecret)
	ctx := testenv.Context(t, 20*time.Second)

	key, err := api.CreateIngress(ctx, serverapi.IngressRequest{Room: "studio", Name: "OBS"})
	if err != nil || key.StreamKey == "" || key.Room != "studio" || key.Identity != "rtmp-studio" || key.URL == "" {
		t.Fatalf("CreateIngress: %+v, %v", key, err)
	}
	keys, err := api.Ingresses(ctx, "")
	if err != nil || len(keys) != 1 || keys[0].StreamKey != key.StreamKey {
		t.Fatalf("Ingresses: %+v, %v", keys, err)
	}
	if err := api.DeleteIngress(ctx, "", key.StreamKey); err != nil {
		t.Fatalf("DeleteIngress: %v", err)
	}
	if err := api.DeleteIngress(ctx, "", key.StreamKey); !serverapi.IsCode(err, "not_found") {
		t.Fatalf("DeleteIngress again: %v, want not_found", err)
	}
	if keys, err := api.Ingresses(ctx, ""); err != nil || len(keys) != 0 {
		t.Fatalf("Ingresses after delete: %+v, %v", keys, err)
	}

	tok, _ := serverapi.NewToken(auth.DevKey, auth.DevSecret, serverapi.TokenOptions{Identity: "alice", Room: "live", Publish: true})
	c, err := client.Connect(ctx, st.Signals[0].WS, tok, client.Options{Logger: testenv.Logger(),
		Media: client.MediaOptions{IPFilter: client.LoopbackOnly}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	_, err = api.StartEgress(ctx, serverapi.EgressRequest{Room: "live", Type: serverapi.EgressRoom,
		Outputs: []serverapi.EgressOutput{{File: "live.mp4"}}})
	if !serverapi.IsCode(err, "unavailable") {
		t.Fatalf("StartEgress without a worker: %v, want unavailable", err)
	}
	if _, err := api.StartEgress(ctx, serverapi.EgressRequest{Room: "live", Type: "movie"}); !serverapi.IsCode(err, "bad_request") {
		t.Fatalf("StartEgress of an unknown type: %v, want bad_request", err)
	}
	if _, err := api.Egress(ctx, "", "EG_nothing"); !serverapi.IsCode(err, "not_found") {
		t.Fatalf("Egress of an unknown id: %v, want not_found", err)
	}
	if list, err := api.Egresses(ctx, "", "live"); err != nil || len(list) != 0 {
		t.Fatalf("Egresses: %+v, %v", list, err)
	}
}
