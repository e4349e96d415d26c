package sfu

import "strings"

// codecKind identifies a payload format for keyframe detection.
type codecKind uint8

const (
	codecOther codecKind = iota
	codecVP8
	codecVP9
	codecH264
)

func codecOf(mime string) codecKind {
	switch strings.ToLower(mime) {
	case "video/vp8":
		return codecVP8
	case "video/vp9":
		return codecVP9
	case "video/h264":
		return codecH264
	}
	return codecOther
}

// isKeyframe reports whether an RTP payload starts (or carries) a
// keyframe. It never panics on short or malformed payloads.
func isKeyframe(c codecKind, p []byte) bool {
	switch c {
	case codecVP8:
		return vp8Keyframe(p)
	case codecVP9:
		return vp9Keyframe(p)
	case codecH264:
		return h264Keyframe(p)
	}
	return false
}

// vp8Keyframe parses the VP8 payload descriptor (RFC 7741 section 4.2)
// and the first byte of the VP8 payload header of a partition start.
func vp8Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	b0 := p[0]
	start, partID := b0&0x10 != 0, b0&0x0f
	i := 1
	if b0&0x80 != 0 { // X: extended control bits
		if len(p) < 2 {
			return false
		}
		x := p[1]
		i = 2
		if x&0x80 != 0 { // I: picture id
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 {
				i += 2
			} else {
				i++
			}
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K: TID/Y/KEYIDX
			i++
		}
	}
	if !start || partID != 0 || len(p) <= i {
		return false
	}
	return p[i]&0x01 == 0 // P bit clear: key frame
}

// vp9Keyframe reads the VP9 payload descriptor (RFC 9628): a keyframe
// packet is not inter-picture predicted (P clear) and starts a frame (B).
func vp9Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	return p[0]&0x40 == 0 && p[0]&0x08 != 0
}

// h264Keyframe looks for an IDR slice or an SPS in a single NAL unit,
// STAP-A aggregate or the first fragment of an FU-A.
func h264Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	key := func(t byte) bool { return t == 5 || t == 7 }
	switch t := p[0] & 0x1f; t {
	case 24: // STAP-A
		for i := 1; i+2 < len(p); {
			size := int(p[i])<<8 | int(p[i+1])
			if size == 0 || i+2+size > len(p) {
				return false
			}
			if key(p[i+2] & 0x1f) {
				return true
			}
			i += 2 + size
		}
		return false
	case 28: // FU-A
		return len(p) >= 2 && p[1]&0x80 != 0 && key(p[1]&0x1f)
	default:
		return key(t)
	}
}
