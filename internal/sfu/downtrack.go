package sfu

import (
	"encoding/binary"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/internal/metrics"
	"github.com/rtcloud/rtcloud/internal/rtpbuf"
)

// autoLayer is the wanted layer of a subscription that follows bandwidth.
const autoLayer = -1

// downTrack is what one subscriber receives on one transceiver (mid). It is
// a webrtc.TrackLocal bound to that transceiver's sender; its source can be
// switched between published tracks and simulcast layers while SSRC,
// sequence numbers and timestamps stay one continuous stream.
//
// Lock order: downTrack.mu is taken last; nothing that takes another lock
// or calls out of the package runs while it is held, except the write to
// the bound TrackLocalWriter.
type downTrack struct {
	id       string
	streamID string
	kind     webrtc.RTPCodecType
	mid      string
	// onLayer is called (without locks held) when the forwarded layer
	// changes on a simulcast source.
	onLayer  func(d *downTrack, layer int)
	bytesOut *atomic.Uint64 // node-wide counter, may be nil
	m        *metrics.SFU   // may be nil (unit tests)
	video    bool

	mu sync.Mutex
	forwarder
	writer webrtc.TrackLocalWriter
	ssrc   uint32
	codecs []webrtc.RTPCodecParameters
	pt     uint8
	hdr    rtp.Header
	ext    [4]rtp.Extension // capacity for extensions interceptors add
	twcc   [2]byte          // d.hdr's transport-wide sequence number

	// Transport-wide congestion control: the negotiated extension id (0:
	// not negotiated) and the session's counter (nil in unit tests).
	twccID       uint8
	transportSeq *atomic.Uint32

	sentPackets uint64
	octets      uint64 // payload bytes sent (for sender reports)
	dropped     uint64

	// Retransmissions (rtx.go): the node's budget (nil in unit tests) and
	// this track's own state, outside d.mu.
	rtx          *rtxBudget
	rtxs         rtxState
	resent       atomic.Uint64
	resentOctets atomic.Uint64
}

func newDownTrack(id, streamID, mid string, kind webrtc.RTPCodecType) *downTrack {
	return &downTrack{
		id: id, streamID: streamID, mid: mid, kind: kind, video: kind == webrtc.RTPCodecTypeVideo,
		forwarder: newForwarder(),
	}
}

// ID, RID, StreamID and Kind implement webrtc.TrackLocal.
func (d *downTrack) ID() string                { return d.id }
func (d *downTrack) RID() string               { return "" }
func (d *downTrack) StreamID() string          { return d.streamID }
func (d *downTrack) Kind() webrtc.RTPCodecType { return d.kind }

// Bind implements webrtc.TrackLocal: it records the negotiated SSRC,
// codecs and the writer.
func (d *downTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.codecs = ctx.CodecParameters()
	if len(d.codecs) == 0 {
		return webrtc.RTPCodecParameters{}, ErrCodec
	}
	d.ssrc = uint32(ctx.SSRC())
	d.writer = ctx.WriteStream()
	d.twccID = 0
	for _, e := range ctx.HeaderExtensions() {
		if e.URI == sdp.TransportCCURI && e.ID > 0 && e.ID < 15 {
			d.twccID = uint8(e.ID)
		}
	}
	c := d.codecs[0]
	if d.src != nil {
		if m, ok := d.codecFor(d.src.mime); ok {
			c = m
		}
	}
	d.pt = uint8(c.PayloadType)
	return c, nil
}

// Unbind implements webrtc.TrackLocal.
func (d *downTrack) Unbind(webrtc.TrackLocalContext) error {
	d.mu.Lock()
	d.writer = nil
	d.mu.Unlock()
	return nil
}

func (d *downTrack) codecFor(mime string) (webrtc.RTPCodecParameters, bool) {
	for _, c := range d.codecs {
		if strings.EqualFold(c.MimeType, mime) {
			return c, true
		}
	}
	return webrtc.RTPCodecParameters{}, false
}

// source returns the published track being forwarded, or nil.
func (d *downTrack) source() *upTrack {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.src
}

// setSource makes d forward up (nil stops forwarding) starting with layer
// want. The next packet forwarded continues d's sequence numbers.
func (d *downTrack) setSource(up *upTrack, want int) error {
	d.mu.Lock()
	if up != nil && d.codecs != nil {
		c, ok := d.codecFor(up.mime)
		if !ok {
			d.mu.Unlock()
			return ErrCodec
		}
		d.pt = uint8(c.PayloadType)
	}
	old := d.src
	target := d.switchTo(up, want, time.Now())
	d.mu.Unlock()
	if old != nil && old != up {
		old.removeSink(d)
	}
	if up != nil {
		up.addSink(d)
		up.requestKeyframe(target)
	}
	return nil
}

// keyframeWaitLimit is how long a subscriber with nothing to forward
// waits for a keyframe of its layer before taking the lowest one instead:
// a publisher short of CPU may keep a layer alive but starved, sending
// too little to ever answer a keyframe request.
const keyframeWaitLimit = 1500 * time.Millisecond

// setWant changes the wanted layer (autoLayer to follow bandwidth).
func (d *downTrack) setWant(want int) {
	d.mu.Lock()
	d.want = want
	d.mu.Unlock()
	d.retarget()
}

// retarget re-evaluates the target layer and asks for a keyframe when a
// switch is pending.
func (d *downTrack) retarget() {
	d.mu.Lock()
	src := d.src
	if src == nil {
		d.mu.Unlock()
		return
	}
	d.target = d.pickTarget(time.Now())
	target, pending := d.target, d.target != d.current
	d.mu.Unlock()
	if pending {
		src.requestKeyframe(target)
	}
}

// forward writes one packet of layer idx of src, if d forwards that layer
// (the forwarding core decides). now is when the fan-out read the packet:
// one clock read per packet, not one per subscriber.
func (d *downTrack) forward(src *upTrack, idx int, _ []byte, pkt *rtp.Packet, key bool, now time.Time) {
	d.mu.Lock()
	if d.writer == nil {
		d.mu.Unlock()
		return
	}
	verdict, changed, needKey := admitSend, -1, -1
	if !d.steady(src, idx) {
		verdict, changed, needKey = d.admit(src, idx, pkt, key, now)
	}
	switch verdict {
	case admitIgnore:
		d.mu.Unlock()
		return
	case admitDrop:
		d.dropped++
		if d.m != nil {
			d.m.Dropped.Inc()
		}
		d.mu.Unlock()
		if needKey >= 0 {
			src.requestKeyframe(needKey)
		}
		return
	}
	d.write(pkt, now)
	d.mu.Unlock()
	if changed >= 0 && src.simulcst {
		if d.m != nil {
			d.m.LayerSwitches.Inc()
		}
		if d.onLayer != nil {
			d.onLayer(d, changed)
		}
	}
}

// write rewrites pkt's header into d.hdr and sends it; d.mu is held. A
// packet the transport refuses is counted as dropped and false returned.
func (d *downTrack) write(pkt *rtp.Packet, now time.Time) bool {
	d.hdr = pkt.Header
	d.hdr.SSRC = d.ssrc
	d.hdr.PayloadType = d.pt
	d.hdr.SequenceNumber, d.hdr.Timestamp = d.rewrite(pkt)
	d.hdr.Extension = false
	d.hdr.Extensions = d.ext[:0]
	d.hdr.ExtensionProfile = 0
	d.hdr.Padding = false
	d.hdr.PaddingSize = 0
	stampTransportSeq(&d.hdr, d.twccID, d.transportSeq, &d.twcc)
	seq, ts := d.hdr.SequenceNumber, d.hdr.Timestamp // the writer may change d.hdr
	n, err := d.writer.WriteRTP(&d.hdr, pkt.Payload)
	if err != nil {
		d.dropped++
		if d.m != nil {
			d.m.Dropped.Inc()
		}
		return false
	}
	d.sent(seq, ts, now)
	d.sentPackets++
	d.octets += uint64(len(pkt.Payload))
	if d.bytesOut != nil {
		d.bytesOut.Add(uint64(n))
	}
	if d.m != nil {
		d.m.Out.Add(d.video, n)
	}
	return true
}

// stampTransportSeq gives h the next transport-wide sequence number from
// seq under extension id (nothing when id is 0 or seq nil), written into
// buf, which must stay untouched until h is sent. Every packet to a
// subscriber, fresh or resent, carries one, so its TWCC feedback covers
// all of them.
func stampTransportSeq(h *rtp.Header, id uint8, seq *atomic.Uint32, buf *[2]byte) {
	if id == 0 || seq == nil {
		return
	}
	binary.BigEndian.PutUint16(buf[:], uint16(seq.Add(1)-1))
	_ = h.SetExtension(id, buf[:]) // a one-byte id with 2 bytes cannot fail
}

// onRTCP handles one RTCP packet from the subscriber about this track.
func (d *downTrack) onRTCP(p rtcp.Packet, now time.Time) {
	switch p := p.(type) {
	case *rtcp.TransportLayerNack:
		rtpbuf.ForEachNACK(p.Nacks, d.retransmit)
	case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
		d.mu.Lock()
		src, cur := d.src, d.current
		if cur < 0 {
			cur = d.target
		}
		d.mu.Unlock()
		if src != nil {
			src.requestKeyframe(cur)
		}
	default:
		d.bw.onRTCP(p, now)
	}
}

// RTCP packet types the node reads from raw bytes.
const (
	rtcpRTPFB = 205 // transport layer feedback (NACK, TWCC)
)

// rtcpLoop reads the subscriber's RTCP for this sender until it stops. It
// reuses one buffer; TWCC feedback, the most frequent packet, is counted
// from the bytes and only the rarer ones (NACK, PLI, receiver reports)
// are unmarshalled.
func (d *downTrack) rtcpLoop(s *webrtc.RTPSender) {
	buf := make([]byte, maxPacketBuffer)
	for {
		n, _, err := s.Read(buf)
		if err != nil {
			return
		}
		d.onRTCPBytes(buf[:n], time.Now())
	}
}

// onRTCPBytes handles one compound RTCP packet from the subscriber.
func (d *downTrack) onRTCPBytes(b []byte, now time.Time) {
	for len(b) >= 4 {
		size := (int(binary.BigEndian.Uint16(b[2:4])) + 1) * 4
		if size > len(b) {
			return
		}
		pkt := b[:size]
		b = b[size:]
		if received, lost, ok := twccCounts(pkt); ok {
			d.bw.onTWCC(received, lost, now)
			continue
		}
		ps, err := rtcp.Unmarshal(pkt)
		if err != nil {
			continue
		}
		for _, p := range ps {
			d.onRTCP(p, now)
		}
	}
}

// resync makes a video down track wait for the source's next keyframe
// and asks for it: packets its transport dropped left the subscriber's
// decoder without references. Forwarding resumes on the keyframe with
// sequence numbers continuing from the last packet sent.
func (d *downTrack) resync() {
	d.mu.Lock()
	target, ok := d.resyncing(time.Now())
	src := d.src
	d.mu.Unlock()
	if ok {
		src.requestKeyframe(target)
	}
}

// resume prepares d for its source coming back from a mute, during which
// the node forwarded nothing: the next packet continues d's sequence
// numbers (timestamps advanced by the time that passed), and video waits
// for a keyframe, as the subscriber's decoder has no references for what
// the publisher sent meanwhile.
func (d *downTrack) resume() {
	d.mu.Lock()
	d.rebase = true
	d.mu.Unlock()
	d.resync()
}
