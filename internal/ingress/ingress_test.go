package ingress

import (
	"bytes"
	"fmt"
	"github.com/rtcloud/rtcloud/internal/config"
	"math"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/testenv"
	"github.com/rtcloud/rtcloud/internal/transcode"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// ffmpeg publishes H.264 and AAC over RTMP with a room token as the key:
// a subscriber receives H.264 that decodes and Opus whose spectrum peaks
// at the publisher's 440 Hz; a WHEP viewer receives video that decodes
// too; when ffmpeg stops, the room sees the participant leave.
func TestRTMPPublishReachesTheRoom(t *testing.T) {
	g := startGateway(t)
	ctx := testenv.Context(t, 60*time.Second)
	ws := g.stack.Signals[0]
	pub := g.publish(t, testenv.Mint(t, "default", "stage", "encoder"), 12)

	viewer, err := client.Connect(ctx, ws.WS, testenv.Mint(t, "default", "stage", "viewer"), client.Options{Media: media(), Logger: testenv.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Close()
	tis, err := viewer.WaitTracks(ctx, 2, func(ti bus.TrackInfo) bool { return ti.Identity == "encoder" })
	if err != nil {
		t.Fatalf("the RTMP tracks: %v", err)
	}
	s := &sink{}
	s.dec, err = transcode.NewDecoder(transcode.DecoderOptions{FFmpeg: needFFmpeg(t), SampleRate: 48000, Channels: 1,
		OnPCM: func(b []byte) { s.mu.Lock(); s.pcm.Write(b); s.mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.dec.Close()
	for _, ti := range tis {
		rt, err := viewer.Subscribe(ctx, ti.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		switch ti.Kind {
		case bus.KindVideo:
			if !strings.EqualFold(ti.MimeType, "video/H264") {
				t.Errorf("video track is %s", ti.MimeType)
			}
			rt.OnRTP(s.video)
		case bus.KindAudio:
			rt.OnRTP(s.audio)
		}
	}
	whep, err := client.WatchWHEP(ctx, ws.URL+"/whep/stage/encoder", testenv.Mint(t, "default", "stage", "whep"), media())
	if err != nil {
		t.Fatalf("WHEP: %v", err)
	}
	defer func() { _ = whep.Close(ctx) }()

	testenv.Eventually(t, 30*time.Second, "60 video frames with a keyframe and 1 s of audio", func() error {
		f, k, a := s.counts()
		if f >= 60 && k >= 1 && a >= 2*48000 {
			return nil
		}
		var st []string
		for _, rt := range viewer.RemoteTracks() {
			st = append(st, fmt.Sprintf("%s %+v", rt.Kind(), rt.Stats()))
		}
		return fmt.Errorf("frames %d keyframes %d pcm %d bytes; %v", f, k, a, st)
	})
	s.mu.Lock()
	annexB := append([]byte(nil), s.h264.Bytes()...)
	pcm := transcode.S16(s.pcm.Bytes())
	s.mu.Unlock()
	if n := decodeH264(t, annexB); n < 30 {
		t.Fatalf("ffmpeg decoded %d frames of what the subscriber received", n)
	}
	pcm = pcm[len(pcm)/2:]
	if f := transcode.PeakFrequency(pcm, 48000); math.Abs(f-440) > 15 {
		t.Fatalf("audio peaks at %.0f Hz, want 440", f)
	}
	if r := transcode.RMS(pcm); r < 1000 {
		t.Fatalf("audio RMS %.0f: no signal", r)
	}
	g.wait(t, "WHEP viewer receives video frames", func() bool {
		rt := whep.RemoteTrack(bus.KindVideo)
		return rt != nil && rt.Stats().Frames >= 30 && rt.Stats().Keyframes >= 1
	})
	ws2 := &sink{}
	whep.RemoteTrack(bus.KindVideo).OnRTP(ws2.video)
	g.wait(t, "the WHEP viewer's next keyframe and 15 frames", func() bool {
		f, k, _ := ws2.counts()
		return f >= 15 && k >= 1
	})
	ws2.mu.Lock()
	whepH264 := append([]byte(nil), ws2.h264.Bytes()...)
	ws2.mu.Unlock()
	if n := decodeH264(t, whepH264); n < 10 {
		t.Fatalf("ffmpeg decoded %d frames of what the WHEP viewer received", n)
	}

	pub.stop()
	g.wait(t, "the room sees the RTMP participant leave", func() bool {
		for _, p := range viewer.Participants() {
			if p.Identity == "encoder" {
				return false
			}
		}
		return true
	})
	g.wait(t, "the gateway logs the end", func() bool {
		return strings.Contains(g.logs.String(), "RTMP participant left the room") && g.srv.Active() == 0
	})
}

// With ingress.simulcast the stream is published in three layers: the
// encoder's own and two that ffmpeg scales down; the low layer decodes at
// a quarter of the width and height.
func TestRTMPSimulcast(t *testing.T) {
	g := startGateway(t, func(c *config.Ingress) { c.Simulcast = true })
	g.size = "640x360"
	ctx := testenv.Context(t, 60*time.Second)
	g.publish(t, testenv.Mint(t, "default", "layers", "encoder"), 15)
	viewer, err := client.Connect(ctx, g.stack.Signals[0].WS, testenv.Mint(t, "default", "layers", "viewer"),
		client.Options{Media: media(), Logger: testenv.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Close()
	var video bus.TrackInfo
	if err := viewer.WaitUntil(ctx, func() bool {
		for _, ti := range viewer.Tracks() {
			if ti.Identity == "encoder" && ti.Kind == bus.KindVideo && len(ti.Layers) == 3 {
				video = ti
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("a video track with three layers: %v (%+v)", err, viewer.Tracks())
	}
	rt, err := viewer.Subscribe(ctx, video.ID, bus.LayerLow)
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	rt.OnRTP(s.video)
	// The node may start with another layer; collect from the switch on.
	g.wait(t, "the node forwards the low layer", func() bool { return rt.Stats().ServerLayer == bus.LayerLow })
	s.mu.Lock()
	s.h264.Reset()
	s.frames, s.keyframes = 0, 0
	s.mu.Unlock()
	g.wait(t, "30 frames of the low layer", func() bool {
		f, k, _ := s.counts()
		return f >= 30 && k >= 1
	})
	s.mu.Lock()
	annexB := append([]byte(nil), s.h264.Bytes()...)
	s.mu.Unlock()
	if n := decodeH264(t, annexB); n < 20 {
		t.Fatalf("decoded %d frames", n)
	}
	probe := exec.Command(strings.Replace(needFFmpeg(t), "ffmpeg", "ffprobe", 1), "-v", "error", "-f", "h264",
		"-show_entries", "stream=width,height", "-of", "csv=p=0:s=x", "-")
	probe.Stdin = bytes.NewReader(annexB)
	out, err := probe.Output()
	if err != nil || strings.TrimSpace(string(out)) != "160x90" {
		t.Fatalf("low layer is %q (%v), want 160x90", out, err)
	}
}
