package sfu

import (
	"encoding/binary"
	"errors"

	"github.com/pion/rtcp"
)

// Relay feedback payloads are RTCP. Besides PLI and FIR (a keyframe
// request for the packet's stream), a destination node sends its demand
// for a stream as an RTCP APP packet (RFC 3550 section 6.7) named "RTCD"
// whose four data bytes start with the bitmask of the simulcast layers it
// needs (bit 0 the lowest; 0: it needs the stream no more):
//
//	 0                   1                   2                   3
//	|V=2|P|  sub=0  |   PT=204      |          length=3             |
//	|                           SSRC = 0                            |
//	|                        name = "RTCD"                          |
//	|  layer mask   |                   reserved                    |

const (
	rtcpAPP       = 204
	demandName    = "RTCD"
	demandPktSize = 16
)

var errFeedback = errors.New("sfu: bad relay feedback")

// feedback is what a relay feedback payload asks for.
type feedback struct {
	demand   bool
	layers   uint8
	keyframe bool
}

// demandPacket writes a demand for layers into b (16 bytes).
func demandPacket(b *[demandPktSize]byte, layers uint8) []byte {
	b[0], b[1] = 0x80, rtcpAPP
	binary.BigEndian.PutUint16(b[2:4], 3)
	binary.BigEndian.PutUint32(b[4:8], 0)
	copy(b[8:12], demandName)
	b[12], b[13], b[14], b[15] = layers, 0, 0, 0
	return b[:]
}

// parseFeedback reads a compound RTCP payload. It never panics.
func parseFeedback(b []byte) (feedback, error) {
	var fb feedback
	if len(b) < 4 || len(b) > maxPacketBuffer {
		return fb, errFeedback
	}
	for len(b) >= 4 {
		size := (int(binary.BigEndian.Uint16(b[2:4])) + 1) * 4
		if b[0]>>6 != 2 || size > len(b) {
			return fb, errFeedback
		}
		pkt := b[:size]
		b = b[size:]
		if pkt[1] == rtcpAPP {
			if size != demandPktSize || string(pkt[8:12]) != demandName || pkt[12]>>maxLayers != 0 {
				return fb, errFeedback
			}
			fb.demand, fb.layers = true, pkt[12]
			continue
		}
		ps, err := rtcp.Unmarshal(pkt)
		if err != nil {
			return fb, errFeedback
		}
		for _, p := range ps {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				fb.keyframe = true
			}
		}
	}
	if len(b) != 0 || (!fb.demand && !fb.keyframe) {
		return fb, errFeedback
	}
	return fb, nil
}
