package controller

import (
	"net/http"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

func TestAdminAPI(t *testing.T) {
	url := startNATS(t)
	c := startController(t, url, testConfig(), 1)
	nodes := threeRegions(t, url)
	waitNodes(t, c, 3)
	op := token(t, auth.Grant{Namespace: "default", Room: "*", Admin: true})

	var list struct{ Nodes []NodeStatus }
	if code := call(t, "GET", c.url+"/v1/admin/nodes", op, &list); code != 200 || len(list.Nodes) != 3 || list.Nodes[0].Capacity != 100 {
		t.Fatalf("nodes: %d %+v", code, list)
	}

	// Drain eu-1: the node is told, and EU clients now land elsewhere.
	if code := call(t, "POST", c.url+"/v1/admin/nodes/eu-1/drain", op, nil); code != 200 {
		t.Fatalf("drain: %d", code)
	}
	testenv.WaitFor(t, 2*time.Second, "drain mark seen", func() bool { return c.drains.has("eu-1") })
	if a, _ := allocate(t, c.url, "near", "x", "10.1.0.1"); a.Node.ID == "eu-1" {
		t.Fatalf("placed on a draining node: %+v", a)
	}
	nodes["eu"].mu.Lock()
	told := len(nodes["eu"].drain) == 1 && nodes["eu"].drain[0]
	nodes["eu"].mu.Unlock()
	if !told {
		t.Fatal("eu-1 was not sent the drain command")
	}
	if code := call(t, "DELETE", c.url+"/v1/admin/nodes/eu-1/drain", op, nil); code != 200 {
		t.Fatalf("undrain: %d", code)
	}
	testenv.WaitFor(t, 3*time.Second, "EU clients back on eu-1", func() bool {
		a, _ := allocate(t, c.url, "near", "y", "10.1.0.1")
		return a.Node.ID == "eu-1"
	})

	// A room with two participants on its node, one of them kicked.
	if a, _ := allocate(t, c.url, "default", "meet", "10.2.0.1"); a.Node.ID != "us-1" {
		t.Fatalf("meet on %s", a.Node.ID)
	}
	us := nodes["us"]
	us.mu.Lock()
	for _, id := range []string{"alice", "bob"} {
		us.parts = append(us.parts, bus.ParticipantInfo{
			Participant: bus.Participant{Namespace: "default", Room: "meet", Identity: id, SessionID: "PA_" + id},
			Tracks:      []bus.TrackInfo{{ID: "TR_" + id, Kind: bus.KindVideo, Identity: id, SessionID: "PA_" + id}},
		})
	}
	us.mu.Unlock()
	var rooms struct{ Rooms []RoomStatus }
	if code := call(t, "GET", c.url+"/v1/admin/rooms", op, &rooms); code != 200 {
		t.Fatalf("rooms: %d", code)
	}
	var meet *RoomStatus
	for i := range rooms.Rooms {
		if rooms.Rooms[i].Room == "meet" {
			meet = &rooms.Rooms[i]
		}
	}
	if meet == nil || meet.NodeID != "us-1" || len(meet.Participants) != 2 || meet.Participants[0].NodeID != "us-1" || len(meet.Participants[0].Tracks) != 1 {
		t.Fatalf("meet = %+v", meet)
	}
	roomAdmin := token(t, auth.Grant{Namespace: "default", Room: "meet", Admin: true})
	var kicked struct{ Kicked []string }
	if code := call(t, "DELETE", c.url+"/v1/admin/rooms/default/meet/participants/bob", roomAdmin, &kicked); code != 200 || len(kicked.Kicked) != 1 || kicked.Kicked[0] != "PA_bob" {
		t.Fatalf("kick: %d %+v", code, kicked)
	}
	us.mu.Lock()
	closed := us.closed
	us.mu.Unlock()
	if len(closed) != 1 || closed[0].SessionID != "PA_bob" || closed[0].Reason != bus.ReasonKicked {
		t.Fatalf("node got closes %+v", closed)
	}
	var one RoomStatus
	if code := call(t, "GET", c.url+"/v1/admin/rooms/default/meet", roomAdmin, &one); code != 200 || len(one.Participants) != 1 || one.Participants[0].Identity != "alice" {
		t.Fatalf("meet after kick: %d %+v", code, one)
	}
}

func TestBadInput(t *testing.T) {
	url := startNATS(t)
	c := startController(t, url, testConfig(), 1)
	startNode(t, url, bus.NodeInfo{ID: "n1", Region: "eu"})
	waitNodes(t, c, 1)
	if a, _ := allocate(t, c.url, "default", "meet", "10.1.0.1"); a.Node.ID != "n1" {
		t.Fatal("setup allocation failed")
	}
	op := token(t, auth.Grant{Namespace: "default", Room: "*", Admin: true})
	user := token(t, auth.Grant{Namespace: "default", Room: "meet", Publish: true})
	otherNS := token(t, auth.Grant{Namespace: "other", Room: "*", Admin: true})
	roomAdmin := token(t, auth.Grant{Namespace: "default", Room: "meet", Admin: true})
	forged := op[:len(op)-4] + "AAAA"
	expired, err := auth.Mint(auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: "x", TTL: time.Second,
		Now: time.Now().Add(-time.Hour), Grant: auth.Grant{Namespace: "default", Room: "*", Admin: true}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		method, path, token string
		status              int
		code                string
	}{
		{"GET", "/v1/allocate?namespace=default", "", 400, bus.CodeBadRequest},
		{"GET", "/v1/allocate?namespace=a.b&room=r", "", 400, bus.CodeBadRequest},
		{"GET", "/v1/allocate?room=r&ip=not-an-ip", "", 400, bus.CodeBadRequest},
		{"GET", "/v1/allocate?room=%2A", "", 400, bus.CodeBadRequest},
		{"GET", "/v1/allocate?room=r", forged, 401, "unauthorized"},
		{"GET", "/v1/allocate?room=other", user, 403, bus.CodeForbidden},
		{"GET", "/v1/admin/nodes", "", 401, "unauthorized"},
		{"GET", "/v1/admin/nodes", forged, 401, "unauthorized"},
		{"GET", "/v1/admin/nodes", expired, 401, "unauthorized"},
		{"GET", "/v1/admin/nodes", user, 403, bus.CodeForbidden},
		{"GET", "/v1/admin/nodes", roomAdmin, 403, bus.CodeForbidden},
		{"GET", "/v1/admin/nodes", otherNS, 403, bus.CodeForbidden},
		{"POST", "/v1/admin/nodes/nope/drain", op, 404, bus.CodeNotFound},
		{"GET", "/v1/admin/rooms?namespace=default", otherNS, 403, bus.CodeForbidden},
		{"GET", "/v1/admin/rooms/default/nope", op, 404, bus.CodeNotFound},
		{"GET", "/v1/admin/rooms/default/meet", otherNS, 403, bus.CodeForbidden},
		{"GET", "/v1/admin/rooms/bad.ns/meet", op, 400, bus.CodeBadRequest},
		{"DELETE", "/v1/admin/rooms/default/meet/participants/ghost", op, 404, bus.CodeNotFound},
		{"GET", "/v1/nothing", "", 404, bus.CodeNotFound},
	}
	for _, tc := range cases {
		var e errorJSON
		status := call(t, tc.method, c.url+tc.path, tc.token, &e)
		if status != tc.status || e.Error.Code != tc.code || e.Error.Message == "" {
			t.Errorf("%s %s: %d %+v, want %d %s", tc.method, tc.path, status, e, tc.status, tc.code)
		}
	}
	// With a token that admits to the room, allocate answers.
	var a allocationJSON
	if status := call(t, "GET", c.url+"/v1/allocate?room=meet", user, &a); status != http.StatusOK || a.Node.ID != "n1" {
		t.Fatalf("allocate with token: %d %+v", status, a)
	}
}
