package sfu

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// TestSimulcastLayerSwitch: once all three layers flow, a subscriber asks
// for the low layer, then the high one; it gets only low packets before
// the switch, then the high layer from a keyframe on (never a lower layer
// again, never the medium one), with continuous sequence numbers, and a
// layer_changed event.
// simulcastPublisher joins a publisher of one VP8 track in three layers
// (q, h, f) to room and returns the track and a sender per layer, once
// the node reads all three. The caller paces the senders.
func simulcastPublisher(t *testing.T, env *testEnv, room string) (bus.TrackInfo, []*sender, *upTrack) {
	t.Helper()
	pub := env.newPeer("sim", peerOpts{})
	rids := []string{"q", "h", "f"}
	tracks := pub.addSend(webrtc.MimeTypeVP8, rids...)
	if err := pub.join(room, nil); err != nil {
		t.Fatal(err)
	}
	infos := env.roomTracks(room)
	if len(infos) != 1 || len(infos[0].Layers) != 3 {
		t.Fatalf("tracks %+v, want one with three layers", infos)
	}
	waitFor(t, 10*time.Second, "publisher connected", pub.connected)

	s := pub.pc.GetTransceivers()[0].Sender()
	midID, ridID := extID(s, sdp.SDESMidURI), extID(s, sdp.SDESRTPStreamIDURI)
	if midID == 0 || ridID == 0 {
		t.Fatalf("mid/rid extensions not negotiated: %d %d", midID, ridID)
	}
	mid := pub.pc.GetTransceivers()[0].Mid()
	var senders []*sender
	for i, tr := range tracks {
		senders = append(senders, &sender{track: tr, video: true, layer: byte(i), seq: uint16(1000 * i),
			ext: map[uint8][]byte{midID: []byte(mid), ridID: []byte(rids[i])}})
	}
	env.node.mu.Lock()
	up := env.node.tracks[infos[0].ID]
	env.node.mu.Unlock()
	return infos[0], senders, up
}

// highViewer joins a subscriber of info's high layer to room.
func highViewer(t *testing.T, env *testEnv, room string, info bus.TrackInfo) (*testPeer, *webrtc.RTPTransceiver) {
	t.Helper()
	sub := env.newPeer("viewer", peerOpts{})
	tc := sub.addRecv(webrtc.RTPCodecTypeVideo)
	if err := sub.join(room, func() []bus.Subscription {
		return []bus.Subscription{{MID: tc.Mid(), TrackID: info.ID, Layer: bus.LayerHigh}}
	}); err != nil {
		t.Fatal(err)
	}
	return sub, tc
}

// waitAllLayers waits until the node reads all three layers of up.
func waitAllLayers(t *testing.T, up *upTrack) {
	t.Helper()
	waitFor(t, 10*time.Second, "all three layers at the node", func() bool {
		for _, l := range up.layers {
			if !l.present.Load() || l.bytes.Load() == 0 {
				return false
			}
		}
		return true
	})
}

func TestSimulcastLayerSwitch(t *testing.T) {
	env := newEnv(t)
	info, senders, up := simulcastPublisher(t, env, "sim")
	infos := []bus.TrackInfo{info}
	defer every(3*time.Millisecond, func(c uint32) {
		for _, s := range senders {
			_ = s.send(c, c%40 == 0)
		}
	})()

	// Subscribe only once the node reads all three layers: a layer that
	// appears later legitimately changes what "low" resolves to.
	waitAllLayers(t, up)
	sub := env.newPeer("viewer", peerOpts{})
	tc := sub.addRecv(webrtc.RTPCodecTypeVideo)
	if err := sub.join("sim", func() []bus.Subscription {
		return []bus.Subscription{{MID: tc.Mid(), TrackID: infos[0].ID, Layer: bus.LayerLow}}
	}); err != nil {
		t.Fatal(err)
	}
	events := env.events(bus.SessionEvents(sub.sessionID()))
	waitFor(t, 10*time.Second, "subscriber connected", sub.connected)

	hasLayer := func(l byte) func() bool {
		return func() bool { return slices.Contains(sub.stream(tc.Mid()).layers, l) }
	}
	waitFor(t, 10*time.Second, "low layer packets", hasLayer(0))
	before := len(sub.stream(tc.Mid()).layers)
	if err := env.request(bus.CmdSetLayer, bus.SetLayer{SessionID: sub.sessionID(), MID: tc.Mid(), Layer: bus.LayerHigh}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "high layer packets", hasLayer(2))
	waitFor(t, 5*time.Second, "layer_changed high", events.has(bus.EventLayerChanged, func(e bus.Event) bool {
		return e.Layer == bus.LayerHigh && e.MID == tc.Mid()
	}))
	st := sub.stream(tc.Mid())
	for i := 1; i < len(st.seqs); i++ {
		if st.seqs[i] != st.seqs[i-1]+1 {
			t.Fatalf("sequence jumps from %d to %d at packet %d (layers %d->%d)", st.seqs[i-1], st.seqs[i], i, st.layers[i-1], st.layers[i])
		}
	}
	for i, l := range st.layers[:before] {
		if l != 0 {
			t.Fatalf("packet %d before the switch is of layer %d, want only low", i, l)
		}
	}
	for i := 1; i < len(st.layers); i++ {
		if st.layers[i] < st.layers[i-1] || st.layers[i] == 1 {
			t.Fatalf("layer %d after %d at %d of %d: %v", st.layers[i], st.layers[i-1], i, len(st.layers), st.layers[max(0, i-5):min(len(st.layers), i+5)])
		}
	}
	if err := env.request(bus.CmdSetLayer, bus.SetLayer{SessionID: sub.sessionID(), MID: tc.Mid(), Layer: "ultra"}, nil); !bus.IsCode(err, bus.CodeBadRequest) {
		t.Fatalf("unknown layer: %v, want bad_request", err)
	}
}

// TestNACKRecovery: packets dropped on the subscriber before its NACK
// generator are retransmitted by the node from its cache.
func TestNACKRecovery(t *testing.T) {
	env := newEnv(t)
	pub := env.newPeer("npub", peerOpts{})
	v := pub.addSend(webrtc.MimeTypeVP8)[0]
	if err := pub.join("nack", nil); err != nil {
		t.Fatal(err)
	}
	infos := env.roomTracks("nack")
	var dropped atomic.Int32
	sub := env.newPeer("nsub", peerOpts{drop: func(seq uint16) bool {
		if seq%7 == 3 {
			dropped.Add(1)
			return true
		}
		return false
	}})
	tc := sub.addRecv(webrtc.RTPCodecTypeVideo)
	if err := sub.join("nack", func() []bus.Subscription {
		return []bus.Subscription{{MID: tc.Mid(), TrackID: infos[0].ID}}
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "connected", func() bool { return pub.connected() && sub.connected() })
	s := &sender{track: v, video: true}
	// A loss at the very end is only detected by a later packet: send a
	// tail beyond the packets checked.
	const packets = 200
	for c := uint32(0); c < packets+20; c++ {
		if err := s.send(c, c == 0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	waitFor(t, 10*time.Second, "every packet after retransmission", func() bool {
		got := sub.stream(tc.Mid()).counters
		for c := uint32(0); c < packets; c++ {
			if !got[c] {
				return false
			}
		}
		return true
	})
	if dropped.Load() < 20 {
		t.Fatalf("only %d packets dropped; the test injected too little loss", dropped.Load())
	}
}

// TestPausedLayerFallsBack: a browser pauses its top simulcast layer when
// CPU or bandwidth runs short. A subscriber that wants that layer gets the
// next one down within a few seconds instead of a frozen picture, and the
// top layer again once it flows, each switch on a keyframe.
func TestPausedLayerFallsBack(t *testing.T) {
	env := newEnv(t)
	pausedLayerFallsBack(t, env, env, "paused")
}

// pausedLayerFallsBack publishes three layers in room on pubEnv, has a
// viewer of the top one on subEnv, pauses the top layer and resumes it:
// the viewer moves to the middle layer and back, each switch on a
// keyframe with continuous sequence numbers.
func pausedLayerFallsBack(t *testing.T, pubEnv, subEnv *testEnv, room string) {
	t.Helper()
	info, senders, up := simulcastPublisher(t, pubEnv, room)
	var sendTop atomic.Bool
	sendTop.Store(true)
	defer every(3*time.Millisecond, func(c uint32) {
		for i, s := range senders {
			if i == 2 && !sendTop.Load() {
				continue
			}
			_ = s.send(c, c%40 == 0)
		}
	})()
	waitAllLayers(t, up)

	sub, tc := highViewer(t, subEnv, room, info)
	waitFor(t, 10*time.Second, "subscriber connected", sub.connected)
	lastLayer := func() byte {
		ls := sub.stream(tc.Mid()).layers
		if len(ls) == 0 {
			return 255
		}
		return ls[len(ls)-1]
	}
	waitFor(t, 10*time.Second, "high layer packets", func() bool { return lastLayer() == 2 })

	sendTop.Store(false)
	waitFor(t, 6*time.Second, "the middle layer after the top one pauses", func() bool { return lastLayer() == 1 })
	sendTop.Store(true)
	waitFor(t, 6*time.Second, "the top layer again once it flows", func() bool { return lastLayer() == 2 })

	st := sub.stream(tc.Mid())
	for i := 1; i < len(st.seqs); i++ {
		if st.seqs[i] != st.seqs[i-1]+1 {
			t.Fatalf("sequence jumps from %d to %d at packet %d", st.seqs[i-1], st.seqs[i], i)
		}
	}
	for i := 1; i < len(st.layers); i++ {
		if st.layers[i] != st.layers[i-1] && st.arrivals[i]%40 != 0 {
			t.Fatalf("layer %d -> %d on packet %d, not a keyframe", st.layers[i-1], st.layers[i], st.arrivals[i])
		}
	}
}

// TestStarvedLayerFallsBack: a publisher short of CPU may keep its top
// layer alive but starved, never answering a keyframe request on it. A new
// subscriber that wants that layer gets the lowest one after
// keyframeWaitLimit instead of nothing, and the top one once a keyframe of
// it comes.
func TestStarvedLayerFallsBack(t *testing.T) {
	env := newEnv(t)
	info, senders, up := simulcastPublisher(t, env, "starved")
	var topKeys atomic.Bool
	defer every(3*time.Millisecond, func(c uint32) {
		for i, s := range senders {
			key := c%40 == 0
			if i == 2 {
				key = key && topKeys.Load()
			}
			_ = s.send(c, key)
		}
	})()
	waitAllLayers(t, up)

	sub, tc := highViewer(t, env, "starved", info)
	subscribed := time.Now()
	layers := func() []byte { return sub.stream(tc.Mid()).layers }
	waitFor(t, 6*time.Second, "the lowest layer while the top one never sends a keyframe", func() bool { return len(layers()) > 0 })
	if got := layers()[0]; got != 0 {
		t.Fatalf("first layer %d, want 0", got)
	}
	if waited := time.Since(subscribed); waited < keyframeWaitLimit {
		t.Fatalf("fell back after %v, before the %v wait", waited, keyframeWaitLimit)
	}
	topKeys.Store(true)
	waitFor(t, 5*time.Second, "the top layer once it sends a keyframe", func() bool {
		ls := layers()
		return ls[len(ls)-1] == 2
	})
	st := sub.stream(tc.Mid())
	for i := 1; i < len(st.seqs); i++ {
		if st.seqs[i] != st.seqs[i-1]+1 {
			t.Fatalf("sequence jumps from %d to %d at packet %d", st.seqs[i-1], st.seqs[i], i)
		}
	}
}
