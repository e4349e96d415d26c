package controller

import (
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
