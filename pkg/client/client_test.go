package client

import (
	"encoding/binary"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSeqTrackerCountsGapsAndRecovery(t *testing.T) {
	var s seqTracker
	for _, v := range []uint16{65533, 65534, 65535, 0, 2, 3} { // 1 is missing, wraps
		s.push(s.unwrap16(v))
	}
	if got := s.missing(); got != 1 {
		t.Fatalf("missing = %d, want 1", got)
	}
	if !s.push(s.unwrap16(1)) { // retransmission fills the hole
		t.Fatal("late packet counted as duplicate")
	}
	if s.push(s.unwrap16(1)) {
		t.Fatal("duplicate counted as new")
	}
	if got := s.missing(); got != 0 || s.unique != 7 || s.dups != 1 {
		t.Fatalf("missing=%d unique=%d dups=%d, want 0 7 1", got, s.unique, s.dups)
	}
	// A jump beyond the window still counts its hole.
	s.push(s.unwrap16(3 + 1000))
	if got := s.missing(); got != 999 {
		t.Fatalf("missing = %d, want 999", got)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	if h.Count() != 1000 || h.Max() != time.Second {
		t.Fatalf("count=%d max=%v", h.Count(), h.Max())
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}} {
		got := h.Quantile(c.q)
		if got < c.want*96/100 || got > c.want*104/100 {
			t.Errorf("q%.2f = %v, want about %v", c.q, got, c.want)
		}
	}
	for us := uint64(0); us < 1<<20; us += 7 {
		if lo := histLower(histBucket(us)); lo > us || us-lo > us/16+1 {
			t.Fatalf("bucket of %d has lower bound %d", us, lo)
		}
	}
}

func TestTrailerRoundTripAndRTPParse(t *testing.T) {
	pkt := make([]byte, 12+8+40)
	pkt[0] = 0x90 // version 2, extension
	pkt[1] = 0x80 | 96
	binary.BigEndian.PutUint16(pkt[2:], 4242)
	binary.BigEndian.PutUint32(pkt[8:], 77)
	binary.BigEndian.PutUint16(pkt[12:], 0xBEDE)
	binary.BigEndian.PutUint16(pkt[14:], 1)
	want := trailer{Layer: 2, Flags: flagKeyframe, Counter: 99, SentNs: 123456789}
	putTrailer(pkt[len(pkt)-trailerSize:], want)
	h, ok := parseRTP(pkt)
	if !ok || h.seq != 4242 || h.ssrc != 77 || !h.marker || len(h.payload) != 40 {
		t.Fatalf("parseRTP = %+v, %v", h, ok)
	}
	got, ok := parseTrailer(h.payload)
	if !ok || got != want {
		t.Fatalf("trailer = %+v, %v; want %+v", got, ok, want)
	}
}

func TestKeyframeDetection(t *testing.T) {
	vp8Key := []byte{0x90, 0xe0, 0x80, 0x01, 0x00, 0x20, 0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a}
	vp8Delta := []byte{0x90, 0xe0, 0x80, 0x01, 0x00, 0x20, 0x51, 0x01, 0x00}
	if !vp8Keyframe(vp8Key) || vp8Keyframe(vp8Delta) {
		t.Fatal("VP8 keyframe detection")
	}
	stap := []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce}
	if !h264Keyframe(stap) || !h264Keyframe([]byte{0x7c, 0x85}) || h264Keyframe([]byte{0x41, 0x00}) {
		t.Fatal("H.264 keyframe detection")
	}
}

func FuzzParsers(f *testing.F) {
	f.Add([]byte{0x80, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x90, 0xe0})
	f.Add([]byte{0xb0, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0, 9, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, ok := parseRTP(b); ok {
			parseTrailer(h.payload)
			vp8Keyframe(h.payload)
			h264Keyframe(h.payload)
		}
		rt := newRemoteTrack("0", "", "video")
		rt.handle(b, time.Now().UnixNano(), vp8Keyframe)
	})
}

// The receive path accounts a packet without allocating.
func BenchmarkRemoteTrackHandle(b *testing.B) {
	pkt := make([]byte, 12+1100)
	pkt[0] = 0x80
	pkt[1] = 96
	rt := newRemoteTrack("0", "TR_x", "video")
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for i := 0; b.Loop(); i++ {
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		putTrailer(pkt[len(pkt)-trailerSize:], trailer{Counter: uint32(i), SentNs: time.Now().UnixNano()})
		rt.handle(pkt, time.Now().UnixNano(), vp8Keyframe)
	}
	if s := rt.Stats(); s.Gaps != 0 || s.CounterGaps != 0 {
		b.Fatalf("gaps %d/%d", s.Gaps, s.CounterGaps)
	}
}

func TestReceivePathDoesNotAllocate(t *testing.T) {
	pkt := make([]byte, 12+200)
	pkt[0] = 0x80
	rt := newRemoteTrack("0", "TR_x", "video")
	seq := uint16(0)
	allocs := testing.AllocsPerRun(1000, func() {
		binary.BigEndian.PutUint16(pkt[2:], seq)
		putTrailer(pkt[len(pkt)-trailerSize:], trailer{Counter: uint32(seq)})
		seq++
		rt.handle(pkt, 1, vp8Keyframe)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per packet", allocs)
	}
}
