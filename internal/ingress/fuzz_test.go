package ingress

import (
	"context"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/internal/auth"
)

// FuzzVideoAU feeds arbitrary access units (split at 0x00 bytes into
// NAL units) to the H.264 repacketizer and the profile check.
func FuzzVideoAU(f *testing.F) {
	f.Add([]byte{0x67, 0x42, 0xc0, 0x1f, 0, 0x68, 0xce, 0, 0x65, 0x88, 0x84})
	f.Add([]byte{0x41, 0x9a, 0, 0x09, 0xf0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264}, "v", "s")
		if err != nil {
			t.Fatal(err)
		}
		v := &videoSender{track: track}
		var au [][]byte
		start := 0
		for i, b := range data {
			if b == 0 {
				au = append(au, data[start:i])
				start = i + 1
			}
		}
		au = append(au, data[start:])
		_ = v.writeAU(40*time.Millisecond, au)
		_ = v.writeAU(80*time.Millisecond, au)
		for _, n := range au {
			_, _ = h264Fmtp(n)
		}
	})
}

// FuzzStreamKey resolves arbitrary RTMP paths: never a panic, and only a
// valid token with the publish grant resolves.
func FuzzStreamKey(f *testing.F) {
	tok, _ := auth.Mint(auth.TokenOptions{Key: auth.DevKey, Secret: auth.DevSecret, Identity: "x",
		Grant: auth.Grant{Namespace: "default", Room: "r", Publish: true}})
	f.Add("/live/" + tok)
	f.Add("/live/ik_0123")
	f.Add("/other/key")
	f.Add("live")
	f.Add("/live/")
	s := &Server{opts: Options{Verifier: auth.NewVerifier(map[string]string{auth.DevKey: auth.DevSecret})}}
	f.Fuzz(func(t *testing.T, path string) {
		tg, err := s.resolve(context.Background(), path)
		if err == nil && (tg.room == "" || tg.token == "") {
			t.Fatalf("%q resolved to %+v", path, tg)
		}
	})
}
