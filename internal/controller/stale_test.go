package controller

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

// staleEnv is a leading controller with a short StaleAfter, one fake node
// and direct access to the session and room buckets.
type staleEnv struct {
	ctl      *instance
	node     *fakeNode
	sessions jetstream.KeyValue
	rooms    jetstream.KeyValue
}

const testStaleAfter = 1500 * time.Millisecond

func startStaleEnv(t *testing.T) *staleEnv {
	t.Helper()
	url := startNATS(t)
	cfg := testConfig()
	cfg.DeadAfter, cfg.LeaseTTL = time.Second, time.Second
	ctl := startControllerWith(t, url, Options{Config: cfg, StaleAfter: testStaleAfter}, 1)
	node := startNode(t, url, bus.NodeInfo{ID: "n-1", Region: "eu", Capacity: 100})
	waitNodes(t, ctl, 1)
	testenv.WaitFor(t, 5*time.Second, "leadership", ctl.IsLeader)
	b := connect(t, url, 1)
	ctx := context.Background()
	sessions, err := b.KV(ctx, bus.BucketSessions, 0)
	if err != nil {
		t.Fatal(err)
	}
	rooms, err := b.KV(ctx, bus.BucketRooms, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &staleEnv{ctl: ctl, node: node, sessions: sessions, rooms: rooms}
}

func (e *staleEnv) put(t *testing.T, kv jetstream.KeyValue, key string, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(context.Background(), key, data); err != nil {
		t.Fatal(err)
	}
}

func exists(t *testing.T, kv jetstream.KeyValue, key string) bool {
	t.Helper()
	_, err := kv.Get(context.Background(), key)
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// waitRounds waits until n more stale sweeps ran and at least d passed.
func (e *staleEnv) waitRounds(t *testing.T, n uint64, d time.Duration) {
	t.Helper()
	start, from := time.Now(), e.ctl.staleRuns.Load()
	testenv.WaitFor(t, d+time.Duration(n+2)*2*time.Second, "stale sweeps", func() bool {
		return e.ctl.staleRuns.Load() >= from+n && time.Since(start) >= d
	})
}

func participant(room, identity, session string) bus.Participant {
	return bus.Participant{Namespace: "default", Room: room, Identity: identity, SessionID: session}
}

// The leader deletes session records whose live node no longer has the
// session (a signaling server died before it could clean up), but only
// after StaleAfter, and keeps the records of sessions that exist.
func TestLeaderSweepsSessionsTheirNodeLost(t *testing.T) {
	e := startStaleEnv(t)
	alive := participant("r", "alice", "PA_alive")
	e.node.mu.Lock()
	e.node.parts = []bus.ParticipantInfo{{Participant: alive}}
	e.node.mu.Unlock()
	start := time.Now()
	for _, p := range []bus.Participant{alive, participant("r", "bob", "PA_gone"), participant("elsewhere", "carol", "PA_other")} {
		e.put(t, e.sessions, p.SessionID, bus.SessionRecord{Participant: p, NodeID: "n-1", Kind: "ws", CreatedAt: time.Now()})
	}
	e.put(t, e.rooms, bus.RoomKey("default", "r"), bus.RoomRecord{Namespace: "default", Room: "r", NodeID: "n-1"})
	took := testenv.WaitFor(t, 4*testStaleAfter+3*time.Second, "stale session records removed", func() bool {
		return !exists(t, e.sessions, "PA_gone") && !exists(t, e.sessions, "PA_other")
	})
	if gone := time.Since(start); gone < testStaleAfter {
		t.Fatalf("stale records removed after %v, before StaleAfter %v", gone, testStaleAfter)
	}
	t.Logf("stale session records removed after %v", took)
	if !exists(t, e.sessions, "PA_alive") {
		t.Fatal("the record of a live session was removed")
	}
	if !exists(t, e.rooms, bus.RoomKey("default", "r")) {
		t.Fatal("the record of a room with a participant was removed")
	}
	// A session the node gets back within StaleAfter stays: the clock
	// restarts once it is seen again.
	late := participant("r", "dave", "PA_late")
	e.put(t, e.sessions, late.SessionID, bus.SessionRecord{Participant: late, NodeID: "n-1", Kind: "ws"})
	e.waitRounds(t, 1, 0) // seen missing once
	e.node.mu.Lock()
	e.node.parts = append(e.node.parts, bus.ParticipantInfo{Participant: late})
	e.node.mu.Unlock()
	e.waitRounds(t, 2, 2*testStaleAfter)
	if !exists(t, e.sessions, "PA_late") {
		t.Fatal("a session that showed up on its node within StaleAfter lost its record")
	}
}

// The leader deletes the record of a room nobody has been in for
// StaleAfter (and no session record names), so its next first client
// places it afresh.
func TestLeaderSweepsEmptyRooms(t *testing.T) {
	e := startStaleEnv(t)
	e.node.mu.Lock()
	e.node.parts = []bus.ParticipantInfo{{Participant: participant("busy", "alice", "PA_a")}}
	e.node.mu.Unlock()
	start := time.Now()
	for _, r := range []string{"busy", "empty"} {
		e.put(t, e.rooms, bus.RoomKey("default", r), bus.RoomRecord{Namespace: "default", Room: r, NodeID: "n-1"})
	}
	e.put(t, e.sessions, "PA_a", bus.SessionRecord{Participant: participant("busy", "alice", "PA_a"), NodeID: "n-1"})
	took := testenv.WaitFor(t, 4*testStaleAfter+3*time.Second, "empty room removed", func() bool {
		return !exists(t, e.rooms, bus.RoomKey("default", "empty"))
	})
	if gone := time.Since(start); gone < testStaleAfter {
		t.Fatalf("empty room removed after %v, before StaleAfter %v", gone, testStaleAfter)
	}
	t.Logf("empty room record removed after %v", took)
	if !exists(t, e.rooms, bus.RoomKey("default", "busy")) {
		t.Fatal("the record of a room with a participant was removed")
	}
	// The room is placed afresh by the next client.
	if a, code := allocate(t, e.ctl.url, "default", "empty", "10.1.0.1"); code != 200 || a.Node.ID != "n-1" || !exists(t, e.rooms, bus.RoomKey("default", "empty")) {
		t.Fatalf("allocate after the sweep: %d %+v", code, a)
	}
	// The participant leaves: after StaleAfter the room record goes too
	// (its session record first, as the node no longer has the session).
	e.node.mu.Lock()
	e.node.parts = nil
	e.node.mu.Unlock()
	testenv.WaitFor(t, 6*testStaleAfter+3*time.Second, "room removed after its last participant left", func() bool {
		return !exists(t, e.rooms, bus.RoomKey("default", "busy")) && !exists(t, e.sessions, "PA_a")
	})
}
