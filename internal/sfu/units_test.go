package sfu

import (
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/prometheus/client_golang/prometheus"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/metrics"
)

func TestKeyframeDetection(t *testing.T) {
	cases := []struct {
		name string
		c    codecKind
		p    []byte
		want bool
	}{
		{"vp8 key", codecVP8, []byte{0x10, 0x00}, true},
		{"vp8 delta", codecVP8, []byte{0x10, 0x01}, false},
		{"vp8 not start", codecVP8, []byte{0x00, 0x00}, false},
		{"vp8 ext pictureid 15 bit", codecVP8, []byte{0x90, 0x80, 0x81, 0x23, 0x00}, true},
		{"vp8 ext all", codecVP8, []byte{0x90, 0xF0, 0x05, 0x01, 0x02, 0x00}, true},
		{"vp8 short", codecVP8, []byte{0x90}, false},
		{"vp9 key", codecVP9, []byte{0x08}, true},
		{"vp9 inter", codecVP9, []byte{0x48}, false},
		{"h264 idr", codecH264, []byte{0x65}, true},
		{"h264 sps", codecH264, []byte{0x67}, true},
		{"h264 slice", codecH264, []byte{0x41}, false},
		{"h264 stap-a sps", codecH264, []byte{0x78, 0x00, 0x01, 0x67, 0x00, 0x01, 0x68}, true},
		{"h264 stap-a truncated", codecH264, []byte{0x78, 0x00, 0x09, 0x67}, false},
		{"h264 fu-a idr start", codecH264, []byte{0x7c, 0x85}, true},
		{"h264 fu-a idr middle", codecH264, []byte{0x7c, 0x05}, false},
		{"empty", codecVP8, nil, false},
	}
	for _, c := range cases {
		if got := isKeyframe(c.c, c.p); got != c.want {
			t.Errorf("%s: got %v want %v", c.name, got, c.want)
		}
	}
}

func FuzzKeyframe(f *testing.F) {
	f.Add(byte(1), []byte{0x90, 0xF0, 0x05, 0x01, 0x02, 0x00})
	f.Add(byte(3), []byte{0x78, 0x00, 0x01, 0x67})
	f.Add(byte(2), []byte{0x08})
	f.Fuzz(func(t *testing.T, c byte, p []byte) {
		isKeyframe(codecKind(c%4), p)
	})
}

// FuzzForward feeds arbitrary bytes through the receive and fan-out path.
func FuzzForward(f *testing.F) {
	f.Add([]byte{0x80, 0x60, 0x00, 0x01, 0, 0, 0, 1, 0, 0, 0, 1, 0x10, 0x00})
	f.Add([]byte{0x90, 0x60, 0x00, 0x01, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0x00, 0x05})
	f.Fuzz(func(t *testing.T, raw []byte) {
		up, _ := benchTrack(2)
		var pkt rtp.Packet
		up.forward(up.layers[0], raw, &pkt)
		for _, d := range up.downTracks() {
			d.onRTCP(&rtcp.TransportLayerNack{Nacks: []rtcp.NackPair{{PacketID: 1, LostPackets: 0xffff}}}, time.Now())
		}
	})
}

func TestMapRIDs(t *testing.T) {
	cases := []struct {
		rids []string
		want map[string]int
	}{
		{[]string{"f", "h", "q"}, map[string]int{"q": 0, "h": 1, "f": 2}},
		{[]string{"h", "m", "l"}, map[string]int{"l": 0, "m": 1, "h": 2}},
		{[]string{"high", "low", "mid"}, map[string]int{"low": 0, "mid": 1, "high": 2}},
		{[]string{"2", "0", "1"}, map[string]int{"0": 0, "1": 1, "2": 2}},
		{[]string{"a", "b", "c"}, map[string]int{"a": 0, "b": 1, "c": 2}},
	}
	for _, c := range cases {
		got := mapRIDs(c.rids)
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("%v: %s -> %d, want %d", c.rids, k, got[k], v)
			}
		}
	}
}

func TestLossEstimator(t *testing.T) {
	e := newLossEstimator(1_000_000, 100_000, 10_000_000)
	now := time.Unix(0, 0)
	var est uint64
	for i := range 20 {
		est = e.Update(Feedback{Received: 100, At: now.Add(time.Duration(i) * 250 * time.Millisecond)})
	}
	if est <= 2_000_000 {
		t.Fatalf("no loss: estimate %d, want growth above 2 Mbit/s", est)
	}
	high := est
	for i := range 10 {
		est = e.Update(Feedback{Received: 70, Lost: 30, At: now.Add(time.Duration(20+i) * 250 * time.Millisecond)})
	}
	if est >= high/2 {
		t.Fatalf("30%% loss: estimate %d, want well below %d", est, high)
	}
	est = e.Update(Feedback{Received: 100, REMB: 300_000, At: now.Add(time.Hour)})
	if est > 300_000 {
		t.Fatalf("REMB cap: estimate %d", est)
	}
	for range 100 {
		est = e.Update(Feedback{Lost: 100, At: now.Add(2 * time.Hour)})
	}
	if est < 100_000 {
		t.Fatalf("estimate %d below the floor", est)
	}
}

// tccBytes marshals a TWCC feedback built by hand, with its header.
func tccBytes(t testing.TB, fb *rtcp.TransportLayerCC) []byte {
	t.Helper()
	fb.Header = rtcp.Header{Count: rtcp.FormatTCC, Type: rtcp.TypeTransportSpecificFeedback, Length: uint16(fb.Len()/4 - 1)}
	raw, err := fb.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestTWCCCounts(t *testing.T) {
	fb := &rtcp.TransportLayerCC{PacketStatusCount: 10, PacketChunks: []rtcp.PacketStatusChunk{
		&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 6},
		&rtcp.StatusVectorChunk{SymbolList: []uint16{rtcp.TypeTCCPacketNotReceived, rtcp.TypeTCCPacketReceivedSmallDelta, rtcp.TypeTCCPacketNotReceived, rtcp.TypeTCCPacketReceivedSmallDelta}},
	}}
	raw := tccBytes(t, fb)
	if r, l, ok := twccCounts(raw); !ok || r != 8 || l != 2 {
		t.Fatalf("received %d lost %d (ok %v), want 8 and 2", r, l, ok)
	}
	if _, _, ok := twccCounts(raw[:len(raw)-6]); ok {
		t.Fatal("a feedback cut short was read")
	}
	nack, _ := (&rtcp.TransportLayerNack{Nacks: []rtcp.NackPair{{PacketID: 1}}}).Marshal()
	if _, _, ok := twccCounts(nack); ok {
		t.Fatal("a NACK was read as TWCC feedback")
	}
}

// TestTWCCCountsFromRecorder: the feedback Pion's TWCC recorder (what
// Pion-based subscribers send) builds for a known pattern of arrivals,
// with every kind of chunk, is counted exactly.
func TestTWCCCountsFromRecorder(t *testing.T) {
	for _, c := range []struct {
		name string
		lost func(seq int) bool
	}{
		{"none lost", func(int) bool { return false }},
		{"every third lost", func(seq int) bool { return seq%3 == 1 }},
		{"a burst lost", func(seq int) bool { return seq > 40 && seq < 90 }},
		{"alternating", func(seq int) bool { return seq%2 == 1 }},
	} {
		r := twcc.NewRecorder(1)
		wantReceived, wantLost := 0, 0
		last := 0
		for seq := range 150 {
			if c.lost(seq) {
				continue
			}
			r.Record(7, uint16(seq), int64(seq)*1000+int64(seq%5)*300)
			last = seq
		}
		for seq := 0; seq <= last; seq++ {
			if c.lost(seq) {
				wantLost++
			} else {
				wantReceived++
			}
		}
		gotReceived, gotLost := 0, 0
		for _, p := range r.BuildFeedbackPacket() {
			raw, err := p.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if _, isTWCC := p.(*rtcp.TransportLayerCC); !isTWCC {
				continue
			}
			rec, lost, ok := twccCounts(raw)
			if !ok {
				t.Fatalf("%s: feedback not read", c.name)
			}
			gotReceived += rec
			gotLost += lost
		}
		if gotReceived != wantReceived || gotLost != wantLost {
			t.Errorf("%s: received %d lost %d, want %d and %d", c.name, gotReceived, gotLost, wantReceived, wantLost)
		}
	}
}

func TestTWCCCountsNoAllocs(t *testing.T) {
	fb := &rtcp.TransportLayerCC{PacketStatusCount: 20, PacketChunks: []rtcp.PacketStatusChunk{
		&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 20},
	}, RecvDeltas: make([]*rtcp.RecvDelta, 20)}
	for i := range fb.RecvDeltas {
		fb.RecvDeltas[i] = &rtcp.RecvDelta{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 250}
	}
	raw := tccBytes(t, fb)
	d := newDownTrack("DT", "s", "0", webrtc.RTPCodecTypeVideo)
	now := time.Now()
	if allocs := testing.AllocsPerRun(200, func() { d.onRTCPBytes(raw, now) }); allocs != 0 {
		t.Fatalf("%v allocations per TWCC feedback", allocs)
	}
}

func FuzzTWCCCounts(f *testing.F) {
	fb := &rtcp.TransportLayerCC{PacketStatusCount: 10, PacketChunks: []rtcp.PacketStatusChunk{
		&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 6},
		&rtcp.StatusVectorChunk{SymbolSize: rtcp.TypeTCCSymbolSizeTwoBit, SymbolList: []uint16{0, 1, 0, 2}},
	}}
	f.Add(tccBytes(f, fb))
	f.Fuzz(func(t *testing.T, b []byte) {
		received, lost, ok := twccCounts(b)
		if !ok {
			return
		}
		if received < 0 || lost < 0 || received+lost > int(b[14])<<8|int(b[15]) {
			t.Fatalf("received %d lost %d of %d", received, lost, int(b[14])<<8|int(b[15]))
		}
		d := newDownTrack("DT", "s", "0", webrtc.RTPCodecTypeVideo)
		d.onRTCPBytes(b, time.Now())
	})
}

func TestFitSelector(t *testing.T) {
	s := fitSelector{}
	rates := [maxLayers]uint64{150_000, 500_000, 2_000_000}
	for _, c := range []struct {
		est  uint64
		want int
	}{{100_000, 0}, {600_000, 1}, {5_000_000, 2}} {
		if got := s.Select(c.est, rates); got != c.want {
			t.Errorf("estimate %d: layer %d, want %d", c.est, got, c.want)
		}
	}
	if got := s.Select(5_000_000, [maxLayers]uint64{0, 400_000, 0}); got != 1 {
		t.Errorf("single present layer: %d", got)
	}
}

// discardWriter is a TrackLocalWriter that counts and drops packets.
type discardWriter struct {
	n    int
	twcc []uint16 // transport-wide sequence numbers of the first packets
}

func (w *discardWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) {
	w.n++
	if len(w.twcc) < cap(w.twcc) {
		if ext := h.GetExtension(3); len(ext) == 2 {
			w.twcc = append(w.twcc, uint16(ext[0])<<8|uint16(ext[1]))
		}
	}
	return 12 + len(p), nil
}
func (w *discardWriter) Write(b []byte) (int, error) { w.n++; return len(b), nil }

// benchTrack builds a VP8 track with n bound down tracks writing to
// discardWriters.
func benchTrack(n int) (*upTrack, []*discardWriter) {
	m := metrics.NewSFU("bench")
	up := newUpTrack("TR_bench", bus.Participant{}, "video", webrtc.MimeTypeVP8, 90000, false, nil)
	up.m = m
	up.fwdTime = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "fwd", Buckets: prometheus.ExponentialBuckets(10e-6, 2, 15)})
	up.layers[0].present.Store(true)
	var ws []*discardWriter
	transportSeq := &atomic.Uint32{}
	for i := range n {
		d := newDownTrack("DT", "s", "0", webrtc.RTPCodecTypeVideo)
		w := &discardWriter{twcc: make([]uint16, 0, 4)}
		d.writer, d.ssrc, d.pt, d.m = w, uint32(1000+i), 96, m
		d.twccID, d.transportSeq = 3, transportSeq
		d.codecs = []webrtc.RTPCodecParameters{{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, PayloadType: 96}}
		_ = d.setSource(up, autoLayer)
		ws = append(ws, w)
	}
	return up, ws
}

// BenchmarkForward measures the per-packet path: parse, cache, keyframe
// check and fan-out with header rewriting to 10 subscribers (the writer
// discards). allocs/op must stay 0.
func BenchmarkForward(b *testing.B) {
	up, ws := benchTrack(10)
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SSRC: 42, Timestamp: 1000}, Payload: make([]byte, 1100)}
	pkt.Payload[0] = 0x10 // VP8 partition start, keyframe
	raw, _ := pkt.Marshal()
	var scratch rtp.Packet
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		raw[2], raw[3] = byte(i>>8), byte(i)
		up.forward(up.layers[0], raw, &scratch)
	}
	b.StopTimer()
	if ws[0].n == 0 {
		b.Fatal("nothing forwarded")
	}
}

// TestForwardNoAllocs keeps the zero-allocation property under test.
func TestForwardNoAllocs(t *testing.T) {
	up, ws := benchTrack(10)
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SSRC: 42}, Payload: make([]byte, 1100)}
	pkt.Payload[0] = 0x10
	raw, _ := pkt.Marshal()
	var scratch rtp.Packet
	var seq uint16
	allocs := testing.AllocsPerRun(500, func() {
		seq++
		raw[2], raw[3] = byte(seq>>8), byte(seq)
		up.forward(up.layers[0], raw, &scratch)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per forwarded packet, want 0", allocs)
	}
	if ws[9].n < 500 {
		t.Fatalf("subscriber got %d packets", ws[9].n)
	}
	// The ten subscribers share one session's transport-wide counter, so
	// each packet takes the next number: subscriber i's first is i.
	for i, w := range ws {
		if len(w.twcc) < 2 || w.twcc[0] != uint16(i) || w.twcc[1] != uint16(i+len(ws)) {
			t.Fatalf("subscriber %d: transport-wide sequence numbers %v", i, w.twcc)
		}
	}
}

func TestNTPTime(t *testing.T) {
	for _, c := range []struct {
		t    time.Time
		want uint64
	}{
		{time.Unix(0, 0), 2208988800 << 32},
		{time.Unix(1, 500_000_000), (2208988801 << 32) | 0x80000000},
		{time.Unix(1700000000, 250_000_000), ((1700000000 + 2208988800) << 32) | 0x40000000},
	} {
		if got := ntpTime(c.t); got != c.want {
			t.Errorf("ntpTime(%v) = %#x, want %#x", c.t, got, c.want)
		}
	}
}
