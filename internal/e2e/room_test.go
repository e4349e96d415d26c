package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// Two publishers (VP8 and Opus each) and five subscribers in one room:
// every subscriber receives all four tracks with no gap in RTP sequence
// numbers nor in the publishers' embedded counters.
func TestTwoPublishersFiveSubscribers(t *testing.T) {
	c := startCluster(t)
	const room = "conference"
	pubs := []*client.Client{join(t, c.wsURL, "default", room, "pub-0"), join(t, c.wsURL, "default", room, "pub-1")}
	var trackIDs []string
	for _, p := range pubs {
		for _, lt := range publish(t, p, video(), audio()) {
			trackIDs = append(trackIDs, lt.ID())
		}
	}
	var all []*client.RemoteTrack
	for i := range 5 {
		sub := join(t, c.wsURL, "default", room, fmt.Sprintf("sub-%d", i))
		ctx := testenv.Context(t, 20*time.Second)
		if _, err := sub.WaitTracks(ctx, 4, func(ti bus.TrackInfo) bool { return ti.Identity != sub.Self().Identity }); err != nil {
			t.Fatalf("sub-%d sees the tracks: %v (has %+v)", i, err, sub.Tracks())
		}
		specs := make([]client.SubscribeSpec, len(trackIDs))
		for j, id := range trackIDs {
			specs[j] = client.SubscribeSpec{TrackID: id}
		}
		rts, err := sub.SubscribeMany(ctx, specs...)
		if err != nil {
			t.Fatalf("sub-%d subscribes: %v", i, err)
		}
		all = append(all, rts...)
	}
	// About 4 s of media: video ~30 packets/s, audio 50 packets/s.
	testenv.Eventually(t, 60*time.Second, "every subscriber receives every track", func() error {
		for _, rt := range all {
			min := uint64(200)
			if rt.Kind() == bus.KindVideo {
				min = 120
			}
			if err := receiving(rt, min); err != nil {
				return err
			}
		}
		return nil
	})
	for _, rt := range all {
		s := rt.Stats()
		t.Logf("%s %s: %d packets, %d frames, %d keyframes, gaps %d, latency p50 %v max %v",
			rt.TrackID(), s.MimeType, s.Packets, s.Frames, s.Keyframes, s.Gaps, rt.Latency().Quantile(0.5), rt.Latency().Max())
		if rt.Kind() == bus.KindVideo && (s.Keyframes == 0 || s.Frames == 0) {
			t.Errorf("track %s: %d frames, %d keyframes", rt.TrackID(), s.Frames, s.Keyframes)
		}
		if rt.Latency().Count() == 0 || rt.Latency().Quantile(0.5) > 200*time.Millisecond {
			t.Errorf("track %s: latency p50 %v over %d packets", rt.TrackID(), rt.Latency().Quantile(0.5), rt.Latency().Count())
		}
	}
}

// A simulcast publisher; a subscriber switches layers with set_layer: the
// layer marker in the received packets follows, and the RTP sequence
// numbers the subscriber sees stay continuous across the switches.
func TestSimulcastLayerSwitch(t *testing.T) {
	c := startCluster(t)
	pub := join(t, c.wsURL, "default", "simulcast", "pub")
	spec := client.TrackSpec{Codec: client.CodecVP8, Simulcast: true, FPS: 15, KbpsPerLayer: []int{100, 250, 500}}
	lt := publish(t, pub, spec)[0]
	sub := join(t, c.wsURL, "default", "simulcast", "sub")
	ctx := testenv.Context(t, 60*time.Second)
	rt := subscribeTo(t, ctx, sub, lt.ID(), bus.LayerLow)
	wantLayer := func(layer int, name string) {
		t.Helper()
		start := rt.Stats().Packets
		testenv.Eventually(t, 20*time.Second, "layer "+name, func() error {
			s := rt.Stats()
			if s.Layer != layer || s.Packets < start+30 {
				return fmt.Errorf("layer marker %d after %d packets (server says %q)", s.Layer, s.Packets-start, s.ServerLayer)
			}
			if s.Gaps != 0 || s.Duplicates != 0 {
				return fmt.Errorf("%d sequence gaps, %d duplicates", s.Gaps, s.Duplicates)
			}
			return nil
		})
	}
	wantLayer(0, "low")
	for _, step := range []struct {
		layer string
		index int
	}{{bus.LayerHigh, 2}, {bus.LayerMedium, 1}, {bus.LayerLow, 0}} {
		if err := sub.SetLayer(ctx, rt, step.layer); err != nil {
			t.Fatalf("set_layer %s: %v", step.layer, err)
		}
		wantLayer(step.index, step.layer)
	}
	s := rt.Stats()
	if s.LayerSwitches < 3 || s.Keyframes < 4 {
		t.Errorf("%d layer switches and %d keyframes, want >= 3 and >= 4", s.LayerSwitches, s.Keyframes)
	}
	testenv.Eventually(t, 10*time.Second, "layer_changed reported", func() error {
		if got := rt.Stats().ServerLayer; got != bus.LayerLow {
			return fmt.Errorf("last layer_changed says %q", got)
		}
		return nil
	})
}

// An H.264 track reaches a subscriber whole, keyframes included.
func TestH264Track(t *testing.T) {
	c := startCluster(t)
	pub := join(t, c.wsURL, "default", "h264", "pub")
	lt := publish(t, pub, client.TrackSpec{Codec: client.CodecH264, FPS: 15, KbpsPerLayer: []int{300}, KeyframeFrames: 15})[0]
	sub := join(t, c.wsURL, "default", "h264", "sub")
	ctx := testenv.Context(t, 30*time.Second)
	rt := subscribeTo(t, ctx, sub, lt.ID(), "")
	testenv.Eventually(t, 30*time.Second, "H.264 received", func() error {
		if err := receiving(rt, 100); err != nil {
			return err
		}
		if s := rt.Stats(); s.MimeType != client.CodecH264 || s.Keyframes < 2 {
			return fmt.Errorf("%s with %d keyframes", s.MimeType, s.Keyframes)
		}
		return nil
	})
}
