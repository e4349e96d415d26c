package sfu

import (
	"testing"

	"github.com/pion/rtcp"
)

func TestFeedbackRoundTrip(t *testing.T) {
	var b [demandPktSize]byte
	fb, err := parseFeedback(demandPacket(&b, 0b101))
	if err != nil || !fb.demand || fb.layers != 0b101 || fb.keyframe {
		t.Fatalf("demand: %+v %v", fb, err)
	}
	pli, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: 3}})
	if fb, err := parseFeedback(pli); err != nil || !fb.keyframe || fb.demand {
		t.Fatalf("pli: %+v %v", fb, err)
	}
	var rb [reportPktSize]byte
	if fb, err := parseFeedback(reportPacket(&rb, 0b011, [maxLayers]uint32{150_000, 500_000, 0})); err != nil || !fb.report ||
		fb.usable != 0b011 || fb.bitrates[1] != 500_000 {
		t.Fatalf("report: %+v %v", fb, err)
	}
	bad := demandPacket(&b, 0b1000) // no fourth layer
	if _, err := parseFeedback(bad); err == nil {
		t.Fatal("a demand for layer 3 parsed")
	}
	for _, in := range [][]byte{nil, {0x80}, {0x80, 204, 0, 9, 0, 0, 0, 0}, pli[:len(pli)-1]} {
		if _, err := parseFeedback(in); err == nil {
			t.Fatalf("%x parsed", in)
		}
	}
}

// FuzzFeedback: relay feedback comes from other nodes; it must never
// crash the parser.
func FuzzFeedback(f *testing.F) {
	var b [demandPktSize]byte
	f.Add(demandPacket(&b, 1))
	pli, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: 3}, &rtcp.FullIntraRequest{MediaSSRC: 4}})
	f.Add(pli)
	f.Add([]byte{0x80, 204, 0, 3})
	var rb [reportPktSize]byte
	f.Add(reportPacket(&rb, 0b111, [maxLayers]uint32{1, 2, 3}))
	f.Fuzz(func(t *testing.T, in []byte) {
		fb, err := parseFeedback(in)
		if err == nil && !fb.demand && !fb.keyframe && !fb.report {
			t.Fatal("accepted feedback that asks for nothing")
		}
		if fb.layers>>maxLayers != 0 || fb.usable>>maxLayers != 0 {
			t.Fatalf("layers %b", fb.layers)
		}
	})
}
