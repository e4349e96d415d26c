package ingress

import (
	"fmt"
	"math"
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
// at the publisher's 440 Hz; a WHEP viewer receives the video too; when
// ffmpeg stops, the room sees the participant leave.
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
