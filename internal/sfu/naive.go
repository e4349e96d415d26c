package sfu

import (
	"sync"
	"sync/atomic"

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
//
// Its state lives here, beside the production types rather than in them:
// a node runs it only with Options.Forwarder = ForwarderNaive.
type naiveForwarder struct {
	mu      sync.Mutex
	locals  map[*upTrack]*naiveLocals
	senders map[*downTrack]*webrtc.RTPSender
}

// naiveLocals are an up track's local tracks, one per layer, and how many
// subscribers each has.
type naiveLocals struct {
	tracks [maxLayers]*webrtc.TrackLocalStaticRTP
	subs   [maxLayers]atomic.Int64
}

func newNaiveForwarder() *naiveForwarder {
	return &naiveForwarder{locals: map[*upTrack]*naiveLocals{}, senders: map[*downTrack]*webrtc.RTPSender{}}
}

func (f *naiveForwarder) localsOf(t *upTrack) *naiveLocals {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.locals[t]
}

// bindSender records the sender of a new down track.
func (f *naiveForwarder) bindSender(d *downTrack, s *webrtc.RTPSender) {
	f.mu.Lock()
	f.senders[d] = s
	f.mu.Unlock()
}

// forget drops what the forwarder keeps of a closed session's tracks.
func (f *naiveForwarder) forget(ups []*upTrack, downs []*downTrack) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range ups {
		delete(f.locals, t)
	}
	for _, d := range downs {
		delete(f.senders, d)
	}
}

// newLocals creates the up track's local tracks, one per layer, once its
// codec is known.
func (f *naiveForwarder) newLocals(t *upTrack) {
	c := webrtc.RTPCodecCapability{MimeType: t.mime, ClockRate: t.clockRate}
	if t.kind == "audio" {
		c.Channels = 2
	}
	nl := &naiveLocals{}
	for i := range nl.tracks {
		l, err := webrtc.NewTrackLocalStaticRTP(c, t.id, t.owner.SessionID)
		if err != nil {
			return
		}
		nl.tracks[i] = l
	}
	f.mu.Lock()
	f.locals[t] = nl
	f.mu.Unlock()
}

// readLoop reads one layer and writes every packet to the layer's local
// track, which writes it to every subscriber bound to it.
func (f *naiveForwarder) readLoop(t *upTrack, remote *webrtc.TrackRemote, l *layer) {
	nl := f.localsOf(t)
	buf := make([]byte, maxPacketBuffer)
	for {
		n, _, err := remote.Read(buf)
		if err != nil || nl == nil {
			return
		}
		l.bytes.Add(uint64(n))
		t.packetsIn.Add(1)
		if t.m != nil {
			t.m.In.Add(t.video, n)
			if subs := nl.subs[l.idx].Load(); subs > 0 {
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
		_, _ = nl.tracks[l.idx].Write(buf[:n])
	}
}

// setSource points d's sender at up's local track for the layer want
// resolves to (nil: back to d itself, which sends nothing).
func (f *naiveForwarder) setSource(d *downTrack, up *upTrack, want int) error {
	var local webrtc.TrackLocal = d
	layer := 0
	var nl *naiveLocals
	if up != nil {
		layer = up.resolveLayer(want)
		if layer < 0 || layer >= maxLayers {
			layer = 0
		}
		if nl = f.localsOf(up); nl == nil {
			return ErrCodec
		}
		local = nl.tracks[layer]
	}
	d.mu.Lock()
	old, oldLayer := d.src, d.current
	d.src, d.want, d.current, d.target = up, want, -1, layer
	if up != nil {
		d.current = layer
	}
	d.mu.Unlock()
	f.mu.Lock()
	sender := f.senders[d]
	f.mu.Unlock()
	if old != nil {
		if ol := f.localsOf(old); ol != nil && oldLayer >= 0 {
			ol.subs[oldLayer].Add(-1)
		}
		old.removeSink(d)
	}
	if up != nil {
		nl.subs[layer].Add(1)
		up.addSink(d)
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
