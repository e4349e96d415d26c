package sfu

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	dto "github.com/prometheus/client_model/go"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/relay"
)

var testRelaySecret = []byte("relay test secret, 32 bytes long")

// newCluster starts one embedded NATS server and a relay-enabled node per
// region, each with its own bus client, and waits until every node has
// every other as a relay peer.
func newCluster(t *testing.T, regions ...string) []*testEnv {
	t.Helper()
	return newClusterWith(t, nil, regions...)
}

// newClusterWith is newCluster with node options changed by opt.
func newClusterWith(t *testing.T, opt func(*Options), regions ...string) []*testEnv {
	t.Helper()
	srv, err := bus.StartEmbedded(bus.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	var envs []*testEnv
	for _, region := range regions {
		b, err := bus.Connect(bus.Options{URLs: srv.ClientURL(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		o := Options{
			Config: config.SFU{
				NodeID: "sfu-" + region, Region: region, BindIP: "127.0.0.1", AdvertiseIPs: []string{"127.0.0.1"},
				HeartbeatInterval: 100 * time.Millisecond,
			},
			Bus: b, Logger: slog.New(slog.DiscardHandler), RelaySecret: testRelaySecret,
		}
		if opt != nil {
			opt(&o)
		}
		envs = append(envs, &testEnv{t: t, bus: b, node: runNode(t, o)})
	}
	for _, e := range envs {
		waitFor(t, 5*time.Second, "relay peers", func() bool {
			ids := e.node.relay.peerIDs()
			up := 0
			for _, l := range e.node.relay.t.Links() {
				if l.Addr.IsValid() {
					up++
				}
			}
			return len(ids) == len(envs)-1 && up == len(envs)-1
		})
	}
	return envs
}

// link returns the stats of the link from e's node to peer.
func (e *testEnv) link(peer string) relay.LinkStats {
	for _, l := range e.node.relay.t.Links() {
		if l.Peer == peer {
			return l
		}
	}
	return relay.LinkStats{}
}

// publishAV joins a publisher of one Opus and one VP8 track to room on e
// and returns their senders and track infos.
func publishAV(t *testing.T, e *testEnv, id, room string) ([]*sender, []bus.TrackInfo) {
	t.Helper()
	pub := e.newPeer(id, peerOpts{})
	a := pub.addSend(webrtc.MimeTypeOpus)[0]
	v := pub.addSend(webrtc.MimeTypeVP8)[0]
	if err := pub.join(room, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "publisher connected", pub.connected)
	var infos []bus.TrackInfo
	for _, tr := range e.roomTracks(room) {
		if tr.Identity == id {
			infos = append(infos, tr)
		}
	}
	if len(infos) != 2 {
		t.Fatalf("publisher %s: tracks %+v", id, infos)
	}
	slices.SortFunc(infos, func(x, y bus.TrackInfo) int { // audio first
		if x.Kind == y.Kind {
			return 0
		}
		if x.Kind == bus.KindAudio {
			return -1
		}
		return 1
	})
	return []*sender{{track: a}, {track: v, video: true}}, infos
}

// subscribeAll joins a subscriber of the given tracks to room on e; it
// returns the peer and the mid of each track, in order.
func subscribeAll(t *testing.T, e *testEnv, id, room string, infos []bus.TrackInfo) (*testPeer, []string) {
	t.Helper()
	p := e.newPeer(id, peerOpts{})
	var tcs []*webrtc.RTPTransceiver
	for _, info := range infos {
		tcs = append(tcs, p.addRecv(webrtc.NewRTPCodecType(info.Kind)))
	}
	if err := p.join(room, func() []bus.Subscription {
		var subs []bus.Subscription
		for i, info := range infos {
			subs = append(subs, bus.Subscription{MID: tcs[i].Mid(), TrackID: info.ID})
		}
		return subs
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "subscriber connected", p.connected)
	mids := make([]string, len(tcs))
	for i, tc := range tcs {
		mids[i] = tc.Mid()
	}
	return p, mids
}

// pump sends on every sender every 10 ms (a video keyframe every 20th
// packet) until stopped.
func pump(senders []*sender) func() {
	return every(10*time.Millisecond, func(c uint32) {
		for _, s := range senders {
			_ = s.send(c, c%20 == 0)
		}
	})
}

// received reports whether p got at least n packets on every mid.
func received(p *testPeer, n int, mids ...string) func() bool {
	return func() bool {
		for _, mid := range mids {
			if len(p.stream(mid).seqs) < n {
				return false
			}
		}
		return true
	}
}

// TestRelayRoomAcrossNodes: three nodes in three regions, one room. A
// publisher on each node; each node's subscriber receives the audio and
// video of the publishers on the other nodes; every node's room state
// lists all three publishers; a late joiner on a fourth node receives
// too. When the subscribers leave, the relay outputs stop after the grace
// period and the link counters stop growing.
func TestRelayRoomAcrossNodes(t *testing.T) {
	envs := newCluster(t, "eu", "us", "ap", "sa")
	const room = "span"
	var all []bus.TrackInfo
	var senders []*sender
	for _, e := range envs[:3] {
		s, infos := publishAV(t, e, "pub-"+e.node.cfg.Region, room)
		senders = append(senders, s...)
		all = append(all, infos...)
	}
	stop := pump(senders)
	defer stop()
	for _, e := range envs {
		if got := len(e.roomTracks(room)); got != len(all) {
			t.Fatalf("%s lists %d tracks of the room, want %d", e.node.ID(), got, len(all))
		}
	}
	var subs []*testPeer
	var mids [][]string
	for i, e := range envs[:3] {
		var remote []bus.TrackInfo
		for j, info := range all {
			if j/2 != i {
				remote = append(remote, info)
			}
		}
		p, m := subscribeAll(t, e, "sub-"+e.node.cfg.Region, room, remote)
		subs, mids = append(subs, p), append(mids, m)
	}
	for i, p := range subs {
		waitFor(t, 15*time.Second, "media from the other nodes at "+envs[i].node.ID(), received(p, 20, mids[i]...))
	}
	// A late joiner on a fourth node.
	late, lateMids := subscribeAll(t, envs[3], "late", room, all)
	waitFor(t, 15*time.Second, "media at the late joiner", received(late, 20, lateMids...))

	// Everyone leaves: forwarding stops after the grace period.
	for _, p := range append(subs, late) {
		if err := p.env.request(bus.CmdClose, bus.Close{SessionID: p.sessionID()}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range envs[:3] {
		waitFor(t, 10*time.Second, "relay outputs stopped on "+e.node.ID(), func() bool {
			e.node.relay.mu.Lock()
			defer e.node.relay.mu.Unlock()
			return len(e.node.relay.outs) == 0
		})
	}
	before := envs[0].link("sfu-us").BytesOut
	// The eu publisher keeps sending: 30 more packets of its video reach eu.
	video := envs[0].track(all[1].ID)
	in := video.packetsIn.Load()
	waitFor(t, 5*time.Second, "more video at eu", func() bool { return video.packetsIn.Load() >= in+30 })
	// Probes still cross the link: a few hundred bytes, not media.
	if grown := envs[0].link("sfu-us").BytesOut - before; grown > 3000 {
		t.Fatalf("eu -> us still carries %d bytes after everyone left", grown)
	}
}

// track returns the node's track id.
func (e *testEnv) track(id string) *upTrack {
	e.node.mu.Lock()
	defer e.node.mu.Unlock()
	return e.node.tracks[id]
}

// pushRoutes publishes each node's table as the controller does.
func pushRoutes(t *testing.T, b *bus.Client, version uint64, tables map[string]map[string]string) {
	t.Helper()
	for node, table := range tables {
		nr := bus.NodeRoutes{Version: version, Node: node, Routes: map[string]bus.Route{}}
		for dst, next := range table {
			nr.Routes[dst] = bus.Route{NextHop: next}
		}
		if err := b.Publish(bus.NodeRoutesSubject(node), nr); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRelayMultiHopOneCopy: eu and ap may not talk directly, so the
// tables send eu <-> ap through us. A publisher on eu, subscribers on us
// and on ap: ap receives through us, and eu sends one copy of each
// stream to us (which taps it for its own subscriber and passes it on),
// not one per destination.
func TestRelayMultiHopOneCopy(t *testing.T) {
	envs := newCluster(t, "eu", "us", "ap")
	eu, us, ap := envs[0], envs[1], envs[2]
	pushRoutes(t, eu.bus, 1, map[string]map[string]string{
		"sfu-eu": {"sfu-us": "sfu-us", "sfu-ap": "sfu-us"},
		"sfu-us": {"sfu-eu": "sfu-eu", "sfu-ap": "sfu-ap"},
		"sfu-ap": {"sfu-eu": "sfu-us", "sfu-us": "sfu-us"},
	})
	for _, e := range envs {
		waitFor(t, 5*time.Second, "routes applied", func() bool { return e.node.relay.routesVersion() == 1 })
	}
	const room = "hops"
	senders, infos := publishAV(t, eu, "pub", room)
	stop := pump(senders)
	defer stop()
	subUS, midsUS := subscribeAll(t, us, "sub-us", room, infos)
	subAP, midsAP := subscribeAll(t, ap, "sub-ap", room, infos)
	waitFor(t, 15*time.Second, "media at us", received(subUS, 30, midsUS...))
	waitFor(t, 15*time.Second, "media at ap", received(subAP, 30, midsAP...))

	// Steady state: count what eu publishes and what crosses each link
	// over the next 100 packets of each track.
	audio, video := eu.track(infos[0].ID), eu.track(infos[1].ID)
	in0 := audio.packetsIn.Load() + video.packetsIn.Load()
	toUS0, toAP0 := eu.link("sfu-us").PacketsOut, eu.link("sfu-ap").PacketsOut
	transit0 := testutilCounter(us.node.relay.forwarded)
	waitFor(t, 10*time.Second, "200 more packets published", func() bool {
		return audio.packetsIn.Load()+video.packetsIn.Load() >= in0+200
	})
	published := audio.packetsIn.Load() + video.packetsIn.Load() - in0
	toUS := eu.link("sfu-us").PacketsOut - toUS0
	toAP := eu.link("sfu-ap").PacketsOut - toAP0
	transit := testutilCounter(us.node.relay.forwarded) - transit0
	t.Logf("published %d, eu->us %d, eu->ap %d, passed on by us %d", published, toUS, toAP, transit)
	// One copy per stream on eu -> us (plus probes and the packets in
	// flight at either end of the window), none on eu -> ap.
	if float64(toUS) > 1.2*float64(published) || float64(toUS) < 0.8*float64(published) {
		t.Fatalf("eu -> us carried %d packets for %d published: want one copy of each", toUS, published)
	}
	if toAP > 10 {
		t.Fatalf("eu -> ap carried %d packets; the table forbids the direct link", toAP)
	}
	if float64(transit) < 0.8*float64(published) {
		t.Fatalf("us passed on %d packets of %d towards ap", transit, published)
	}
}

func testutilCounter(c interface{ Write(*dto.Metric) error }) uint64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return uint64(m.GetCounter().GetValue())
}

// TestRelaySimulcastAndKeyframes: a simulcast publisher on eu, a viewer on
// us asking for the low layer, then the high one. Only the layer the
// viewer needs crosses the link, the switch happens on a keyframe with
// continuous sequence numbers, and a keyframe request of the viewer
// reaches the publisher on eu through the relay.
func TestRelaySimulcastAndKeyframes(t *testing.T) {
	envs := newCluster(t, "eu", "us")
	eu, us := envs[0], envs[1]
	info, senders, up := simulcastPublisher(t, eu, "sim")
	defer every(3*time.Millisecond, func(c uint32) {
		for _, s := range senders {
			_ = s.send(c, c%40 == 0)
		}
	})()
	waitAllLayers(t, up)
	sub := us.newPeer("viewer", peerOpts{})
	tc := sub.addRecv(webrtc.RTPCodecTypeVideo)
	if err := sub.join("sim", func() []bus.Subscription {
		return []bus.Subscription{{MID: tc.Mid(), TrackID: info.ID, Layer: bus.LayerLow}}
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "subscriber connected", sub.connected)
	hasLayer := func(l byte) func() bool {
		return func() bool { return slices.Contains(sub.stream(tc.Mid()).layers, l) }
	}
	demand := func() uint8 {
		eu.node.relay.mu.Lock()
		o := eu.node.relay.outs[up]
		eu.node.relay.mu.Unlock()
		if o == nil {
			return 0
		}
		return o.destinations()["sfu-us"]
	}
	waitFor(t, 10*time.Second, "low layer packets at us", hasLayer(0))
	if d := demand(); d != 1 {
		t.Fatalf("eu sends us layers %v, want only low", layerList(d))
	}
	if err := us.request(bus.CmdSetLayer, bus.SetLayer{SessionID: sub.sessionID(), MID: tc.Mid(), Layer: bus.LayerHigh}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "high layer packets at us", hasLayer(2))
	waitFor(t, 5*time.Second, "only the high layer crosses", func() bool { return demand() == 1<<2 })
	st := sub.stream(tc.Mid())
	for i := 1; i < len(st.seqs); i++ {
		if st.seqs[i] != st.seqs[i-1]+1 {
			t.Fatalf("sequence jumps from %d to %d at packet %d", st.seqs[i-1], st.seqs[i], i)
		}
		if st.layers[i] < st.layers[i-1] || st.layers[i] == 1 {
			t.Fatalf("layer %d after %d at packet %d", st.layers[i], st.layers[i-1], i)
		}
	}

	// The viewer asks for a keyframe: the PLI crosses the relay to eu,
	// which asks its publisher.
	plis := func() uint64 { return testutilCounter(eu.node.metrics.PLIs) }
	before := plis()
	ssrc := uint32(tc.Receiver().Track().SSRC())
	waitFor(t, 5*time.Second, "a PLI at eu", func() bool {
		_ = sub.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
		return plis() > before
	})
}

// gathered returns the value of the metric name with the label set
// (label=value pairs) summed over the node's registry.
func gathered(t *testing.T, e *testEnv, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := e.node.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
				}
				if !found {
					continue metrics
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// TestRelayTenancy: a participant of another namespace cannot subscribe
// to a relayed track; relay packets that name the wrong namespace or
// origin for a stream, or are sealed with another key, are dropped and
// counted, and none reaches a subscriber.
func TestRelayTenancy(t *testing.T) {
	envs := newCluster(t, "eu", "us")
	eu, us := envs[0], envs[1]
	senders, infos := publishAV(t, eu, "pub", "shared")
	defer pump(senders)()
	sub, mids := subscribeAll(t, us, "sub", "shared", infos)
	waitFor(t, 10*time.Second, "media at us", received(sub, 10, mids...))

	// Namespace B, same room name: the track is not found.
	other := us.newPeer("intruder", peerOpts{})
	tc := other.addRecv(webrtc.RTPCodecTypeVideo)
	offer := other.offer()
	err := us.request(bus.CmdSessionCreate, bus.CreateSession{
		Participant: bus.Participant{Namespace: "tenant-b", Room: "shared", Identity: "intruder", SessionID: "PA_intruder"},
		Grants:      bus.Grants{Subscribe: true}, Offer: offer,
		Subscribe: []bus.Subscription{{MID: tc.Mid(), TrackID: infos[1].ID}},
	}, nil)
	if !bus.IsCode(err, bus.CodeNotFound) {
		t.Fatalf("namespace B subscribes to a namespace A track: %v, want not_found", err)
	}

	// A rogue node with the cluster key, heard through a heartbeat.
	rogue, err := relay.Listen(relay.Config{NodeID: "sfu-rogue", ListenAddr: "127.0.0.1:0", Secret: testRelaySecret},
		relay.HandlerFunc(func(string, *relay.Packet) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Close()
	// And one with another key that claims to be eu.
	forger, err := relay.Listen(relay.Config{NodeID: "sfu-eu", ListenAddr: "127.0.0.1:0", Secret: []byte("not the cluster secret, 32 bytes")},
		relay.HandlerFunc(func(string, *relay.Packet) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close()
	rogue.SetPeer("sfu-us", us.node.relay.t.Addr())
	forger.SetPeer("sfu-us", us.node.relay.t.Addr())
	hb := bus.NodeInfo{ID: "sfu-rogue", RelayAddr: rogue.Addr().String(), SentAt: time.Now()}
	if err := eu.bus.Publish(bus.NodeHeartbeats, hb); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "rogue peer known", func() bool { return slices.Contains(us.node.relay.peerIDs(), "sfu-rogue") })

	dropped := func(reason string) float64 {
		return gathered(t, us, "rtcloud_sfu_relay_dropped_total", "reason", reason)
	}
	authDrops := func() float64 { return gathered(t, us, "rtcloud_relay_dropped_total", "reason", "auth") }
	// A keyframe with a counter the publisher never sends.
	const forged = 999999
	payload, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SSRC: 7, SequenceNumber: 1},
		Payload: synth(true, true, forged, 0)}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	send := func(tr *relay.Transport, ns, origin string) {
		_ = tr.Send("sfu-us", &relay.Packet{Type: relay.TypeMedia, Namespace: ns, Room: "shared",
			Stream: relay.StreamID{Track: infos[1].ID}, Origin: origin, Dests: []string{"sfu-us"}, Payload: payload})
	}
	ns0, auth0 := dropped(dropNamespace), authDrops()
	for range 5 {
		send(rogue, "tenant-b", "sfu-eu")   // wrong namespace
		send(rogue, "default", "sfu-rogue") // wrong origin
		send(forger, "default", "sfu-eu")   // not sealed with the cluster key
	}
	waitFor(t, 5*time.Second, "forged packets counted", func() bool {
		return dropped(dropNamespace) >= ns0+10 && authDrops() >= auth0+5
	})
	if sub.stream(mids[1]).counters[forged] {
		t.Fatal("a forged packet reached the subscriber")
	}
}

// TestRelayHolderFeeds: a node that needs a stream another node already
// holds is fed by that holder when the controller says so; the origin
// then sends one copy (to the holder), and the holder passes it on.
func TestRelayHolderFeeds(t *testing.T) {
	envs := newCluster(t, "eu", "us", "us2")
	eu, us, us2 := envs[0], envs[1], envs[2]
	// A stand-in for the controllers: us2 is fed by us, everyone else by
	// the origin.
	sub, err := eu.bus.Conn().QueueSubscribe(bus.ControllerLocate, bus.ControllerQueue, func(m *nats.Msg) {
		bus.ServeMsg(m, func(_ context.Context, req bus.LocateRequest) (any, error) {
			if req.Node == "sfu-us2" {
				return bus.Location{From: "sfu-us", Reason: "test: us holds it"}, nil
			}
			return bus.Location{}, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	senders, infos := publishAV(t, eu, "pub", "hold")
	defer pump(senders)()
	p1, m1 := subscribeAll(t, us, "sub-us", "hold", infos)
	waitFor(t, 10*time.Second, "media at us", received(p1, 20, m1...))
	p2, m2 := subscribeAll(t, us2, "sub-us2", "hold", infos)
	waitFor(t, 10*time.Second, "media at us2 through us", received(p2, 20, m2...))
	video := eu.track(infos[1].ID)
	direct0, via0 := eu.link("sfu-us2").PacketsOut, us.link("sfu-us2").PacketsOut
	in0 := video.packetsIn.Load()
	waitFor(t, 5*time.Second, "more video", func() bool { return video.packetsIn.Load() >= in0+50 })
	if direct := eu.link("sfu-us2").PacketsOut - direct0; direct > 5 {
		t.Fatalf("the origin sent %d packets straight to us2", direct)
	}
	if via := us.link("sfu-us2").PacketsOut - via0; via < 80 { // 50 video + audio
		t.Fatalf("us passed on only %d packets to us2", via)
	}
}

// TestRelayLossRecovered: the eu -> us relay link loses 5 % of its
// datagrams (netsim); a subscriber on us still gets at least 99.9 % of the
// publisher's packets, recovered hop by hop: by per-hop NACK alone, and
// by NACK and FEC.
func TestRelayLossRecovered(t *testing.T) {
	for _, c := range []struct {
		name string
		fec  relay.FECMode
	}{{"nack", relay.FECOff}, {"nack+fec", relay.FECAuto}} {
		t.Run(c.name, func(t *testing.T) { relayLoss(t, c.fec) })
	}
}

func relayLoss(t *testing.T, fec relay.FECMode) {
	const packets = 1000
	r := runRelayLoss(t, fec, 0.05, 8, "lossy", packets)
	t.Logf("proxy dropped %d of %d datagrams eu -> us; link: NACKs sent %d, FEC recovered %d, lost %d; subscriber missing %d of %d",
		r.proxy.DroppedLoss, r.proxy.Down+r.proxy.DroppedLoss, r.link.NACKsSent, r.link.FECRecovered, r.link.Lost, r.missing, packets)
	if fec == relay.FECOff && r.link.NACKsSent == 0 {
		t.Fatal("no NACK on the link")
	}
	if r.proxy.DroppedLoss < 20 {
		t.Fatalf("the proxy dropped only %d datagrams", r.proxy.DroppedLoss)
	}
	if m := r.missing; m > packets/1000 {
		t.Fatalf("%d of %d packets never reached the subscriber (delivery %.2f %%)", m, packets, 100*float64(packets-m)/packets)
	}
}

// TestRelayLinkReports: each node reports its relay links to the
// controller about every second.
func TestRelayLinkReports(t *testing.T) {
	envs := newCluster(t, "eu", "us")
	var mu sync.Mutex
	var got []bus.LinkReport
	sub, err := envs[0].bus.Subscribe(bus.LinkReports("sfu-eu"), func(m *nats.Msg) {
		var r bus.LinkReport
		if json.Unmarshal(m.Data, &r) == nil {
			mu.Lock()
			got = append(got, r)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	waitFor(t, 5*time.Second, "a link report with the us link up", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range got {
			for _, l := range r.Links {
				if r.NodeID == "sfu-eu" && l.Peer == "sfu-us" && l.Up && l.RTTMs > 0 {
					return true
				}
			}
		}
		return false
	})
}

// TestRelayPausedLayerFallsBack: the publisher on eu pauses its top
// layer; a viewer of that layer on us moves to the middle one (the
// feeder's layer reports tell us the layer paused) and back once it
// flows, each switch on a keyframe with continuous sequence numbers.
func TestRelayPausedLayerFallsBack(t *testing.T) {
	envs := newCluster(t, "eu", "us")
	pausedLayerFallsBack(t, envs[0], envs[1], "paused")
}
