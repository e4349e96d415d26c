package sfu

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// gateWriter is a TrackLocalWriter whose writes of one sequence number
// block until released (a slow SRTP write of a retransmission).
type gateWriter struct {
	block   uint16
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	fresh   atomic.Int64
}

func (w *gateWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) {
	if h.SequenceNumber == w.block && w.fresh.Load() > int64(w.block) {
		w.once.Do(func() { close(w.entered) })
		<-w.release
		return 12 + len(p), nil
	}
	w.fresh.Add(1)
	return 12 + len(p), nil
}
func (w *gateWriter) Write(b []byte) (int, error) { return len(b), nil }

// unitTrack is a VP8 up track with one bound down track writing to w.
func unitTrack(w webrtc.TrackLocalWriter, b *rtxBudget) (*upTrack, *downTrack) {
	up := newUpTrack("TR_unit", bus.Participant{}, "video", webrtc.MimeTypeVP8, 90000, false, nil)
	up.layers[0].present.Store(true)
	up.rtx = b
	d := newDownTrack("DT", "s", "0", webrtc.RTPCodecTypeVideo)
	d.writer, d.ssrc, d.pt, d.rtx = w, 1000, 96, b
	d.codecs = []webrtc.RTPCodecParameters{{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, PayloadType: 96}}
	_ = d.setSource(up, autoLayer)
	return up, d
}

// forwardN forwards packets with sequence numbers from..to-1; the first
// is a keyframe.
func forwardN(up *upTrack, from, to uint16) {
	var scratch rtp.Packet
	for seq := from; seq != to; seq++ {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SSRC: 42, SequenceNumber: seq, Timestamp: uint32(seq) * 3000},
			Payload: []byte{0x10, 0x01, 1, 2, 3}}
		if seq == from {
			pkt.Payload[1] = 0x00
		}
		raw, _ := pkt.Marshal()
		up.forward(up.layers[0], raw, &scratch)
	}
}

// TestRetransmitDoesNotBlockForward: while a retransmission is stuck in
// its write, the same down track keeps forwarding fresh packets.
func TestRetransmitDoesNotBlockForward(t *testing.T) {
	w := &gateWriter{block: 3, entered: make(chan struct{}), release: make(chan struct{})}
	up, d := unitTrack(w, nil)
	forwardN(up, 0, 10)
	if w.fresh.Load() != 10 {
		t.Fatalf("forwarded %d of 10", w.fresh.Load())
	}
	done := make(chan struct{})
	go func() { defer close(done); d.retransmit(3) }()
	<-w.entered
	fwd := make(chan struct{})
	go func() { defer close(fwd); forwardN(up, 10, 20) }()
	select {
	case <-fwd:
	case <-time.After(5 * time.Second):
		close(w.release)
		t.Fatal("forwarding blocked behind a retransmission")
	}
	close(w.release)
	<-done
	if w.fresh.Load() != 20 || d.resent.Load() != 1 {
		t.Fatalf("fresh %d (want 20), resent %d (want 1)", w.fresh.Load(), d.resent.Load())
	}
}

// TestRetransmitBudget: repeated NACKs within MinGap, a spent subscriber
// budget, a spent node budget and packets older than MaxAge are skipped
// and counted by reason.
func TestRetransmitBudget(t *testing.T) {
	b := newRTXBudget(RetransmitOptions{PerSubscriber: 10, MinGap: time.Hour, NodeMin: 1000, MaxAge: time.Hour}, nil, nil)
	w := &discardWriter{}
	up, d := unitTrack(w, b)
	forwardN(up, 0, 100)
	for seq := uint16(0); seq < 100; seq++ {
		d.retransmit(seq)
	}
	if got := d.resent.Load(); got != 10 {
		t.Fatalf("resent %d, want the subscriber's burst of 10", got)
	}
	if got := b.skips[skipSubscriber].Load(); got != 90 {
		t.Fatalf("subscriber budget skips %d, want 90", got)
	}
	d.retransmit(5)
	if got := b.skips[skipRecent].Load(); got != 1 {
		t.Fatalf("recent skips %d, want 1", got)
	}
	d.retransmit(500) // never sent
	if got := b.skips[skipUnknown].Load(); got != 1 {
		t.Fatalf("unknown skips %d, want 1", got)
	}

	// A second subscriber on a node with 3 tokens left.
	d2 := newDownTrack("DT2", "s2", "0", webrtc.RTPCodecTypeVideo)
	d2.writer, d2.ssrc, d2.pt, d2.rtx = &discardWriter{}, 2000, 96, b
	d2.codecs = d.codecs
	_ = d2.setSource(up, autoLayer)
	forwardN(up, 100, 120)
	b.tokens.Store(3)
	for seq := uint16(100); seq < 110; seq++ { // d2 started on the keyframe at 100
		d2.retransmit(seq)
	}
	if d2.resent.Load() != 3 || b.skips[skipNode].Load() != 7 {
		t.Fatalf("node budget: resent %d (want 3), skipped %d (want 7)", d2.resent.Load(), b.skips[skipNode].Load())
	}
	// Refilling earns NodeShare of the packets fanned out, at least NodeMin/s.
	b.refill(time.Second)
	if got := b.tokens.Load(); got != 1000 {
		t.Fatalf("tokens after refill %d, want 1000", got)
	}

	old := newRTXBudget(RetransmitOptions{MaxAge: time.Nanosecond}, nil, nil)
	up3, d3 := unitTrack(&discardWriter{}, old)
	forwardN(up3, 0, 5)
	time.Sleep(time.Millisecond)
	d3.retransmit(2)
	if d3.resent.Load() != 0 || old.skips[skipTooOld].Load() != 1 {
		t.Fatalf("too old: resent %d, skipped %d", d3.resent.Load(), old.skips[skipTooOld].Load())
	}
}

// TestNACKFloodKeepsForwarding: one subscriber NACKs every packet it was
// sent, over and over; the node resends within its budget, counts what it
// skips, and a subscriber that does not NACK still gets every packet.
func TestNACKFloodKeepsForwarding(t *testing.T) {
	const perSub = 100
	env := newEnvWith(t, func(o *Options) { o.Config.Retransmit = RetransmitOptions{PerSubscriber: perSub} })
	pub := env.newPeer("fpub", peerOpts{})
	v := pub.addSend(webrtc.MimeTypeVP8)[0]
	if err := pub.join("flood", nil); err != nil {
		t.Fatal(err)
	}
	infos := env.roomTracks("flood")
	subscribe := func(p *testPeer) *webrtc.RTPTransceiver {
		tc := p.addRecv(webrtc.RTPCodecTypeVideo)
		if err := p.join("flood", func() []bus.Subscription {
			return []bus.Subscription{{MID: tc.Mid(), TrackID: infos[0].ID}}
		}); err != nil {
			t.Fatal(err)
		}
		return tc
	}
	flooder, quiet := env.newPeer("flooder", peerOpts{}), env.newPeer("quiet", peerOpts{})
	ftc, qtc := subscribe(flooder), subscribe(quiet)
	waitFor(t, 10*time.Second, "connected", func() bool { return pub.connected() && flooder.connected() && quiet.connected() })

	stop, done := make(chan struct{}), make(chan struct{})
	go func() { // NACK the last 170 sequence numbers received, every 2 ms
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			seqs := flooder.stream(ftc.Mid()).seqs
			tr := ftc.Receiver().Track()
			if len(seqs) == 0 || tr == nil {
				continue
			}
			last := seqs[len(seqs)-1]
			nack := &rtcp.TransportLayerNack{MediaSSRC: uint32(tr.SSRC())}
			for i := uint16(0); i < 10; i++ {
				nack.Nacks = append(nack.Nacks, rtcp.NackPair{PacketID: last - 17*(i+1) + 1, LostPackets: 0xffff})
			}
			_ = flooder.pc.WriteRTCP([]rtcp.Packet{nack})
		}
	}()
	start := time.Now()
	s := &sender{track: v, video: true}
	const packets = 400
	for c := uint32(0); c < packets+20; c++ {
		if err := s.send(c, c == 0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	waitFor(t, 10*time.Second, "every packet on the quiet subscriber", func() bool {
		got := quiet.stream(qtc.Mid()).counters
		for c := uint32(0); c < packets; c++ {
			if !got[c] {
				return false
			}
		}
		return true
	})
	close(stop)
	<-done
	elapsed := time.Since(start)
	m := env.node.metrics
	resent := testutil.ToFloat64(m.Retransmissions)
	skips := &env.node.rtx.skips
	t.Logf("NACKed %v, resent %v, skipped: recent %d, subscriber %d, node %d, unknown %d, not cached %d, too old %d",
		testutil.ToFloat64(m.NACKsReceived), resent, skips[skipRecent].Load(), skips[skipSubscriber].Load(),
		skips[skipNode].Load(), skips[skipUnknown].Load(), skips[skipNotCached].Load(), skips[skipTooOld].Load())
	if limit := perSub * (elapsed.Seconds() + 1); resent > limit {
		t.Fatalf("%v retransmissions in %v, budget allows %v", resent, elapsed, limit)
	}
	if skips[skipRecent].Load() == 0 || skips[skipSubscriber].Load() == 0 {
		t.Fatal("the flood skipped nothing as recent or over the subscriber's budget")
	}
	if resent == 0 {
		t.Fatal("nothing was retransmitted")
	}
}

// countingFactory counts the interceptors it creates.
type countingFactory struct{ n atomic.Int32 }

func (f *countingFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	f.n.Add(1)
	return &interceptor.NoOp{}, nil
}

// TestLazyInterceptor: the wrapped interceptor is created on the first
// remote stream only, once, and not after Close.
func TestLazyInterceptor(t *testing.T) {
	f := &countingFactory{}
	in, _ := lazyFactory{f}.NewInterceptor("pc")
	in.BindRTCPWriter(interceptor.RTCPWriterFunc(func([]rtcp.Packet, interceptor.Attributes) (int, error) { return 0, nil }))
	in.BindLocalStream(&interceptor.StreamInfo{}, nil)
	if f.n.Load() != 0 {
		t.Fatal("created for a local stream")
	}
	in.BindRemoteStream(&interceptor.StreamInfo{SSRC: 1}, nil)
	in.BindRemoteStream(&interceptor.StreamInfo{SSRC: 2}, nil)
	if f.n.Load() != 1 {
		t.Fatalf("created %d times, want 1", f.n.Load())
	}
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	idle, _ := lazyFactory{f}.NewInterceptor("pc2")
	_ = idle.Close()
	idle.BindRemoteStream(&interceptor.StreamInfo{SSRC: 3}, nil)
	if f.n.Load() != 1 {
		t.Fatal("created after Close")
	}
}

// passingInterceptor counts the RTCP reads that go through it.
type passingInterceptor struct {
	interceptor.NoOp
	reads atomic.Int32
}

func (p *passingInterceptor) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		p.reads.Add(1)
		return r.Read(b, a)
	})
}

type passingFactory struct{ in *passingInterceptor }

func (f passingFactory) NewInterceptor(string) (interceptor.Interceptor, error) { return f.in, nil }

// TestLazyInterceptorKeepsStreamsApart: every sender and receiver binds its
// own RTCP stream; before and after the real interceptor is created, each
// reads its own stream, the latter through the real interceptor. (It once
// read every stream through the last one bound, so a video sender never
// saw its subscriber's NACKs and PLIs.)
func TestLazyInterceptorKeepsStreamsApart(t *testing.T) {
	inner := &passingInterceptor{}
	in, _ := lazyFactory{passingFactory{inner}}.NewInterceptor("pc")
	stream := func(tag byte) interceptor.RTCPReader {
		return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
			b[0] = tag
			return 1, a, nil
		})
	}
	readers := map[byte]interceptor.RTCPReader{}
	for _, tag := range []byte("abc") {
		readers[tag] = in.BindRTCPReader(stream(tag))
	}
	check := func(when string) {
		t.Helper()
		for tag, r := range readers {
			b := make([]byte, 8)
			if _, _, err := r.Read(b, nil); err != nil {
				t.Fatal(err)
			}
			if b[0] != tag {
				t.Fatalf("%s: the reader of stream %c read stream %c", when, tag, b[0])
			}
		}
	}
	check("before the first remote stream")
	if inner.reads.Load() != 0 {
		t.Fatal("read through an interceptor that does not exist yet")
	}
	in.BindRemoteStream(&interceptor.StreamInfo{SSRC: 1}, nil)
	check("after the first remote stream")
	if got := inner.reads.Load(); got != 3 {
		t.Fatalf("%d of 3 reads went through the real interceptor", got)
	}
	_ = in.Close()
}
