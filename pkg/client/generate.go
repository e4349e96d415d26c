package client

import (
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Resolutions written in synthetic VP8 keyframes, per layer.
var layerSizes = [][2]uint16{{320, 180}, {640, 360}, {1280, 720}}

// H.264 parameter sets (constrained baseline 3.1) sent before each IDR.
var (
	h264SPS = []byte{0x67, 0x42, 0xe0, 0x1f, 0x8c, 0x8d, 0x40, 0x50, 0x1e, 0xd0, 0x0f, 0x08, 0x84, 0x6a}
	h264PPS = []byte{0x68, 0xce, 0x3c, 0x80}
)

// layerSender writes the synthetic packets of one encoding. Only the
// generator goroutine of its track touches the unexported state; the
// counters are atomics read by Stats.
type layerSender struct {
	track         *webrtc.TrackLocalStaticRTP
	spec          *TrackSpec
	layer         uint8
	rid           string
	bytesPerFrame int

	pkt       rtp.Packet
	buf       []byte
	seq       uint16
	ts        uint32
	counter   uint32
	pictureID uint16
	tl0       uint8
	sinceKey  int

	keyReq                                         atomic.Bool
	packets, bytes, frames, keyframes, plis, nacks atomic.Uint64
}

func newLayerSender(tr *webrtc.TrackLocalStaticRTP, spec *TrackSpec, layer uint8, rid string, kbps int) *layerSender {
	l := &layerSender{track: tr, spec: spec, layer: layer, rid: rid,
		bytesPerFrame: kbps * 1000 / 8 / spec.FPS,
		buf:           make([]byte, max(spec.PacketPayload, 64)+64),
		seq:           uint16(rand.Uint32()), ts: rand.Uint32(), pictureID: uint16(rand.Uint32()) & 0x7fff,
		sinceKey: spec.KeyframeFrames,
	}
	l.pkt.Header = rtp.Header{Version: 2}
	return l
}

// setExtensions prepares the header extensions written on every packet:
// mid, rid (simulcast) and audio level (audio), as negotiated.
func (l *layerSender) setExtensions(ids map[string]uint8, mid string) {
	h := &l.pkt.Header
	if id := ids[uriMid]; id != 0 && mid != "" {
		_ = h.SetExtension(id, []byte(mid))
	}
	if id := ids[uriRID]; id != 0 && l.rid != "" {
		_ = h.SetExtension(id, []byte(l.rid))
	}
	if id := ids[uriAudioLevel]; id != 0 && l.spec.Codec == CodecOpus {
		lvl := byte(min(max(l.spec.AudioLevel, 0), 127))
		if lvl < 127 {
			lvl |= 0x80 // voice activity
		}
		_ = h.SetExtension(id, []byte{lvl})
	}
}

// generate sends the frames of a synthetic track until the peer stops.
func (p *peer) generate(t *LocalTrack) {
	select {
	case <-p.connected:
	case <-p.stop:
		return
	}
	interval := time.Second / time.Duration(t.spec.FPS)
	if t.kind == webrtc.RTPCodecTypeAudio {
		interval = 20 * time.Millisecond
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.stopped:
			return
		case <-tick.C:
		}
		if t.paused.Load() {
			continue
		}
		for _, l := range t.layers {
			if l.sendFrame() != nil {
				return
			}
		}
	}
}

func (l *layerSender) sendFrame() error {
	switch l.spec.Codec {
	case CodecOpus:
		l.buf[0] = 0x78 // TOC: hybrid fullband 20 ms, mono
		err := l.write(max(l.spec.AudioBytes, 1+trailerSize), false, 0)
		l.ts += 960
		l.frames.Add(1)
		return err
	case CodecH264:
		return l.sendVideo(l.writeH264)
	default:
		return l.sendVideo(l.writeVP8)
	}
}

// sendVideo splits one frame into packets of equal size.
func (l *layerSender) sendVideo(write func(key bool, i, n, size int) error) error {
	key := l.keyReq.Swap(false) || l.sinceKey >= l.spec.KeyframeFrames
	size := l.bytesPerFrame
	if key {
		size *= 2
		l.sinceKey = 0
		l.keyframes.Add(1)
	}
	l.sinceKey++
	n := (size + l.spec.PacketPayload - 1) / l.spec.PacketPayload
	n = max(n, 1)
	for i := range n {
		if err := write(key, i, n, size/n); err != nil {
			return err
		}
	}
	l.ts += uint32(90000 / l.spec.FPS)
	l.pictureID = (l.pictureID + 1) & 0x7fff
	l.tl0++
	l.frames.Add(1)
	return nil
}

func (l *layerSender) writeVP8(key bool, i, n, size int) error {
	b := l.buf
	b[0] = 0x80 // X
	if i == 0 {
		b[0] |= 0x10 // S, partition 0
	}
	b[1] = 0xe0 // I, L, T
	binary.BigEndian.PutUint16(b[2:], 0x8000|l.pictureID)
	b[4] = l.tl0
	b[5] = 0x20 // TID 0, Y
	hdr := 6
	if i == 0 {
		tag := uint32(0x10 | 10<<5) // show_frame, first partition size 10
		if !key {
			tag |= 1 // interframe
		}
		b[6], b[7], b[8] = byte(tag), byte(tag>>8), byte(tag>>16)
		hdr = 9
		if key {
			wh := layerSizes[min(int(l.layer), len(layerSizes)-1)]
			b[9], b[10], b[11] = 0x9d, 0x01, 0x2a
			binary.LittleEndian.PutUint16(b[12:], wh[0])
			binary.LittleEndian.PutUint16(b[14:], wh[1])
			hdr = 16
		}
	}
	return l.write(max(size, hdr+trailerSize), i == n-1, flags(key, i))
}

func (l *layerSender) writeH264(key bool, i, n, size int) error {
	b := l.buf
	if key && i == 0 {
		// STAP-A with SPS and PPS, as its own packet.
		b[0] = 0x78
		k := 1
		for _, nal := range [][]byte{h264SPS, h264PPS} {
			binary.BigEndian.PutUint16(b[k:], uint16(len(nal)))
			k += 2 + copy(b[k+2:], nal)
		}
		if err := l.write(k+trailerSize, false, flags(key, 0)); err != nil {
			return err
		}
	}
	nalType := byte(1)
	if key {
		nalType = 5
	}
	if n == 1 {
		b[0] = 0x60 | nalType
		return l.write(max(size, 1+trailerSize), true, flags(key, i))
	}
	b[0] = 0x60 | 28 // FU-A
	b[1] = nalType
	if i == 0 {
		b[1] |= 0x80
	}
	if i == n-1 {
		b[1] |= 0x40
	}
	return l.write(max(size, 2+trailerSize), i == n-1, flags(key, i))
}

func flags(key bool, i int) uint8 {
	var f uint8
	if key {
		f |= flagKeyframe
	}
	if i == 0 {
		f |= flagFrameStart
	}
	return f
}

// write sends l.buf[:size] (codec header already in place) with the
// trailer at its end.
func (l *layerSender) write(size int, marker bool, fl uint8) error {
	size = min(size, len(l.buf))
	putTrailer(l.buf[size-trailerSize:size], trailer{Layer: l.layer, Flags: fl, Counter: l.counter, SentNs: time.Now().UnixNano()})
	l.counter++
	l.pkt.Header.SequenceNumber = l.seq
	l.pkt.Header.Timestamp = l.ts
	l.pkt.Header.Marker = marker
	l.pkt.Payload = l.buf[:size]
	l.seq++
	if err := l.track.WriteRTP(&l.pkt); err != nil {
		// A closed transport ends the generator; other errors are transient.
		if isClosedErr(err) {
			return err
		}
	}
	l.packets.Add(1)
	l.bytes.Add(uint64(size))
	return nil
}
