package ingress

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/internal/transcode"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// With ingress.simulcast the encoder's video is the high layer ("f"),
// forwarded as it is, and an ffmpeg subprocess encodes two more from it:
// half ("h") and a quarter ("q") of its width and height, with the same
// H.264 profile so all three share one codec in the SDP.
var simulcastLayers = []transcode.VideoLayer{{Divisor: 4, Kbps: 200}, {Divisor: 2, Kbps: 600}}

// scaled is the two transcoded layers of a stream.
type scaled struct {
	senders []*videoSender // q, h
	scaler  *transcode.Scaler

	mu  sync.Mutex
	pts [][]time.Duration // per layer: presentation times of frames fed and not yet out
}

// simulcastTracks returns the tracks of the q, h and f encodings.
func simulcastTracks(capab webrtc.RTPCodecCapability) ([]*webrtc.TrackLocalStaticRTP, error) {
	var out []*webrtc.TrackLocalStaticRTP
	for _, rid := range client.SimulcastRIDs {
		t, err := webrtc.NewTrackLocalStaticRTP(capab, "video", "rtmp", webrtc.WithRTPStreamID(rid))
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// x264Profile is the profile the lower layers are encoded with.
func x264Profile(fmtp string) string {
	if strings.HasSuffix(fmtp, "640c1f") {
		return "high"
	}
	return "baseline"
}

func startScaled(ffmpeg, fmtp string, tracks []*webrtc.TrackLocalStaticRTP, onErr func(error)) (*scaled, error) {
	sc := &scaled{pts: make([][]time.Duration, len(simulcastLayers))}
	for _, t := range tracks[:len(simulcastLayers)] {
		sc.senders = append(sc.senders, &videoSender{track: t})
	}
	var err error
	sc.scaler, err = transcode.NewScaler(transcode.ScalerOptions{FFmpeg: ffmpeg, Profile: x264Profile(fmtp), Layers: simulcastLayers,
		OnAU: func(i int, au []byte) {
			sc.mu.Lock()
			if len(sc.pts[i]) == 0 {
				sc.mu.Unlock()
				return
			}
			pts := sc.pts[i][0]
			sc.pts[i] = sc.pts[i][1:]
			sc.mu.Unlock()
			if err := sc.senders[i].writeAU(pts, splitAnnexB(au)); err != nil {
				onErr(fmt.Errorf("simulcast layer %d: %w", i, err))
			}
		}})
	if err != nil {
		return nil, err
	}
	return sc, nil
}

// feed hands one access unit (Annex B, as sent on the high layer) to the
// scaler.
func (sc *scaled) feed(pts time.Duration, annexB []byte) error {
	sc.mu.Lock()
	for i := range sc.pts {
		if len(sc.pts[i]) < 300 { // ffmpeg is far behind: let timestamps drop
			sc.pts[i] = append(sc.pts[i], pts)
		}
	}
	sc.mu.Unlock()
	return sc.scaler.Write(annexB)
}
