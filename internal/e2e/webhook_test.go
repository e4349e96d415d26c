package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/internal/webhook"
)

// hookReceiver verifies and records webhook requests; each takes 10 ms so
// events are in flight when the leader dies.
type hookReceiver struct {
	mu  sync.Mutex
	got []webhook.Event
	bad int
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	time.Sleep(10 * time.Millisecond)
	body, _ := io.ReadAll(r.Body)
	var ev webhook.Event
	_, err := webhook.Verify(r.Header.Get("Authorization"), body, map[string]string{auth.DevKey: auth.DevSecret})
	if err == nil {
		err = json.Unmarshal(body, &ev)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.bad++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	h.got = append(h.got, ev)
}

// distinct returns the events without repeats, in first-arrival order,
// and checks that each room's events arrived in the order they happened.
func (h *hookReceiver) distinct() ([]webhook.Event, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[string]bool{}
	last := map[string][2]int{}
	var out []webhook.Event
	for _, e := range h.got {
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		out = append(out, e)
		var pos [2]int
		parts := strings.Split(e.ID, "_")
		if len(parts) == 3 {
			pos[0], _ = strconv.Atoi(parts[1])
			pos[1], _ = strconv.Atoi(parts[2])
		}
		if p, ok := last[e.Room]; ok && (pos[0] < p[0] || pos[0] == p[0] && pos[1] <= p[1]) {
			return out, fmt.Errorf("room %s: %s arrived after %v", e.Room, e.ID, p)
		}
		last[e.Room] = pos
	}
	return out, nil
}

// TestWebhooksSurviveLeaderKill: two `rtcloud controller` processes with
// webhooks; the leader is killed (SIGKILL) while events are in flight; the
// other takes over and the receiver still gets every event, in order per
// room, signed.
func TestWebhooksSurviveLeaderKill(t *testing.T) {
	nats := testenv.StartNATS(t)
	rcv := &hookReceiver{}
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	cfg := filepath.Join(t.TempDir(), "rtcloud.yaml")
	yaml := fmt.Sprintf("webhooks:\n  urls: [%s/hook]\ncontroller:\n  lease_ttl: 600ms\n", srv.URL)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	start := func(id string) (*child, string) {
		port := testenv.FreePort(t, "127.0.0.1")
		c := startChild(t, "controller", "--dev-keys", "--config", cfg, "--nats", nats.ClientURL(),
			"--http", fmt.Sprintf("127.0.0.1:%d", port), "--id", id)
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		waitHealthy(t, base)
		return c, base
	}
	a, aURL := start("ct-a")
	testenv.WaitFor(t, 10*time.Second, "ct-a leads", func() bool { return leads(aURL) })
	_, bURL := start("ct-b")

	pub := testenv.Connect(t, nats.ClientURL())
	rooms := []string{"r1", "r2", "r3"}
	const people = 40
	for i := range people {
		room := rooms[i%len(rooms)]
		p := &bus.Participant{Namespace: "default", Room: room, Identity: fmt.Sprintf("p%d", i), SessionID: fmt.Sprintf("PA_%d", i)}
		for _, typ := range []string{bus.EventParticipantJoined, bus.EventParticipantLeft} {
			if err := pub.Publish(bus.RoomEvents("default", room), bus.Event{Type: typ, Namespace: "default", Room: room, Participant: p}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Each join opens its room and each leave closes it again: 4 events
	// per participant.
	want := 4 * people
	testenv.WaitFor(t, 20*time.Second, "a quarter delivered", func() bool { evs, _ := rcv.distinct(); return len(evs) >= want/4 })
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, "ct-b takes over", func() bool { return leads(bURL) })
	testenv.Eventually(t, 30*time.Second, "every event after the kill", func() error {
		evs, err := rcv.distinct()
		if err != nil {
			return err
		}
		if len(evs) != want {
			return fmt.Errorf("%d distinct events, want %d", len(evs), want)
		}
		return nil
	})
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if rcv.bad > 0 {
		t.Fatalf("%d requests did not verify", rcv.bad)
	}
	t.Logf("%d requests for %d events (repeats after the kill keep their ids)", len(rcv.got), want)
}

// statusClient keeps no idle connections (no goroutines left behind).
var statusClient = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func leads(base string) bool {
	resp, err := statusClient.Get(base + "/v1/status")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var st struct{ Leader bool }
	return json.NewDecoder(resp.Body).Decode(&st) == nil && st.Leader
}
