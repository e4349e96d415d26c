package ingress

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

// H.264 NAL unit types.
const (
	naluIDR = 5
	naluSPS = 7
	naluPPS = 8
	naluAUD = 9
)

// h264Fmtp returns the fmtp line of the SFU's H.264 codec that carries
// the stream whose SPS is sps: constrained baseline 42e01f, baseline
// 42001f, or High 640c1f for Main and High (a High decoder decodes Main).
// Profiles browsers do not decode (High 10, 4:2:2, 4:4:4) are refused.
func h264Fmtp(sps []byte) (string, error) {
	const base = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id="
	if len(sps) < 4 {
		return "", fmt.Errorf("%w: H.264 without a sequence parameter set", ErrUnsupported)
	}
	switch profile, constraints := sps[1], sps[2]; {
	case profile == 66 && constraints&0x40 != 0:
		return base + "42e01f", nil
	case profile == 66:
		return base + "42001f", nil
	case profile == 77 || profile == 88 || profile == 100:
		return base + "640c1f", nil
	default:
		return "", fmt.Errorf("%w: H.264 profile %d (use baseline, main or high)", ErrUnsupported, profile)
	}
}

// videoSender repacketizes H.264 access units to RTP without decoding:
// the RTP timestamp is the presentation time at 90 kHz, SPS and PPS go
// before every IDR frame, and nothing is sent before the first IDR.
type videoSender struct {
	track   *webrtc.TrackLocalStaticRTP
	pay     codecs.H264Payloader
	sps     []byte
	pps     []byte
	seq     uint16
	started bool
	sentAU  bool
	buf     []byte
	// ext are header extensions (mid, rid) written on every packet of a
	// simulcast encoding: id -> value.
	ext map[uint8][]byte

	frames    atomic.Uint64
	keyframes atomic.Uint64
	keyReqs   atomic.Uint64 // PLIs/FIRs; answered by the encoder's next keyframe
}

const mtu = 1200

func (v *videoSender) writeAU(pts time.Duration, au [][]byte) error {
	v.sentAU = false
	idr, hasSPS := false, false
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch n[0] & 0x1f {
		case naluIDR:
			idr = true
		case naluSPS:
			v.sps, hasSPS = append([]byte(nil), n...), true
		case naluPPS:
			v.pps = append([]byte(nil), n...)
		}
	}
	if !v.started && !idr {
		return nil // wait for a keyframe
	}
	v.buf = v.buf[:0]
	if idr && !hasSPS && v.sps != nil && v.pps != nil {
		v.buf = annexB(v.buf, v.sps)
		v.buf = annexB(v.buf, v.pps)
	}
	vcl := false
	for _, n := range au {
		if len(n) == 0 || n[0]&0x1f == naluAUD {
			continue
		}
		t := n[0] & 0x1f
		vcl = vcl || (t >= 1 && t <= 5)
		v.buf = annexB(v.buf, n)
	}
	if !vcl {
		return nil // parameter sets alone (the stream's configuration)
	}
	v.started = true
	ts := uint32(pts * 90000 / time.Second)
	payloads := v.pay.Payload(mtu, v.buf)
	for i, p := range payloads {
		v.seq++
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, Marker: i == len(payloads)-1, SequenceNumber: v.seq, Timestamp: ts}, Payload: p}
		for id, val := range v.ext {
			_ = pkt.Header.SetExtension(id, val)
		}
		if err := v.track.WriteRTP(&pkt); err != nil {
			return err
		}
	}
	v.frames.Add(1)
	if idr {
		v.keyframes.Add(1)
	}
	v.sentAU = true
	return nil
}

// setRID makes the sender write the mid and rid header extensions the
// SFU tells simulcast encodings apart by.
func (v *videoSender) setRID(midID uint8, mid string, ridID uint8, rid string) {
	v.ext = map[uint8][]byte{}
	if midID != 0 {
		v.ext[midID] = []byte(mid)
	}
	if ridID != 0 {
		v.ext[ridID] = []byte(rid)
	}
}

// lastSent is the Annex B access unit the last writeAU sent (nil if it
// sent none); valid until the next writeAU.
func (v *videoSender) lastSent() []byte {
	if !v.sentAU {
		return nil
	}
	return v.buf
}

// splitAnnexB returns the NAL units of an Annex B access unit.
func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				end := i
				if end > start && b[end-1] == 0 {
					end--
				}
				out = append(out, b[start:end])
			}
			start = i + 3
			i += 2
		}
	}
	if start >= 0 && start < len(b) {
		out = append(out, b[start:])
	}
	return out
}

func annexB(b, nalu []byte) []byte {
	b = append(b, 0, 0, 0, 1)
	return append(b, nalu...)
}

// audioSender writes Opus packets as RTP at 48 kHz.
type audioSender struct {
	track   *webrtc.TrackLocalStaticRTP
	seq     uint16
	ts      uint32
	packets atomic.Uint64
}

func (a *audioSender) write(pkt []byte, samples int) error {
	a.seq++
	p := rtp.Packet{Header: rtp.Header{Version: 2, Marker: a.packets.Load() == 0, SequenceNumber: a.seq, Timestamp: a.ts}, Payload: pkt}
	a.ts += uint32(samples)
	a.packets.Add(1)
	return a.track.WriteRTP(&p)
}
