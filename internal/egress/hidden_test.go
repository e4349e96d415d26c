package egress

import (
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// The recorder is a hidden participant: nobody in the room sees it join,
// it is in no room state, and it cannot publish.
func TestRecorderIsHidden(t *testing.T) {
	e := newEnv(t)
	e.worker(nil)
	alice := e.publish("quiet", "alice", false, true)
	info := e.start(bus.EgressRequest{Room: "quiet", Type: bus.EgressTypeTrack, TrackID: alice.trackID(bus.KindAudio),
		Outputs: []bus.EgressOutput{{File: "quiet.ogg"}}})
	e.waitDuration(info.EgressID, time.Second)

	ctx := testenv.Context(t, 10*time.Second)
	bob, err := client.Connect(ctx, e.st.Signals[0].WS, testenv.Mint(t, auth.DefaultNamespace, "quiet", "bob"),
		client.Options{Media: client.MediaOptions{IPFilter: client.LoopbackOnly}, Logger: testenv.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if err := bob.WaitUntil(ctx, func() bool { return len(bob.Participants()) >= 1 }); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Client{alice.c, bob} {
		for _, p := range c.Participants() {
			if p.Identity != "alice" && p.Identity != "bob" {
				t.Fatalf("%s sees %q in the room", c.Self().Identity, p.Identity)
			}
		}
	}
	e.stop(info.EgressID)
	// alice heard of bob joining, never of the recorder joining or leaving.
	drain := time.After(500 * time.Millisecond)
	for {
		select {
		case ev := <-alice.c.Events():
			if ev.Participant != nil && ev.Participant.Identity != "bob" && ev.Participant.Identity != "alice" {
				t.Fatalf("alice got %s for %q", ev.Type, ev.Participant.Identity)
			}
			continue
		case <-drain:
		}
		break
	}

	// A hidden token cannot publish.
	hidden := testenv.MintWith(t, auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: "ghost",
		Grant: auth.Grant{Namespace: auth.DefaultNamespace, Room: "quiet", Publish: true, Subscribe: true, Hidden: true}})
	ghost, err := client.Connect(ctx, e.st.Signals[0].WS, hidden,
		client.Options{Media: client.MediaOptions{IPFilter: client.LoopbackOnly}, Logger: testenv.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer ghost.Close()
	if _, err := ghost.Publish(ctx, client.TrackSpec{Codec: client.CodecOpus}); err == nil {
		t.Fatal("a hidden participant published")
	}
}
