package dashboard_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/controller"
	"github.com/rtcloud/rtcloud/internal/dashboard"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start runs NATS, a controller and its dashboard behind an HTTP server,
// with room records in two namespaces.
func start(t *testing.T) (string, *bus.Client) {
	t.Helper()
	nats := testenv.StartNATS(t)
	b := testenv.Connect(t, nats.ClientURL())
	c := config.Default()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ctl, err := controller.New(ctx, controller.Options{Config: c.Controller, Bus: b, Verifier: auth.NewVerifier(config.DevKeys()), Logger: testenv.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctl.Close)
	d, err := dashboard.New(ctx, dashboard.Options{Cluster: ctl, Bus: b, Verifier: auth.NewVerifier(config.DevKeys()), Logger: testenv.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close)
	rooms, err := b.KV(ctx, bus.BucketRooms, 0)
	if err != nil {
		t.Fatal(err)
	}
	sessions, err := b.KV(ctx, bus.BucketSessions, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []bus.RoomRecord{{Namespace: "default", Room: "ops"}, {Namespace: "acme", Room: "board"}, {Namespace: "globex", Room: "secret"}} {
		v, _ := json.Marshal(r)
		if _, err := rooms.Put(ctx, bus.RoomKey(r.Namespace, r.Room), v); err != nil {
			t.Fatal(err)
		}
		s, _ := json.Marshal(bus.SessionRecord{Participant: bus.Participant{Namespace: r.Namespace, Room: r.Room, Identity: "p", SessionID: "PA_" + r.Room}, NodeID: "n1"})
		if _, err := sessions.Put(ctx, "PA_"+r.Room, s); err != nil {
			t.Fatal(err)
		}
	}
	return srv.URL, b
}

func token(t *testing.T, secret, namespace, room string, admin bool) string {
	return testenv.MintWith(t, auth.TokenOptions{Key: auth.DevKey, Secret: secret, Identity: "viewer",
		Grant: auth.Grant{Namespace: namespace, Room: room, Admin: admin}})
}

func get(t *testing.T, method, url, tok string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		_ = json.NewDecoder(res.Body).Decode(out)
	}
	return res.StatusCode
}

// TestTokens: missing and forged tokens get 401, tokens without the
// namespace-wide admin grant and other tenants' tokens get 403, and a
// tenant sees only its own namespace.
func TestTokens(t *testing.T) {
	url, _ := start(t)
	operator := token(t, auth.DevSecret, "default", "*", true)
	acme := token(t, auth.DevSecret, "acme", "*", true)
	cases := []struct {
		name, method, path, tok string
		want                    int
	}{
		{"no token", "GET", "/dashboard/api/overview", "", 401},
		{"forged", "GET", "/dashboard/api/overview", token(t, "not-the-secret", "default", "*", true), 401},
		{"garbage", "GET", "/dashboard/api/stream", "abc.def.ghi", 401},
		{"not admin", "GET", "/dashboard/api/overview", token(t, auth.DevSecret, "default", "ops", false), 403},
		{"admin of one room", "GET", "/dashboard/api/overview", token(t, auth.DevSecret, "acme", "board", true), 403},
		{"other tenant's room", "GET", "/dashboard/api/rooms/globex/secret", acme, 403},
		{"other tenant's kick", "POST", "/dashboard/api/rooms/globex/secret/participants/p/kick", acme, 403},
		{"tenant drains a node", "POST", "/dashboard/api/nodes/n1/drain", acme, 403},
		{"tenant history", "GET", "/dashboard/api/history", acme, 403},
		{"tenant topology", "GET", "/dashboard/api/topology", acme, 403},
		{"tenant overview", "GET", "/dashboard/api/overview", acme, 200},
		{"operator overview", "GET", "/dashboard/api/overview", operator, 200},
		{"operator history", "GET", "/dashboard/api/history", operator, 200},
		{"operator topology", "GET", "/dashboard/api/topology", operator, 200},
		{"operator, no such room", "GET", "/dashboard/api/rooms/acme/nope", operator, 404},
		{"dev sign-in is off", "GET", "/dashboard/api/dev-token", "", 404},
		{"the page needs no token", "GET", "/dashboard/", "", 200},
	}
	for _, c := range cases {
		if got := get(t, c.method, url+c.path, c.tok, nil); got != c.want {
			t.Errorf("%s: %s %s answered %d, want %d", c.name, c.method, c.path, got, c.want)
		}
	}
	var o struct {
		Rooms  []struct{ Namespace, Room string }
		Totals struct{ Participants int }
	}
	get(t, "GET", url+"/dashboard/api/overview", acme, &o)
	if len(o.Rooms) != 1 || o.Rooms[0].Namespace != "acme" || o.Totals.Participants != 1 {
		t.Fatalf("tenant acme sees %+v, want only acme/board with 1 participant", o)
	}
	get(t, "GET", url+"/dashboard/api/overview", operator, &o)
	if len(o.Rooms) != 3 {
		t.Fatalf("the operator sees %d rooms, want 3", len(o.Rooms))
	}
}

// TestDevSignIn: with DevSignIn the page gets an operator token, from
// this machine only.
func TestDevSignIn(t *testing.T) {
	nats := testenv.StartNATS(t)
	b := testenv.Connect(t, nats.ClientURL())
	c := config.Default()
	ctx := testenv.Context(t, 15*time.Second)
	ctl, err := controller.New(ctx, controller.Options{Config: c.Controller, Bus: b, Verifier: auth.NewVerifier(config.DevKeys()), Logger: testenv.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctl.Close)
	d, err := dashboard.New(ctx, dashboard.Options{Cluster: ctl, Bus: b, Verifier: auth.NewVerifier(config.DevKeys()), Logger: testenv.Logger(),
		DevSignIn: func() (string, error) { return dashboard.DevToken(auth.DevKey, auth.DevSecret, "default") }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close)
	var got struct{ Token string }
	if code := get(t, "GET", srv.URL+"/dashboard/api/dev-token", "", &got); code != 200 || got.Token == "" {
		t.Fatalf("dev token from loopback: %d %+v", code, got)
	}
	if code := get(t, "GET", srv.URL+"/dashboard/api/overview", got.Token, nil); code != 200 {
		t.Fatalf("the dev token is refused: %d", code)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/dashboard/api/dev-token", nil)
	req.RemoteAddr = "192.0.2.7:40000"
	d.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("dev token for another machine: %d, want 403", rec.Code)
	}
}

// TestStream: the event stream sends the overview at once and again when
// a participant joins.
func TestStream(t *testing.T) {
	url, b := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/dashboard/api/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token(t, auth.DevSecret, "acme", "*", true))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	participants := make(chan int, 16)
	go func() {
		buf := make([]byte, 64<<10)
		var acc string
		for {
			n, err := res.Body.Read(buf)
			if err != nil {
				close(participants)
				return
			}
			acc += string(buf[:n])
			for {
				i := strings.Index(acc, "\n\n")
				if i < 0 {
					break
				}
				block := acc[:i]
				acc = acc[i+2:]
				if _, data, ok := strings.Cut(block, "event: overview\ndata: "); ok {
					var o struct{ Totals struct{ Participants int } }
					_ = json.Unmarshal([]byte(data), &o)
					participants <- o.Totals.Participants
				}
			}
		}
	}()
	for n := range participants { // the records written by start show up
		if n == 1 {
			break
		}
	}
	sessions, _ := b.KV(ctx, bus.BucketSessions, 0)
	s, _ := json.Marshal(bus.SessionRecord{Participant: bus.Participant{Namespace: "acme", Room: "board", Identity: "q", SessionID: "PA_q"}, NodeID: "n1"})
	if _, err := sessions.Put(ctx, "PA_q", s); err != nil {
		t.Fatal(err)
	}
	for n := range participants {
		if n == 2 {
			cancel()
			return
		}
	}
	t.Fatal("the stream ended without an overview with 2 participants")
}
