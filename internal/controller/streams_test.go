package controller

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

// TestLocateNearestHolder: a node that needs a stream is fed by the
// holder nearest to it by route cost (region when no table knows the
// pair), and that holder gets one forward command; the admin API lists
// the stream with its holders and the paths their copies take.
func TestLocateNearestHolder(t *testing.T) {
	url := startNATS(t)
	c := startController(t, url, testConfig(), 1)
	nodes := threeRegions(t, url)
	nodes["us2"] = startNode(t, url, bus.NodeInfo{ID: "us-2", Region: "us", Capacity: 100})
	waitNodes(t, c, 4)
	ctx := context.Background()
	b := connect(t, url, 1)
	put := func(bucket, key string, v any) {
		kv, err := b.KV(ctx, bucket, 0)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(v)
		if _, err := kv.Put(ctx, key, data); err != nil {
			t.Fatal(err)
		}
	}
	put(bus.BucketStreams, bus.StreamKey("default", "live", "TR_cam"), bus.StreamRecord{
		Namespace: "default", Room: "live", Origin: "eu-1", Track: bus.TrackInfo{ID: "TR_cam", Kind: bus.KindVideo},
		Holders: map[string]bus.StreamHolder{"us-1": {From: "eu-1"}},
	})
	// us-2 is in us-1's region: us-1 feeds it.
	loc, err := c.Locate(ctx, bus.LocateRequest{Namespace: "default", Room: "live", Track: "TR_cam", Node: "us-2"})
	if err != nil || loc.From != "us-1" || !strings.Contains(loc.Reason, "holder us-1 is nearer") {
		t.Fatalf("locate for us-2: %+v %v", loc, err)
	}
	us := nodes["us"]
	us.mu.Lock()
	fwd := append([]bus.Forward(nil), us.fwd...)
	us.mu.Unlock()
	if len(fwd) != 1 || fwd[0].Dest != "us-2" || fwd[0].Track != "TR_cam" {
		t.Fatalf("forward commands to us-1: %+v", fwd)
	}
	// With routing tables, route cost decides: ap-1 is nearer us-1 than eu-1.
	put(bus.BucketRoutes, bus.RoutesKey("eu-1"), bus.NodeRoutes{Version: 1, Node: "eu-1", Routes: map[string]bus.Route{
		"ap-1": {NextHop: "us-1", Cost: 250}, "us-1": {NextHop: "us-1", Cost: 80}}})
	put(bus.BucketRoutes, bus.RoutesKey("us-1"), bus.NodeRoutes{Version: 1, Node: "us-1", Routes: map[string]bus.Route{
		"ap-1": {NextHop: "ap-1", Cost: 120}, "eu-1": {NextHop: "eu-1", Cost: 80}}})
	loc, err = c.Locate(ctx, bus.LocateRequest{Namespace: "default", Room: "live", Track: "TR_cam", Node: "ap-1"})
	if err != nil || loc.From != "us-1" || !strings.Contains(loc.Reason, "route cost 120") {
		t.Fatalf("locate for ap-1: %+v %v", loc, err)
	}
	if _, err := c.Locate(ctx, bus.LocateRequest{Namespace: "other", Room: "live", Track: "TR_cam", Node: "ap-1"}); err == nil {
		t.Fatal("a stream located from another namespace")
	}
	// Over the bus, as nodes ask.
	var viaBus bus.Location
	if err := b.Request(ctx, bus.ControllerLocate, bus.LocateRequest{Namespace: "default", Room: "live", Track: "TR_cam", Node: "us-2"}, &viaBus); err != nil || viaBus.From != "us-1" {
		t.Fatalf("locate over the bus: %+v %v", viaBus, err)
	}

	op := token(t, auth.Grant{Namespace: "default", Room: "*", Admin: true})
	var list struct{ Streams []StreamStatus }
	if code := call(t, "GET", c.url+"/v1/admin/streams?room=live", op, &list); code != 200 || len(list.Streams) != 1 {
		t.Fatalf("streams: %d %+v", code, list)
	}
	if p := list.Streams[0].Paths["us-1"]; strings.Join(p, ">") != "eu-1>us-1" {
		t.Fatalf("path of us-1's copy: %v", p)
	}
	other := token(t, auth.Grant{Namespace: "other", Room: "*", Admin: true})
	if code := call(t, "GET", c.url+"/v1/admin/streams?namespace=default", other, nil); code != 403 {
		t.Fatalf("another namespace's admin lists the streams: %d", code)
	}

	sweepsDeadHolders(t, c, nodes, put)
}

// TestRoomRecordNodes: a room placed by the nearest policy records every
// node it spans.
func TestRoomRecordNodes(t *testing.T) {
	url := startNATS(t)
	c := startController(t, url, testConfig(), 1)
	threeRegions(t, url)
	waitNodes(t, c, 3)
	for _, ip := range []string{"10.1.0.1", "10.2.0.1", "10.3.0.1", "10.2.0.2"} {
		if _, code := allocate(t, c.url, "near", "span", ip); code != 200 {
			t.Fatalf("allocate from %s: %d", ip, code)
		}
	}
	rec, _, err := c.rooms.get(context.Background(), bus.RoomKey("near", "span"))
	if err != nil || rec.NodeID != "eu-1" || strings.Join(rec.Nodes, ",") != "eu-1,us-1,ap-1" {
		t.Fatalf("room record %+v %v; want eu-1 first and nodes eu-1,us-1,ap-1", rec, err)
	}
}

// sweepsDeadHolders: the leader forgets dead holders, and the streams of
// a dead origin.
func sweepsDeadHolders(t *testing.T, c *instance, nodes map[string]*fakeNode, put func(bucket, key string, v any)) {
	t.Helper()
	ctx := context.Background()
	put(bus.BucketStreams, bus.StreamKey("default", "live", "TR_cam"), bus.StreamRecord{
		Namespace: "default", Room: "live", Origin: "eu-1", Track: bus.TrackInfo{ID: "TR_cam", Kind: bus.KindVideo},
		Holders: map[string]bus.StreamHolder{"us-1": {From: "eu-1"}, "ap-1": {From: "eu-1"}},
	})
	nodes["ap"].kill()
	testenv.WaitFor(t, 10*time.Second, "dead holder dropped", func() bool {
		rec, err := c.stream(ctx, "default", "live", "TR_cam")
		_, ap := rec.Holders["ap-1"]
		return err == nil && !ap && rec.Holders["us-1"].From == "eu-1"
	})
	nodes["eu"].kill()
	testenv.WaitFor(t, 10*time.Second, "stream of a dead origin removed", func() bool {
		_, err := c.stream(ctx, "default", "live", "TR_cam")
		return err != nil
	})
}
