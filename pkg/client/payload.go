package client

import (
	"encoding/binary"
)

// Every synthetic packet ends with a trailer a receiver reads without
// parsing the codec payload:
//
//	magic "rt" (2) | layer (1) | flags (1) | counter (4) | send time ns (8)
//
// Layer is the simulcast layer index (0 low, 1 medium, 2 high; 0 for a
// single layer). Counter increments by one per packet of that layer.
const (
	trailerSize  = 16
	trailerMagic = 0x7274 // "rt"
)

// trailer flags.
const (
	flagKeyframe   = 1 << 0 // the packet belongs to a keyframe
	flagFrameStart = 1 << 1 // the first packet of a frame
)

// trailer is the decoded trailer of a synthetic packet.
type trailer struct {
	Layer   uint8
	Flags   uint8
	Counter uint32
	SentNs  int64
}

func putTrailer(b []byte, t trailer) {
	binary.BigEndian.PutUint16(b[0:], trailerMagic)
	b[2] = t.Layer
	b[3] = t.Flags
	binary.BigEndian.PutUint32(b[4:], t.Counter)
	binary.BigEndian.PutUint64(b[8:], uint64(t.SentNs))
}

// parseTrailer reads the trailer at the end of an RTP payload.
func parseTrailer(payload []byte) (trailer, bool) {
	if len(payload) < trailerSize {
		return trailer{}, false
	}
	b := payload[len(payload)-trailerSize:]
	if binary.BigEndian.Uint16(b) != trailerMagic {
		return trailer{}, false
	}
	return trailer{
		Layer:   b[2],
		Flags:   b[3],
		Counter: binary.BigEndian.Uint32(b[4:]),
		SentNs:  int64(binary.BigEndian.Uint64(b[8:])),
	}, true
}

// rtpHeader is what the receive path needs of an RTP packet.
type rtpHeader struct {
	marker  bool
	seq     uint16
	ts      uint32
	ssrc    uint32
	payload []byte
}

// parseRTP parses a raw RTP packet without allocating.
func parseRTP(b []byte) (rtpHeader, bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return rtpHeader{}, false
	}
	off := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 {
		if len(b) < off+4 {
			return rtpHeader{}, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
	}
	end := len(b)
	if b[0]&0x20 != 0 && end > 0 {
		end -= int(b[end-1])
	}
	if off > end {
		return rtpHeader{}, false
	}
	return rtpHeader{
		marker:  b[1]&0x80 != 0,
		seq:     binary.BigEndian.Uint16(b[2:]),
		ts:      binary.BigEndian.Uint32(b[4:]),
		ssrc:    binary.BigEndian.Uint32(b[8:]),
		payload: b[off:end],
	}, true
}

// vp8Keyframe reports whether a VP8 RTP payload starts a keyframe.
func vp8Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	b0 := p[0]
	if b0&0x10 == 0 || b0&0x07 != 0 { // S bit, partition 0
		return false
	}
	i := 1
	if b0&0x80 != 0 && len(p) > 1 {
		x := p[1]
		i = 2
		if x&0x80 != 0 && len(p) > i {
			if p[i]&0x80 != 0 {
				i += 2
			} else {
				i++
			}
		}
		if x&0x40 != 0 {
			i++
		}
		if x&0x30 != 0 {
			i++
		}
	}
	return len(p) > i && p[i]&0x01 == 0
}

// h264Keyframe reports whether an H.264 RTP payload carries an IDR slice
// or an SPS (the start of a keyframe).
func h264Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch t := p[0] & 0x1f; {
	case t == 5 || t == 7:
		return true
	case t == 24: // STAP-A
		for i := 1; i+2 < len(p); {
			n := int(binary.BigEndian.Uint16(p[i:]))
			if i+2 < len(p) {
				if nt := p[i+2] & 0x1f; nt == 5 || nt == 7 {
					return true
				}
			}
			i += 2 + n
		}
	case t == 28: // FU-A
		return len(p) > 1 && p[1]&0x80 != 0 && p[1]&0x1f == 5
	}
	return false
}
