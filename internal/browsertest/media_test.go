package browsertest

import (
	"fmt"
	"testing"
	"time"
)

// inbound is one inbound-rtp entry of a page's getStats().
type inbound struct {
	Kind          string  `json:"kind"`
	MID           string  `json:"mid"`
	FramesDecoded int     `json:"framesDecoded"`
	FrameWidth    int     `json:"frameWidth"`
	FrameHeight   int     `json:"frameHeight"`
	Packets       int     `json:"packetsReceived"`
	Samples       int     `json:"totalSamplesReceived"`
	AudioLevel    float64 `json:"audioLevel"`
	// SenderReports is how many RTCP sender reports the page got for the
	// stream (its remote-outbound-rtp entry); browsers sync audio and
	// video with them.
	SenderReports int `json:"reportsSent"`
}

// statsJS returns the inbound-rtp stats of the RTCPeerConnection that the
// expression pc evaluates to.
func statsJS(pc string) string {
	return `(async () => {
  const pc = ` + pc + `;
  if (!pc) return [];
  const out = [];
  const stats = await pc.getStats();
  stats.forEach((s) => {
    if (s.type !== 'inbound-rtp') return;
    const remote = s.remoteId && stats.get(s.remoteId);
    out.push({kind: s.kind, mid: s.mid || '', framesDecoded: s.framesDecoded || 0, frameWidth: s.frameWidth || 0,
      frameHeight: s.frameHeight || 0, packetsReceived: s.packetsReceived || 0,
      totalSamplesReceived: s.totalSamplesReceived || 0, audioLevel: s.audioLevel || 0,
      reportsSent: (remote && remote.reportsSent) || 0});
  });
  return out;
})()`
}

const roomPC = `window.rtcloudApp && window.rtcloudApp.room && window.rtcloudApp.room.peerConnection`

func (p *page) inbound(pc string) ([]inbound, error) {
	var in []inbound
	err := p.eval(statsJS(pc), &in)
	return in, err
}

// best returns the entry of a kind with the most decoded frames (video) or
// packets (audio).
func best(in []inbound, kind string) (inbound, bool) {
	var b inbound
	found := false
	for _, s := range in {
		if s.Kind != kind {
			continue
		}
		if !found || s.FramesDecoded+s.Packets > b.FramesDecoded+b.Packets {
			b, found = s, true
		}
	}
	return b, found
}

// waitReceiving waits until the page decodes video (frames rising, a frame
// width) and receives audio (packets and samples rising) on pc, with
// sender reports for both.
func waitReceiving(t *testing.T, p *page, pc string, wantAudio bool) inbound {
	t.Helper()
	var first, last inbound
	var firstAudio inbound
	eventually(t, 30*time.Second, p.name+" decodes video", func() error {
		in, err := p.inbound(pc)
		if err != nil {
			return err
		}
		v, ok := best(in, "video")
		if !ok || v.FramesDecoded == 0 || v.FrameWidth == 0 {
			return fmt.Errorf("inbound %+v", in)
		}
		first = v
		firstAudio, _ = best(in, "audio")
		return nil
	})
	eventually(t, 25*time.Second, p.name+" keeps decoding video and receives audio", func() error {
		in, err := p.inbound(pc)
		if err != nil {
			return err
		}
		v, _ := best(in, "video")
		if v.FramesDecoded < first.FramesDecoded+10 {
			return fmt.Errorf("frames decoded %d -> %d", first.FramesDecoded, v.FramesDecoded)
		}
		if v.SenderReports == 0 {
			return fmt.Errorf("no sender report for the video: %+v", v)
		}
		if wantAudio {
			a, ok := best(in, "audio")
			if !ok || a.Packets <= firstAudio.Packets || a.Samples == 0 || a.SenderReports == 0 {
				return fmt.Errorf("audio %+v (first %+v)", a, firstAudio)
			}
		}
		last = v
		return nil
	})
	return last
}
