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

//
// A feeder tells each destination, every 500 ms, the state of the
// track's layers at the origin, so that layer choice there follows the
// publisher as it does at the origin: an APP packet named "RTCL" whose
// data are the bit mask of the usable layers (present and not paused),
// three reserved bytes, then each layer's bitrate in bits per second
// (three 32-bit words, lowest layer first).

const (
	rtcpAPP       = 204
	demandName    = "RTCD"
	demandPktSize = 16
	reportName    = "RTCL"
	reportPktSize = 28
)

var errFeedback = errors.New("sfu: bad relay feedback")

// feedback is what a relay feedback payload asks for or tells.
type feedback struct {
	demand   bool
	layers   uint8
	keyframe bool
	// report: the origin's usable layers and their bitrates.
	report   bool
	usable   uint8
	bitrates [maxLayers]uint32
}

// reportPacket writes a layer report into b.
func reportPacket(b *[reportPktSize]byte, usable uint8, bitrates [maxLayers]uint32) []byte {
	b[0], b[1] = 0x80, rtcpAPP
	binary.BigEndian.PutUint16(b[2:4], reportPktSize/4-1)
	binary.BigEndian.PutUint32(b[4:8], 0)
	copy(b[8:12], reportName)
	b[12], b[13], b[14], b[15] = usable, 0, 0, 0
	for i, r := range bitrates {
		binary.BigEndian.PutUint32(b[16+4*i:], r)
	}
	return b[:]
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
			switch {
			case size == demandPktSize && string(pkt[8:12]) == demandName && pkt[12]>>maxLayers == 0:
				fb.demand, fb.layers = true, pkt[12]
			case size == reportPktSize && string(pkt[8:12]) == reportName && pkt[12]>>maxLayers == 0:
				fb.report, fb.usable = true, pkt[12]
				for i := range fb.bitrates {
					fb.bitrates[i] = binary.BigEndian.Uint32(pkt[16+4*i:])
				}
			default:
				return fb, errFeedback
			}
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
	if len(b) != 0 || (!fb.demand && !fb.keyframe && !fb.report) {
		return fb, errFeedback
	}
	return fb, nil
}
