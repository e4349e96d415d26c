package webhook_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

// roomEvents publishes, as an SFU node does, n joins and leaves spread over
// rooms; it returns how many participant events each room got.
func roomEvents(t *testing.T, b *bus.Client, rooms []string, n int, tag string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for i := range n {
		room := rooms[i%len(rooms)]
		p := &bus.Participant{Namespace: auth.DefaultNamespace, Room: room, Identity: fmt.Sprintf("%s-%d", tag, i), SessionID: fmt.Sprintf("PA_%s_%d", tag, i)}
		for _, typ := range []string{bus.EventParticipantJoined, bus.EventParticipantLeft} {
			if err := b.Publish(bus.RoomEvents(p.Namespace, room), bus.Event{Type: typ, Namespace: p.Namespace, Room: room, Participant: p}); err != nil {
				t.Fatal(err)
			}
		}
		counts[room] += 2
	}
	return counts
}

// participantEvents counts a room's distinct participant events.
func participantEvents(r *receiver) map[string]int {
	out := map[string]int{}
	for _, e := range unique(r.events()) {
		if e.Type == bus.EventParticipantJoined || e.Type == bus.EventParticipantLeft {
			out[e.Room]++
		}
	}
	return out
}

func sameCounts(got, want map[string]int) error {
	for room, n := range want {
		if got[room] != n {
			return fmt.Errorf("room %s: %d participant events, want %d (all: %v)", room, got[room], n, got)
		}
	}
	return nil
}

// TestReceiverDownThenLeaderKilled: the receiver refuses everything for a
// while, then recovers and gets every event in order per room; then the
// leader controller dies in the middle of a burst and the standby
// delivers the rest: nothing is lost, repeats keep their ids.
func TestReceiverDownThenLeaderKilled(t *testing.T) {
	nats := testenv.StartNATS(t)
	rcv := newReceiver(t)
	cfg := hookConfig(rcv.srv.URL)
	a := startHooked(t, nats.ClientURL(), "ct-a", cfg)
	testenv.WaitFor(t, 10*time.Second, "ct-a leads", a.ctl.IsLeader)
	b := startHooked(t, nats.ClientURL(), "ct-b", cfg)
	pub := testenv.Connect(t, nats.ClientURL())
	rooms := []string{"r1", "r2", "r3"}

	rcv.failing.Store(true)
	want := roomEvents(t, pub, rooms, 30, "down")
	testenv.WaitFor(t, 10*time.Second, "the receiver refuses retries", func() bool {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		return rcv.refused >= 6
	})
	rcv.failing.Store(false)
	testenv.Eventually(t, 20*time.Second, "every event after the receiver recovers", func() error {
		// Each join opens its room, each leave closes it: 4 events each.
		if n := len(unique(rcv.events())); n != 4*30 {
			return fmt.Errorf("%d distinct events, want %d", n, 4*30)
		}
		return sameCounts(participantEvents(rcv), want)
	})
	if err := checkOrder(rcv.events()); err != nil {
		t.Fatal(err)
	}
	// The count follows the receiver's answer.
	testenv.Eventually(t, 5*time.Second, "the leader counts its deliveries", func() error {
		if st := a.svc.Stats(); st.Retries < 6 || st.Delivered < 120 || st.GivenUp != 0 {
			return fmt.Errorf("leader's counts %+v: want at least 6 retries, 120 deliveries, none given up", st)
		}
		return nil
	})

	// A slow receiver keeps events in flight while the leader dies.
	rcv.slow.Store(true)
	before := len(rcv.events())
	more := roomEvents(t, pub, rooms, 60, "kill")
	for room, n := range more {
		want[room] += n
	}
	testenv.WaitFor(t, 10*time.Second, "some of the burst delivered", func() bool { return len(rcv.events()) >= before+10 })
	a.kill()
	testenv.WaitFor(t, 10*time.Second, "ct-b takes over", b.ctl.IsLeader)
	rcv.slow.Store(false)
	testenv.Eventually(t, 30*time.Second, "every event after the leader died", func() error {
		return sameCounts(participantEvents(rcv), want)
	})
	if err := checkOrder(rcv.events()); err != nil {
		t.Fatal(err)
	}
	if len(rcv.bad) > 0 {
		t.Fatalf("requests that did not verify: %v", rcv.bad)
	}
	t.Logf("%d requests, %d distinct events, %d refused while down", len(rcv.events()), len(unique(rcv.events())), rcv.refused)
}

// TestNodeDiesRoomFinishes: a participant's node dies without a word; the
// leader removes its session, announces participant_left, and the room's
// room_finished follows.
func TestNodeDiesRoomFinishes(t *testing.T) {
	nats := testenv.StartNATS(t)
	rcv := newReceiver(t)
	h := startHooked(t, nats.ClientURL(), "ct-a", hookConfig(rcv.srv.URL))
	testenv.WaitFor(t, 10*time.Second, "ct-a leads", h.ctl.IsLeader)
	pub := testenv.Connect(t, nats.ClientURL())
	// What the node did before it died: announce the join and record the
	// session. It never sends a heartbeat again.
	p := &bus.Participant{Namespace: auth.DefaultNamespace, Room: "lost", Identity: "zoe", SessionID: "PA_zoe"}
	if err := pub.Publish(bus.RoomEvents(p.Namespace, p.Room), bus.Event{Type: bus.EventParticipantJoined, Namespace: p.Namespace, Room: p.Room, Participant: p}); err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t, 10*time.Second)
	kv, err := pub.KV(ctx, bus.BucketSessions, 0)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := json.Marshal(bus.SessionRecord{Participant: *p, NodeID: "sfu-gone", CreatedAt: time.Now()})
	if _, err := kv.Put(ctx, p.SessionID, rec); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 15*time.Second, "the room finishes", func() error {
		var types []string
		for _, e := range unique(rcv.events()) {
			types = append(types, e.Type)
		}
		if got := fmt.Sprint(types); got != "[room_started participant_joined participant_left room_finished]" {
			return fmt.Errorf("events %s", got)
		}
		return nil
	})
}

// TestNamespaceReceivers: webhooks.urls get every namespace's events, a
// namespace's urls only that namespace's.
func TestNamespaceReceivers(t *testing.T) {
	nats := testenv.StartNATS(t)
	all, acme := newReceiver(t), newReceiver(t)
	cfg := hookConfig(all.srv.URL)
	cfg.Namespaces = map[string]config.WebhookNamespace{"acme": {URLs: []string{acme.srv.URL}}}
	h := startHooked(t, nats.ClientURL(), "ct-a", cfg)
	testenv.WaitFor(t, 10*time.Second, "ct-a leads", h.ctl.IsLeader)
	pub := testenv.Connect(t, nats.ClientURL())
	for _, ns := range []string{"acme", "globex"} {
		p := &bus.Participant{Namespace: ns, Room: "r", Identity: "p", SessionID: "PA_" + ns}
		if err := pub.Publish(bus.RoomEvents(ns, "r"), bus.Event{Type: bus.EventParticipantJoined, Namespace: ns, Room: "r", Participant: p}); err != nil {
			t.Fatal(err)
		}
	}
	namespaces := func(r *receiver) string {
		var out []string
		for _, e := range unique(r.events()) {
			out = append(out, e.Namespace+":"+e.Type)
		}
		sort.Strings(out) // rooms are delivered side by side, each in order
		return fmt.Sprint(out)
	}
	testenv.Eventually(t, 10*time.Second, "both namespaces at the global receiver", func() error {
		if got := namespaces(all); got != "[acme:participant_joined acme:room_started globex:participant_joined globex:room_started]" {
			return fmt.Errorf("global receiver got %s", got)
		}
		return nil
	})
	testenv.Eventually(t, 10*time.Second, "acme's events only at acme's receiver", func() error {
		if got := namespaces(acme); got != "[acme:participant_joined acme:room_started]" {
			return fmt.Errorf("acme's receiver got %s", got)
		}
		return nil
	})
}
