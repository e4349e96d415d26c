package sfu

import (
	"github.com/pion/webrtc/v4"
)

// The naive forwarder is the textbook Pion way of building an SFU, kept as
// the baseline the benchmarks compare against (docs/benchmarks.md): one
// webrtc.TrackLocalStaticRTP per published stream, added to every
// subscriber's RTPSender, and each incoming packet written to it whole
// (Pion's broadcast example). Pion then parses and rewrites the packet once
// per subscriber, and its default interceptors (NACK responder with its own
// copy of every packet, reports, stats, TWCC) run on every write. There is
// no layer switching: a subscriber keeps the layer it got when it
// subscribed. It runs behind the same bus commands as the rtcloud
// forwarder, so the same load generator drives both.

// newNaiveLocals creates the up track's local tracks, one per layer, once
// its codec is known; up.mu is held.
func (t *upTrack) newNaiveLocals() {
	c := webrtc.RTPCodecCapability{MimeType: t.mime, ClockRate: t.clockRate}
	if t.kind == "audio" {
		c.Channels = 2
	}
	for i := range t.naive {
		l, err := webrtc.NewTrackLocalStaticRTP(c, t.id, t.pub.p.SessionID)
		if err != nil {
			return
		}
		t.naive[i] = l
	}
}

// naiveReadLoop reads one layer and writes every packet to the layer's
// local track, which writes it to every subscriber bound to it.
func (t *upTrack) naiveReadLoop(remote *webrtc.TrackRemote, l *layer) {
	local := t.naive[l.idx]
	buf := make([]byte, maxPacketBuffer)
	for {
		n, _, err := remote.Read(buf)
		if err != nil || local == nil {
			return
		}
		l.bytes.Add(uint64(n))
		t.packetsIn.Add(1)
		if t.m != nil {
			t.m.In.Add(t.video, n)
			if subs := l.naiveSubs.Load(); subs > 0 {
				out := &t.m.Out
				if t.video {
					out.VideoPackets.Add(float64(subs))
					out.VideoBytes.Add(float64(subs * int64(n)))
				} else {
					out.AudioPackets.Add(float64(subs))
					out.AudioBytes.Add(float64(subs * int64(n)))
				}
			}
		}
		_, _ = local.Write(buf[:n])
	}
}

// setNaiveSource points d's sender at up's local track for the layer want
// resolves to (nil: back to d itself, which sends nothing).
func (d *downTrack) setNaiveSource(up *upTrack, want int) error {
	var local webrtc.TrackLocal = d
	layer := 0
	if up != nil {
		layer = up.resolveLayer(want)
		if layer < 0 || layer >= maxLayers {
			layer = 0
		}
		up.mu.Lock()
		nl := up.naive[layer]
		up.mu.Unlock()
		if nl == nil {
			return ErrCodec
		}
		local = nl
	}
	d.mu.Lock()
	old, oldLayer := d.src, d.current
	d.src, d.want, d.current, d.target = up, want, -1, layer
	if up != nil {
		d.current = layer
	}
	sender := d.sender
	d.mu.Unlock()
	if old != nil {
		if oldLayer >= 0 {
			old.layers[oldLayer].naiveSubs.Add(-1)
		}
		old.removeDown(d)
	}
	if up != nil {
		up.layers[layer].naiveSubs.Add(1)
		up.addDown(d)
	}
	if sender != nil {
		if err := sender.ReplaceTrack(local); err != nil {
			return err
		}
	}
	if up != nil {
		up.requestKeyframe(layer)
	}
	return nil
}
