package client

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// RemoteTrack is one received track (one subscription, bound to one mid)
// and its counters. Counters are safe to read while packets arrive.
type RemoteTrack struct {
	mid     string
	trackID string
	kind    string

	mu          sync.Mutex // guards the trackers; held per packet by the reader
	rtpSeq      seqTracker
	counter     seqTracker
	counterLost uint64 // missing counters of finished layer segments
	keySeen     bool
	lastKeyTS   uint32 // RTP timestamp of the last keyframe counted

	mime          atomic.Pointer[string]
	ssrc          atomic.Uint32
	packets       atomic.Uint64
	bytes         atomic.Uint64
	gaps          atomic.Uint64
	counterGaps   atomic.Uint64
	duplicates    atomic.Uint64
	frames        atomic.Uint64
	keyframes     atomic.Uint64
	layer         atomic.Int32 // written under mu
	layerSwitches atomic.Uint64
	noTrailer     atomic.Uint64
	firstNs       atomic.Int64
	lastNs        atomic.Int64
	serverLayer   atomic.Pointer[string]
	latency       Histogram

	peer    *peer                    // set when bound to a slot
	reader  atomic.Pointer[rtpQueue] // set by the first ReadRTP
	readMu  sync.Mutex               // creates reader once
	endOnce sync.Once
	ended   chan struct{} // closed when the subscription ends
	onRTP   atomic.Pointer[func([]byte)]
}

// OnRTP sets fn to be called with every received RTP packet of the track
// (header and payload, decrypted), on the track's read goroutine; the
// slice is reused after fn returns. nil removes it.
func (t *RemoteTrack) OnRTP(fn func(pkt []byte)) {
	if fn == nil {
		t.onRTP.Store(nil)
		return
	}
	t.onRTP.Store(&fn)
}

func newRemoteTrack(mid, trackID, kind string) *RemoteTrack {
	t := &RemoteTrack{mid: mid, trackID: trackID, kind: kind, ended: make(chan struct{})}
	t.layer.Store(-1)
	return t
}

// MID is the mid of the transceiver carrying the track.
func (t *RemoteTrack) MID() string { return t.mid }

// TrackID is the published track's id ("" for a WHEP viewer).
func (t *RemoteTrack) TrackID() string { return t.trackID }

// Kind is "audio" or "video".
func (t *RemoteTrack) Kind() string { return t.kind }

// Latency is the histogram of send-to-receive delays of synthetic packets.
func (t *RemoteTrack) Latency() *Histogram { return &t.latency }

// RecvStats is a snapshot of a RemoteTrack's counters.
type RecvStats struct {
	MimeType string
	SSRC     uint32
	Packets  uint64 // unique packets (duplicates not counted)
	Bytes    uint64
	// Gaps is the number of RTP sequence numbers between the first and the
	// highest received that are missing; a packet recovered by NACK fills
	// its gap.
	Gaps uint64
	// CounterGaps counts missing trailer counters within each run of one
	// simulcast layer (0 for packets without a trailer).
	CounterGaps   uint64
	Duplicates    uint64
	Frames        uint64 // packets with the marker bit (video), packets (audio)
	Keyframes     uint64
	Layer         int // the trailer layer of the last packet, -1 before any
	LayerSwitches uint64
	// ServerLayer is the layer of the last layer_changed event.
	ServerLayer string
	NoTrailer   uint64 // packets without a synthetic trailer
	// ReadDrops counts packets ReadRTP never returned because the
	// application read too slowly.
	ReadDrops   uint64
	First, Last time.Time
}

// Stats returns the current counters.
func (t *RemoteTrack) Stats() RecvStats {
	s := RecvStats{
		SSRC: t.ssrc.Load(), Packets: t.packets.Load(), Bytes: t.bytes.Load(),
		Gaps: t.gaps.Load(), CounterGaps: t.counterGaps.Load(), Duplicates: t.duplicates.Load(),
		Frames: t.frames.Load(), Keyframes: t.keyframes.Load(), Layer: int(t.layer.Load()),
		LayerSwitches: t.layerSwitches.Load(), NoTrailer: t.noTrailer.Load(), ReadDrops: t.readDrops(),
	}
	if m := t.mime.Load(); m != nil {
		s.MimeType = *m
	}
	if l := t.serverLayer.Load(); l != nil {
		s.ServerLayer = *l
	}
	if ns := t.firstNs.Load(); ns != 0 {
		s.First = time.Unix(0, ns)
	}
	if ns := t.lastNs.Load(); ns != 0 {
		s.Last = time.Unix(0, ns)
	}
	return s
}

type keyframeFunc func([]byte) bool

// handle accounts one raw RTP packet received at now (ns).
func (t *RemoteTrack) handle(b []byte, now int64, isKey keyframeFunc) {
	h, ok := parseRTP(b)
	if !ok {
		return
	}
	if len(h.payload) == 0 {
		return // padding only (bandwidth probe)
	}
	t.mu.Lock()
	if !t.rtpSeq.push(t.rtpSeq.unwrap16(h.seq)) {
		t.duplicates.Store(t.rtpSeq.dups)
		t.mu.Unlock()
		return
	}
	t.gaps.Store(t.rtpSeq.missing())
	// A keyframe is counted once per RTP timestamp: an H.264 keyframe
	// spans several key packets (parameter sets, then the IDR slice).
	key := isKey != nil && isKey(h.payload) && (!t.keySeen || h.ts != t.lastKeyTS)
	if key {
		t.keySeen, t.lastKeyTS = true, h.ts
	}
	tr, hasTrailer := parseTrailer(h.payload)
	if hasTrailer {
		if last := t.layer.Load(); int32(tr.Layer) != last {
			if last >= 0 {
				t.counterLost += t.counter.missing()
				t.layerSwitches.Add(1)
			}
			t.counter = seqTracker{}
			t.layer.Store(int32(tr.Layer))
		}
		t.counter.push(t.counter.unwrap32(tr.Counter))
		t.counterGaps.Store(t.counterLost + t.counter.missing())
	}
	t.mu.Unlock()

	if t.firstNs.Load() == 0 {
		t.firstNs.Store(now)
		t.ssrc.Store(h.ssrc)
	}
	t.lastNs.Store(now)
	t.packets.Add(1)
	t.bytes.Add(uint64(len(b)))
	if isKey == nil || h.marker {
		t.frames.Add(1)
	}
	if key {
		t.keyframes.Add(1)
	}
	if q := t.reader.Load(); q != nil {
		q.push(b)
	}
	if hasTrailer {
		t.latency.Record(time.Duration(now - tr.SentNs))
	} else {
		t.noTrailer.Add(1)
	}
}

// recvSlot is a receiving transceiver: its mid and the subscription it
// currently carries (rebinding a mid swaps the RemoteTrack).
type recvSlot struct {
	mid  string
	kind string
	cur  atomic.Pointer[RemoteTrack]
	free atomic.Bool // unsubscribed; may be rebound with "subscribe"
}

func keyframeDetector(mime string) keyframeFunc {
	switch strings.ToLower(mime) {
	case strings.ToLower(webrtc.MimeTypeVP8):
		return vp8Keyframe
	case strings.ToLower(webrtc.MimeTypeH264):
		return h264Keyframe
	}
	return nil
}

// onTrack runs the read loop of a received track on the goroutine Pion
// started for the handler; the peer waits for it on close.
func (p *peer) onTrack(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	mid := ""
	for _, x := range p.pc.GetTransceivers() {
		if x.Receiver() == recv {
			mid = x.Mid()
			break
		}
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	slot := p.slots[mid]
	if slot == nil {
		slot = &recvSlot{mid: mid, kind: tr.Kind().String()}
		placeholder := newRemoteTrack(mid, "", slot.kind)
		placeholder.peer = p
		slot.cur.Store(placeholder)
		p.slots[mid] = slot
	}
	p.wg.Add(1)
	p.mu.Unlock()
	defer p.wg.Done()
	defer func() { // the PeerConnection closed: the subscription ends
		if t := slot.cur.Load(); t != nil {
			t.end()
		}
	}()

	mime := tr.Codec().MimeType
	isKey := keyframeDetector(mime)
	if tr.Kind() == webrtc.RTPCodecTypeVideo && isKey == nil {
		isKey = func([]byte) bool { return false }
	}
	buf := make([]byte, 1500)
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		t := slot.cur.Load()
		if t == nil {
			continue
		}
		if t.mime.Load() == nil {
			t.mime.Store(&mime)
		}
		t.handle(buf[:n], time.Now().UnixNano(), isKey)
		if fn := t.onRTP.Load(); fn != nil {
			(*fn)(buf[:n])
		}
	}
}

// addRecv adds a recvonly transceiver of kind and a slot for it; the mid
// is known once the offer is set locally, see bindSlots.
func (p *peer) addRecv(kind webrtc.RTPCodecType) (*webrtc.RTPTransceiver, error) {
	return p.pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
}

// setSlotTrack makes t the subscription its mid carries.
func (p *peer) setSlotTrack(t *RemoteTrack) {
	p.mu.Lock()
	slot := p.slots[t.mid]
	if slot == nil {
		slot = &recvSlot{mid: t.mid, kind: t.kind}
		p.slots[t.mid] = slot
	}
	p.mu.Unlock()
	t.peer = p
	if old := slot.cur.Swap(t); old != nil && old != t {
		old.end()
	}
	slot.free.Store(false)
}

// freeSlot finds an unsubscribed slot of kind and takes it.
func (p *peer) freeSlot(kind string) *recvSlot {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.slots {
		if s.kind == kind && s.free.CompareAndSwap(true, false) {
			return s
		}
	}
	return nil
}

// releaseSlots frees the slots of subscriptions that did not happen.
func (p *peer) releaseSlots(subs []bus.Subscription) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range subs {
		if slot := p.slots[s.MID]; slot != nil {
			slot.free.Store(true)
		}
	}
}

// remoteTracks lists the current subscriptions.
func (p *peer) remoteTracks() []*RemoteTrack {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*RemoteTrack, 0, len(p.slots))
	for _, s := range p.slots {
		if t := s.cur.Load(); t != nil && !s.free.Load() {
			out = append(out, t)
		}
	}
	return out
}
