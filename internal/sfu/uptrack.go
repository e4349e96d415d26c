package sfu

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/metrics"
	"github.com/rtcloud/rtcloud/internal/rtpbuf"
)

const (
	cachePackets    = 1024                   // per video layer: ~1 s of 8 Mbit/s video
	audioCache      = 16                     // Opus is not NACKed (no nack feedback negotiated)
	keyframeMinGap  = 300 * time.Millisecond // PLI throttle per layer
	layerIdleAfter  = time.Second            // silence after which a layer counts as paused
	maxPacketBuffer = 1500
)

// rtcpWriter sends RTCP to the publisher.
type rtcpWriter interface {
	WriteRTCP(pkts []rtcp.Packet) error
}

// batcher groups the UDP writes of one fan-out into one sendmmsg.
type batcher interface {
	BeginBatch()
	EndBatch()
}

// upTrack is a track a session publishes. Each simulcast layer (or the one
// stream of a plain track) has its own read loop, packet cache and
// statistics; all of them fan out to the same snapshot of down tracks.
type upTrack struct {
	id        string
	kind      string
	mime      string
	codec     codecKind
	clockRate uint32
	// owner is the publishing participant: a session of this node, or
	// of another node when the source is a relay ingress.
	owner    bus.Participant
	upstream rtcpWriter
	video    bool
	// ingress: the source is the relay (relayin.go), not a local
	// publisher. The feeder's layer reports (reported) set its layers'
	// bitrates and idle flags: the origin decides.
	ingress  bool
	reported atomic.Bool
	m        *metrics.SFU        // may be nil (unit tests)
	batch    batcher             // may be nil
	rtx      *rtxBudget          // may be nil (unit tests)
	fwdTime  prometheus.Observer // read to last write of a fan-out; may be nil

	layers [maxLayers]*layer
	sinks  atomic.Pointer[[]sink] // copy-on-write snapshot
	muted  atomic.Bool
	closed atomic.Bool

	// Audio level (dBov, 0 loud..127 silent); loudest since the last read.
	levelID   uint8
	loudest   atomic.Uint32 // 127-dBov+1, 0 = none
	bytesIn   *atomic.Uint64
	packetsIn atomic.Uint64

	mu       sync.Mutex // guards info
	info     bus.TrackInfo
	sinksMu  sync.Mutex // serializes writers of sinks
	simulcst bool
	ridIdx   map[string]int // rid -> layer index, fixed at creation
}

// layer is one received stream of an upTrack.
type layer struct {
	idx     int
	rid     string
	ssrc    atomic.Uint32
	present atomic.Bool
	// idle is set once the layer has sent no media for layerIdleAfter (a
	// browser pauses its top layers when CPU or bandwidth runs short and
	// may go on sending padding on them);
	// idle layers are not chosen while another layer flows.
	idle     atomic.Bool
	idleFor  time.Duration // owned by the node's tick
	cache    *rtpbuf.Cache
	bytes    atomic.Uint64
	bitrate  atomic.Uint64 // bits per second, updated by the node's ticker
	lastRate uint64
	lastPLI  atomic.Int64 // unix nanos
}

func newUpTrack(id string, owner bus.Participant, kind, mime string, clockRate uint32, simulcast bool, nodeBytes *atomic.Uint64) *upTrack {
	t := &upTrack{
		id: id, kind: kind, mime: mime, codec: codecOf(mime), clockRate: clockRate,
		owner: owner, simulcst: simulcast, bytesIn: nodeBytes, video: kind == bus.KindVideo,
	}
	size := cachePackets
	if kind != bus.KindVideo {
		size = audioCache
	}
	for i := range t.layers {
		// A cache takes memory on its first packet: layers never sent cost nothing.
		t.layers[i] = &layer{idx: i, cache: rtpbuf.NewCache(size)}
	}
	empty := []sink{}
	t.sinks.Store(&empty)
	return t
}

func (t *upTrack) trackInfo() bus.TrackInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	info := t.info
	info.Layers = append([]string(nil), t.info.Layers...)
	info.Muted = t.muted.Load()
	for _, l := range t.layers {
		info.BitsPerS += l.bitrate.Load()
	}
	return info
}

// addSink adds a receiver of the track's packets.
func (t *upTrack) addSink(k sink) {
	t.sinksMu.Lock()
	defer t.sinksMu.Unlock()
	old := *t.sinks.Load()
	if slices.Contains(old, k) {
		return
	}
	next := make([]sink, len(old), len(old)+1)
	copy(next, old)
	next = append(next, k)
	t.sinks.Store(&next)
}

func (t *upTrack) removeSink(k sink) {
	t.sinksMu.Lock()
	defer t.sinksMu.Unlock()
	old := *t.sinks.Load()
	next := make([]sink, 0, len(old))
	for _, o := range old {
		if o != k {
			next = append(next, o)
		}
	}
	t.sinks.Store(&next)
}

// downTracks returns the local subscribers among the sinks.
func (t *upTrack) downTracks() []*downTrack {
	var out []*downTrack
	for _, k := range *t.sinks.Load() {
		if d, ok := k.(*downTrack); ok {
			out = append(out, d)
		}
	}
	return out
}

// usableLayers reports which layers a subscriber may be given: the
// present ones that are not idle, or, when every present layer is idle
// (the whole track paused), the present ones.
func (t *upTrack) usableLayers() [maxLayers]bool {
	var present, flowing [maxLayers]bool
	anyFlowing := false
	for i, l := range t.layers {
		present[i] = l.present.Load()
		flowing[i] = present[i] && !l.idle.Load()
		anyFlowing = anyFlowing || flowing[i]
	}
	if anyFlowing {
		return flowing
	}
	return present
}

// presentBitrates returns each usable layer's bitrate; other layers are 0,
// and a usable layer with no traffic measured yet counts as 1 bit/s so it
// stays eligible.
func (t *upTrack) presentBitrates() [maxLayers]uint64 {
	var out [maxLayers]uint64
	usable := t.usableLayers()
	for i, l := range t.layers {
		if usable[i] {
			out[i] = max(1, l.bitrate.Load())
		}
	}
	return out
}

// resolveLayer maps a wanted layer index to one the track can give: the
// highest usable layer not above want, else the lowest usable layer.
func (t *upTrack) resolveLayer(want int) int {
	if !t.simulcst {
		return 0
	}
	usable := t.usableLayers()
	best := -1
	for i := 0; i <= want && i < maxLayers; i++ {
		if usable[i] {
			best = i
		}
	}
	if best >= 0 {
		return best
	}
	for i := want + 1; i < maxLayers; i++ {
		if usable[i] {
			return i
		}
	}
	return want
}

// requestKeyframe sends a PLI for layer idx to the publisher, at most once
// per keyframeMinGap.
func (t *upTrack) requestKeyframe(idx int) {
	if t.kind != bus.KindVideo || idx < 0 || idx >= maxLayers {
		return
	}
	l := t.layers[idx]
	ssrc := l.ssrc.Load()
	if ssrc == 0 {
		return
	}
	now := time.Now().UnixNano()
	last := l.lastPLI.Load()
	if now-last < int64(keyframeMinGap) || !l.lastPLI.CompareAndSwap(last, now) {
		return
	}
	if t.m != nil {
		t.m.PLIs.Inc()
	}
	if t.upstream != nil {
		_ = t.upstream.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
	}
}

// updateRates turns byte counters into bitrates and marks the layers
// that have been silent for layerIdleAfter idle; dt is the time since the
// previous call.
func (t *upTrack) updateRates(dt time.Duration) {
	if t.ingress && t.reported.Load() {
		return // the feeder's reports set bitrates and idle flags
	}
	for _, l := range t.layers {
		b := l.bytes.Load()
		l.bitrate.Store(uint64(float64(b-l.lastRate) * 8 / dt.Seconds()))
		if b == l.lastRate {
			l.idleFor += dt
		} else {
			l.idleFor = 0
		}
		l.lastRate = b
		l.idle.Store(!t.ingress && l.present.Load() && l.idleFor >= layerIdleAfter)
	}
}

// takeLevel returns the loudest audio level since the last call, 0..1.
func (t *upTrack) takeLevel() float64 {
	v := t.loudest.Swap(0)
	if v == 0 || t.muted.Load() {
		return 0
	}
	dbov := 127 - float64(v-1)
	return math.Pow(10, -dbov/20)
}

// readLoop reads one layer until the publisher's stream ends. It reuses
// one buffer and one packet; the per-packet path allocates nothing.
func (t *upTrack) readLoop(remote *webrtc.TrackRemote, l *layer) {
	buf := make([]byte, maxPacketBuffer)
	var pkt rtp.Packet
	for {
		n, _, err := remote.Read(buf)
		if err != nil {
			return
		}
		t.forward(l, buf[:n], &pkt)
	}
}

// forward handles one received packet of layer l: cache it, note its
// audio level and hand it to every down track. The time from here to the
// last write of the fan-out is what the node adds to a packet's latency
// (one clock read per packet, not per subscriber).
func (t *upTrack) forward(l *layer, raw []byte, pkt *rtp.Packet) {
	if pkt.Unmarshal(raw) != nil {
		return
	}
	start := time.Now()
	if len(pkt.Payload) > 0 {
		// Media only: a browser keeps sending padding (bandwidth probes)
		// on the SSRC of a layer it paused, and a layer whose padding
		// counted would never go idle and would be chosen, with its
		// tiny bitrate, for subscribers who then get no frame at all.
		l.bytes.Add(uint64(len(raw)))
	}
	t.packetsIn.Add(1)
	if t.bytesIn != nil {
		t.bytesIn.Add(uint64(len(raw)))
	}
	if t.m != nil {
		t.m.In.Add(t.video, len(raw))
	}
	_ = l.cache.StoreAt(pkt.SequenceNumber, raw, start.UnixNano())
	if t.levelID != 0 {
		if ext := pkt.GetExtension(t.levelID); len(ext) > 0 {
			v := uint32(127-ext[0]&0x7f) + 1
			for cur := t.loudest.Load(); v > cur && !t.loudest.CompareAndSwap(cur, v); cur = t.loudest.Load() {
			}
		}
	}
	if t.muted.Load() || len(pkt.Payload) == 0 {
		return
	}
	key := t.kind == bus.KindVideo && isKeyframe(t.codec, pkt.Payload)
	sinks := *t.sinks.Load()
	if len(sinks) == 0 {
		return
	}
	// Each sink encrypts and writes synchronously; the batch turns the
	// writes of this fan-out into a few sendmmsg calls.
	if t.batch != nil {
		t.batch.BeginBatch()
	}
	for _, k := range sinks {
		if d, ok := k.(*downTrack); ok {
			d.forward(t, l.idx, raw, pkt, key, start) // a direct call for the common sink
			continue
		}
		k.forward(t, l.idx, raw, pkt, key, start)
	}
	if t.batch != nil {
		t.batch.EndBatch()
	}
	if t.rtx != nil {
		t.rtx.fanned.Add(uint64(len(sinks)))
	}
	if t.fwdTime != nil {
		t.fwdTime.Observe(time.Since(start).Seconds())
	}
}
