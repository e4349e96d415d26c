package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/controller"
	"github.com/rtcloud/rtcloud/internal/protocol"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/internal/teststack"
	"github.com/rtcloud/rtcloud/internal/webhook"
	"github.com/rtcloud/rtcloud/pkg/client"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// hooked is a controller with its webhook service, each on its own bus
// connection, as `rtcloud controller` runs them.
type hooked struct {
	bus  *bus.Client
	ctl  *controller.Controller
	svc  *webhook.Service
	dead bool
}

func startHooked(t *testing.T, natsURL, id string, cfg config.Webhooks) *hooked {
	t.Helper()
	b, err := bus.Connect(bus.Options{URLs: natsURL, Name: id, Logger: testenv.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{auth.DevKey: auth.DevSecret}
	ccfg := config.DefaultController()
	ccfg.LeaseTTL = 600 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ctl, err := controller.New(ctx, controller.Options{Config: ccfg, Bus: b, Verifier: auth.NewVerifier(keys), Logger: testenv.Logger(), ID: id})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := webhook.New(ctx, webhook.Options{Config: cfg, Keys: keys, Bus: b, Leader: ctl.IsLeader,
		Logger: testenv.Logger(), Backoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	svc.Start()
	h := &hooked{bus: b, ctl: ctl, svc: svc}
	t.Cleanup(h.kill)
	return h
}

// kill stops the controller as a dying process would: its connection goes
// first, so it neither resigns its lease nor saves its positions.
func (h *hooked) kill() {
	if h.dead {
		return
	}
	h.dead = true
	h.bus.Close()
	h.svc.Close()
	h.ctl.Close()
}

func hookConfig(url string) config.Webhooks {
	c := config.DefaultWebhooks()
	c.URLs = []string{url}
	c.Timeout = 2 * time.Second
	return c
}

func joinRoom(t *testing.T, ws, room, identity string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		c, err := client.Connect(ctx, ws, testenv.Mint(t, auth.DefaultNamespace, room, identity), client.Options{Name: identity,
			Media: client.MediaOptions{IPFilter: client.LoopbackOnly, Logger: testenv.Logger()}, Logger: testenv.Logger()})
		if err == nil {
			t.Cleanup(c.Close)
			return c
		}
		if !client.IsCode(err, protocol.CodeUnavailable) || ctx.Err() != nil {
			t.Fatalf("%s joins %s: %v", identity, room, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestEveryEventType: real clients join two rooms through a real SFU node
// and signaling server, publish, unpublish and leave; a service publishes
// an egress event. Every type arrives at the receiver, signed, in order.
func TestEveryEventType(t *testing.T) {
	st := teststack.Start(t, teststack.Options{})
	rcv := newReceiver(t)
	startHooked(t, st.NATS.ClientURL(), "ct-1", hookConfig(rcv.srv.URL))
	ctx := testenv.Context(t, 30*time.Second)
	for _, room := range []string{"alpha", "beta"} {
		c := joinRoom(t, st.Signals[0].WS, room, "alice-"+room)
		tr, err := c.Publish(ctx, client.TrackSpec{Codec: client.CodecVP8, FPS: 10, KbpsPerLayer: []int{100}})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.WaitPublished(ctx, tr...); err != nil {
			t.Fatal(err)
		}
		if err := c.Leave(ctx); err != nil {
			t.Fatal(err)
		}
	}
	hook := bus.HookEvent{Type: "egress_started", Namespace: auth.DefaultNamespace, Room: "alpha", Object: json.RawMessage(`{"egress_id":"EG_1"}`)}
	b := testenv.Connect(t, st.NATS.ClientURL())
	if err := b.Publish(bus.HookEvents(hook.Namespace, hook.Room), hook); err != nil {
		t.Fatal(err)
	}
	// An egress worker's event, as internal/egress publishes it.
	eg := bus.EgressEvent{Type: bus.EventEgressStarted, At: time.Now(), Egress: bus.EgressInfo{
		EgressRequest: bus.EgressRequest{EgressID: "EG_2", Namespace: auth.DefaultNamespace, Room: "beta", Type: bus.EgressTypeRoom},
		Status:        bus.EgressActive}}
	if err := b.Publish(bus.EgressEvents, eg); err != nil {
		t.Fatal(err)
	}
	want := []string{webhook.TypeRoomStarted, webhook.TypeParticipantJoined, webhook.TypeTrackPublished,
		webhook.TypeTrackUnpublished, webhook.TypeParticipantLeft, webhook.TypeRoomFinished}
	testenv.Eventually(t, 20*time.Second, "every event of both rooms", func() error {
		rooms := byRoom(unique(rcv.events()))
		for _, room := range []string{"alpha", "beta"} {
			var types []string
			for _, e := range rooms["default/"+room] {
				types = append(types, e.Type)
			}
			// alpha's service event and beta's egress event come last.
			exp := append(append([]string{}, want...), "egress_started")
			if fmt.Sprint(types) != fmt.Sprint(exp) {
				return fmt.Errorf("room %s: got %v, want %v", room, types, exp)
			}
		}
		return nil
	})
	evs := rcv.events()
	if len(rcv.bad) > 0 {
		t.Fatalf("requests that did not verify: %v", rcv.bad)
	}
	for _, e := range evs {
		if e.ID == "" || e.Timestamp.IsZero() || len(e.Object) == 0 {
			t.Errorf("event without id, timestamp or object: %+v", e)
		}
		if e.Type == bus.EventEgressStarted && e.Room == "beta" {
			var info bus.EgressInfo
			if err := json.Unmarshal(e.Object, &info); err != nil || info.EgressID != "EG_2" || info.Status != bus.EgressActive {
				t.Errorf("egress_started object %s: %v", e.Object, err)
			}
		}
		if e.Type == webhook.TypeParticipantJoined {
			var p bus.Participant
			if err := json.Unmarshal(e.Object, &p); err != nil || p.Identity != "alice-"+e.Room {
				t.Errorf("participant_joined object %s: %v", e.Object, err)
			}
		}
	}
	if err := checkOrder(evs); err != nil {
		t.Fatal(err)
	}
}

// TestForgedSignature: a body changed after signing, or a token signed
// with another secret, does not verify.
func TestForgedSignature(t *testing.T) {
	body := []byte(`{"id":"EV_1_0","type":"room_started"}`)
	keys := map[string]string{"k": "s"}
	tok, err := webhook.Sign(body, "k", "s", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := webhook.Verify(tok, body, keys); err != nil {
		t.Fatalf("genuine request: %v", err)
	}
	if _, err := webhook.Verify(tok, append(body, ' '), keys); err == nil {
		t.Fatal("a changed body verified")
	}
	other, _ := webhook.Sign(body, "k", "not-s", time.Now())
	if _, err := webhook.Verify(other, body, keys); err == nil {
		t.Fatal("a token with another secret verified")
	}
	if _, err := webhook.Verify("", body, keys); err == nil {
		t.Fatal("no token verified")
	}
}
