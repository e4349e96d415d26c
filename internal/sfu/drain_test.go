package sfu

import (
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
)

// TestDrain: a drained node reports Draining, refuses new sessions with
// unavailable and keeps the ones it has; undrained, it takes them again.
func TestDrain(t *testing.T) {
	env := newEnv(t)
	hb := &heartbeatLog{}
	sub, err := env.bus.Subscribe(bus.NodeHeartbeats, hb.add)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	create := func(id string) error {
		return env.request(bus.CmdSessionCreate, bus.CreateSession{
			Participant: bus.Participant{Namespace: "default", Room: "drain", Identity: id, SessionID: "PA_" + id},
			Grants:      bus.Grants{Publish: true, Subscribe: true},
		}, nil)
	}
	if err := create("before"); err != nil {
		t.Fatal(err)
	}
	draining := func(want bool) func() bool {
		return func() bool { info, ok := hb.last(); return ok && info.Draining == want }
	}
	if err := env.request(bus.CmdDrain, bus.Drain{Draining: true}, nil); err != nil {
		t.Fatal(err)
	}
	if !env.node.Draining() {
		t.Fatal("node not draining after the command")
	}
	waitFor(t, 5*time.Second, "heartbeat with draining", draining(true))
	if err := create("during"); !bus.IsCode(err, bus.CodeUnavailable) {
		t.Fatalf("create while draining: %v, want unavailable", err)
	}
	var st bus.RoomState
	if err := env.request(bus.CmdRoomState, bus.RoomStateRequest{Namespace: "default", Room: "drain"}, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Participants) != 1 || st.Participants[0].Identity != "before" {
		t.Fatalf("existing sessions while draining: %+v, want the one created before", st.Participants)
	}
	if err := env.request(bus.CmdDrain, bus.Drain{Draining: false}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "heartbeat without draining", draining(false))
	if err := create("after"); err != nil {
		t.Fatalf("create after undrain: %v", err)
	}
}
