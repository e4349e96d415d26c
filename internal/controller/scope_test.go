package controller

import (
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"strings"
	"testing"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// An admin token for one room lists that room only; the namespace's
// operator token lists every room.
func TestRoomAdminSeesOnlyItsRoom(t *testing.T) {
	url := startNATS(t)
	c := startController(t, url, testConfig(), 1)
	startNode(t, url, bus.NodeInfo{ID: "n1", Region: "eu"})
	waitNodes(t, c, 1)
	for _, room := range []string{"meet", "secret", "other"} {
		if a, _ := allocate(t, c.url, "default", room, "10.1.0.1"); a.Node.ID != "n1" {
			t.Fatalf("allocate %s failed", room)
		}
	}
	list := func(tok string) []string {
		var rooms struct{ Rooms []RoomStatus }
		if code := call(t, "GET", c.url+"/v1/admin/rooms", tok, &rooms); code != 200 {
			t.Fatalf("rooms: %d", code)
		}
		var names []string
		for _, r := range rooms.Rooms {
			names = append(names, r.Room)
		}
		return names
	}
	roomAdmin := token(t, auth.Grant{Namespace: "default", Room: "meet", Admin: true})
	if got := list(roomAdmin); len(got) != 1 || got[0] != "meet" {
		t.Fatalf("room admin of meet lists %v", got)
	}
	if got := list(token(t, auth.Grant{Namespace: "default", Room: "*", Admin: true})); len(got) != 3 {
		t.Fatalf("operator lists %v", got)
	}
	var e errorJSON
	if code := call(t, "GET", c.url+"/v1/admin/rooms/default/secret", roomAdmin, &e); code != 403 {
		t.Fatalf("room admin reads another room: %d", code)
	}
}

// Server-side failures reach clients as a code and a plain message,
// without bus subjects or node ids.
func TestErrorsHideInternals(t *testing.T) {
	url := startNATS(t)
	c := startController(t, url, testConfig(), 1)
	var e errorJSON
	code := call(t, "GET", c.url+"/v1/allocate?room=r", "", &e)
	if code != 503 || e.Error.Code != bus.CodeUnavailable {
		t.Fatalf("allocate without nodes: %d %+v", code, e)
	}
	for _, leak := range []string{"rtcloud.", "node.", "nats", "KV", "$"} {
		if strings.Contains(e.Error.Message, leak) {
			t.Fatalf("message %q shows internals (%q)", e.Error.Message, leak)
		}
	}
}

// Anonymous allocate requests store nothing: a flood of fresh room names
// leaves the rooms bucket empty. A token-bearing allocate stores the
// placement, and the buckets have limits.
func TestAnonymousAllocatePersistsNothing(t *testing.T) {
	url := startNATS(t)
	c := startController(t, url, testConfig(), 1)
	startNode(t, url, bus.NodeInfo{ID: "n1", Region: "eu"})
	waitNodes(t, c, 1)
	for i := range 50 {
		var a allocationJSON
		if code := call(t, "GET", c.url+"/v1/allocate?room="+fmt.Sprintf("fresh%d", i), "", &a); code != 200 || a.Node.ID != "n1" {
			t.Fatalf("anonymous allocate: %d %+v", code, a)
		}
	}
	ctx := t.Context()
	st, err := c.rooms.kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Values() != 0 {
		t.Fatalf("anonymous allocates left %d entries in the rooms bucket", st.Values())
	}
	if a, code := allocate(t, c.url, "default", "real", "10.1.0.1"); code != 200 || a.Node.ID != "n1" {
		t.Fatalf("allocate with a token: %d", code)
	}
	if st, _ = c.rooms.kv.Status(ctx); st.Values() != 1 {
		t.Fatalf("allocate with a token stored %d entries, want 1", st.Values())
	}
	if st.History() != 1 || st.TTL() <= 0 || st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.MaxBytes <= 0 {
		t.Fatalf("rooms bucket without limits: history %d, ttl %v", st.History(), st.TTL())
	}
}

// The leader purges the markers deleted keys leave.
func TestDeleteMarkersPurged(t *testing.T) {
	url := startNATS(t)
	c := startController(t, url, testConfig(), 1)
	ctx := t.Context()
	for i := range 20 {
		key := fmt.Sprintf("PA_gone%d", i)
		if _, err := c.sessions.Put(ctx, key, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		if err := c.sessions.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := c.sessions.Status(ctx); st.Values() != 20 {
		t.Fatalf("%d entries before the purge, want 20 delete markers", st.Values())
	}
	c.purgeDeletes(ctx, deleteMarkerAge) // too young: they stay
	if st, _ := c.sessions.Status(ctx); st.Values() != 20 {
		t.Fatalf("%d entries after purging markers older than %v", st.Values(), deleteMarkerAge)
	}
	c.purgeDeletes(ctx, -1)
	if st, _ := c.sessions.Status(ctx); st.Values() != 0 {
		t.Fatalf("%d entries after the purge", st.Values())
	}
}

// A refused token gets a plain message, not the token library's words.
func TestTokenErrorsArePlain(t *testing.T) {
	url := startNATS(t)
	c := startController(t, url, testConfig(), 1)
	for tok, want := range map[string]string{"not.a.jwt": "invalid token", "": "no token"} {
		var e errorJSON
		if code := call(t, "GET", c.url+"/v1/admin/rooms", tok, &e); code != 401 || e.Error.Message != want {
			t.Errorf("token %q: %d %q, want 401 %q", tok, code, e.Error.Message, want)
		}
	}
}
