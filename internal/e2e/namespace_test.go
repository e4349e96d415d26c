package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// Two namespaces with a room of the same name: nothing of one is visible
// in the other, through the WebSocket or WHEP, and a forged token for the
// other namespace is refused.
func TestNamespaceIsolation(t *testing.T) {
	c := startCluster(t)
	const room = "shared-name"
	a1 := join(t, c.wsURL, "tenant-a", room, "alice")
	b1 := join(t, c.wsURL, "tenant-b", room, "bob")
	publish(t, a1, video(), audio())
	a2 := join(t, c.wsURL, "tenant-a", room, "alice-2")
	ctx := testenv.Context(t, 30*time.Second)
	if _, err := a2.WaitTracks(ctx, 2, func(ti bus.TrackInfo) bool { return ti.Identity == "alice" }); err != nil {
		t.Fatalf("same namespace sees the tracks: %v", err)
	}
	// bob joins after everything happened in tenant-a, and waits for a
	// marker event of his own namespace: events are ordered per room, so
	// anything leaked from tenant-a would have arrived by then.
	b2 := join(t, c.wsURL, "tenant-b", room, "bob-2")
	if err := b1.WaitUntil(ctx, func() bool {
		for _, p := range b1.Participants() {
			if p.Identity == "bob-2" {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*client.Client{b1, b2} {
		for _, p := range cl.Participants() {
			if p.Namespace != "tenant-b" && p.Namespace != "" || p.Identity == "alice" || p.Identity == "alice-2" {
				t.Errorf("%s sees %+v", cl.Self().Identity, p)
			}
		}
	}
	drain := func(cl *client.Client) {
		for {
			select {
			case ev := <-cl.Events():
				if ev.Participant != nil && ev.Participant.Namespace != "tenant-b" ||
					ev.Track != nil && (ev.Track.Identity == "alice" || ev.Track.Identity == "alice-2") {
					t.Errorf("%s got an event of another namespace: %+v", cl.Self().Identity, ev)
				}
			default:
				return
			}
		}
	}
	drain(b1)
	drain(b2)

	// WHEP with a tenant-b token cannot reach alice of tenant-a.
	short, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	_, err := client.WatchWHEP(short, c.httpURL+"/whep/"+room+"/alice", testenv.Mint(t, "tenant-b", room, "peeker"), mediaOptions())
	cancel()
	if !errors.Is(err, client.ErrHTTPStatus) {
		t.Errorf("WHEP into another namespace: %v, want an HTTP error", err)
	}

	// A token for tenant-a signed with a wrong secret is refused.
	forged, err := auth.Mint(auth.TokenOptions{Key: auth.DevKey, Secret: "not-the-secret", Identity: "mallory",
		Grant: auth.Grant{Namespace: "tenant-a", Room: room, Publish: true, Subscribe: true}})
	if err != nil {
		t.Fatal(err)
	}
	jctx, jcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer jcancel()
	m, err := client.Connect(jctx, c.wsURL, forged, client.Options{Media: mediaOptions()})
	if err == nil {
		m.Close()
		t.Fatal("a forged token joined")
	}
	if !client.IsCode(err, protocol.CodeUnauthorized) {
		t.Errorf("forged token: %v, want %s", err, protocol.CodeUnauthorized)
	}
}
