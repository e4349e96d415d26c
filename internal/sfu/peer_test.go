package sfu

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
)

// testEnv is an embedded NATS server, a bus client and one running node.
type testEnv struct {
	t    *testing.T
	bus  *bus.Client
	node *Node
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with node options changed by opt.
func newEnvWith(t *testing.T, opt func(*Options)) *testEnv {
	t.Helper()
	srv, err := bus.StartEmbedded(bus.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	b, err := bus.Connect(bus.Options{URLs: srv.ClientURL(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	o := Options{
		Config: config.SFU{MediaPort: 0, BindIP: "127.0.0.1", AdvertiseIPs: []string{"127.0.0.1"}, HeartbeatInterval: 200 * time.Millisecond},
		Bus:    b, Logger: slog.New(slog.DiscardHandler),
	}
	if opt != nil {
		opt(&o)
	}
	return &testEnv{t: t, bus: b, node: runNode(t, o)}
}

// runNode starts a node with o until the test ends and waits until it is
// ready.
func runNode(t *testing.T, o Options) *Node {
	t.Helper()
	node, err := NewNode(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = node.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, 5*time.Second, "node ready", node.Ready)
	return node
}

func (e *testEnv) request(cmd string, req, resp any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return e.bus.Request(ctx, bus.NodeCommand(e.node.ID(), cmd), req, resp)
}

// events collects the events published on subject.
func (e *testEnv) events(subject string) *eventLog {
	l := &eventLog{}
	sub, err := e.bus.Subscribe(subject, l.add)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.bus.Conn().Flush(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = sub.Unsubscribe() })
	return l
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type peerOpts struct {
	tcpOnly bool
	// drop, when set, drops each incoming RTP packet it returns true for
	// before the NACK generator sees it (each sequence number once).
	drop func(seq uint16) bool
}

// testPeer is a Pion client of the node.
type testPeer struct {
	t       *testing.T
	env     *testEnv
	pc      *webrtc.PeerConnection
	id      string
	wg      sync.WaitGroup
	mu      sync.Mutex
	streams map[string]*recvStream // by mid
	// rewriteAnswer, when set, edits the node's answer before it is
	// applied (to route a peer through a proxy).
	rewriteAnswer func(string) string
}

// recvStream records what a peer receives on one mid.
type recvStream struct {
	ssrc     uint32
	seqs     []uint16
	octets   int    // payload bytes
	lastTS   uint32 // RTP timestamp of the last packet
	reports  []rtcp.SenderReport
	twcc     []uint16 // transport-wide sequence numbers, when negotiated
	counters map[uint32]bool
	// arrivals holds the packets' counters in arrival order.
	arrivals []uint32
	layers   []byte
}

func (e *testEnv) newPeer(id string, o peerOpts) *testPeer {
	t := e.t
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
		t.Fatal(err)
	}
	if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, kind); err != nil {
			t.Fatal(err)
		}
	}
	reg := &interceptor.Registry{}
	if o.drop != nil {
		reg.Add(&dropFactory{drop: o.drop})
	}
	gen, err := nack.NewGeneratorInterceptor(nack.GeneratorInterval(50 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	reg.Add(gen)
	resp, err := nack.NewResponderInterceptor()
	if err != nil {
		t.Fatal(err)
	}
	reg.Add(resp)
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(0)
	se.SetIncludeLoopbackCandidate(true)
	if o.drop != nil {
		// Loss is injected after SRTP decryption, so the retransmission
		// (same SSRC and sequence number) would otherwise be a replay.
		se.DisableSRTPReplayProtection(true)
	}
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	if o.tcpOnly {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	} else {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p := &testPeer{t: t, env: e, pc: pc, id: id, streams: map[string]*recvStream{}}
	pc.OnTrack(p.onTrack)
	t.Cleanup(func() { _ = pc.Close(); p.wg.Wait() })
	return p
}

func (p *testPeer) onTrack(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	mid := ""
	for _, t := range p.pc.GetTransceivers() {
		if t.Receiver() == recv {
			mid = t.Mid()
		}
	}
	var twccID uint8
	for _, e := range recv.GetParameters().HeaderExtensions {
		if e.URI == sdp.TransportCCURI {
			twccID = uint8(e.ID)
		}
	}
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		for {
			pkts, _, err := recv.ReadRTCP()
			if err != nil {
				return
			}
			for _, pkt := range pkts {
				if sr, ok := pkt.(*rtcp.SenderReport); ok {
					p.mu.Lock()
					st := p.streamLocked(mid)
					st.reports = append(st.reports, *sr)
					p.mu.Unlock()
				}
			}
		}
	}()
	go func() {
		defer p.wg.Done()
		buf := make([]byte, 1500)
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			var pkt rtp.Packet
			if pkt.Unmarshal(buf[:n]) != nil {
				continue
			}
			p.record(mid, tr.Kind(), twccID, &pkt)
		}
	}()
}

func (p *testPeer) record(mid string, kind webrtc.RTPCodecType, twccID uint8, pkt *rtp.Packet) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.streamLocked(mid)
	s.seqs = append(s.seqs, pkt.SequenceNumber)
	s.ssrc, s.lastTS = pkt.SSRC, pkt.Timestamp
	s.octets += len(pkt.Payload)
	if ext := pkt.GetExtension(twccID); twccID != 0 && len(ext) == 2 {
		s.twcc = append(s.twcc, binary.BigEndian.Uint16(ext))
	}
	off := 0
	if kind == webrtc.RTPCodecTypeVideo {
		off = 2
	}
	if len(pkt.Payload) >= off+5 {
		c := binary.BigEndian.Uint32(pkt.Payload[off:])
		s.counters[c] = true
		s.arrivals = append(s.arrivals, c)
		s.layers = append(s.layers, pkt.Payload[off+4])
	}
}

// streamLocked returns what mid received so far, created on first use;
// p.mu is held.
func (p *testPeer) streamLocked(mid string) *recvStream {
	s := p.streams[mid]
	if s == nil {
		s = &recvStream{counters: map[uint32]bool{}}
		p.streams[mid] = s
	}
	return s
}

// stream returns a copy of what was received on mid.
func (p *testPeer) stream(mid string) recvStream {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.streams[mid]
	if s == nil {
		return recvStream{counters: map[uint32]bool{}}
	}
	c := recvStream{
		ssrc: s.ssrc, octets: s.octets, lastTS: s.lastTS, reports: append([]rtcp.SenderReport(nil), s.reports...),
		seqs: append([]uint16(nil), s.seqs...), arrivals: append([]uint32(nil), s.arrivals...), twcc: append([]uint16(nil), s.twcc...), layers: append([]byte(nil), s.layers...), counters: map[uint32]bool{}}
	for k := range s.counters {
		c.counters[k] = true
	}
	return c
}

// addSend adds a sendonly track; rids > 1 makes it simulcast.
func (p *testPeer) addSend(mime string, rids ...string) []*webrtc.TrackLocalStaticRTP {
	cap := webrtc.RTPCodecCapability{MimeType: mime}
	kind := "video"
	if mime == webrtc.MimeTypeOpus {
		kind = "audio"
	}
	var opts [][]func(*webrtc.TrackLocalStaticRTP)
	if len(rids) == 0 {
		opts = append(opts, nil)
	}
	for _, r := range rids {
		opts = append(opts, []func(*webrtc.TrackLocalStaticRTP){webrtc.WithRTPStreamID(r)})
	}
	var tracks []*webrtc.TrackLocalStaticRTP
	var sender *webrtc.RTPSender
	for _, o := range opts {
		tr, err := webrtc.NewTrackLocalStaticRTP(cap, kind, p.id+"-stream", o...)
		if err != nil {
			p.t.Fatal(err)
		}
		if sender == nil {
			tc, err := p.pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
			if err != nil {
				p.t.Fatal(err)
			}
			sender = tc.Sender()
		} else if err := sender.AddEncoding(tr); err != nil {
			p.t.Fatal(err)
		}
		tracks = append(tracks, tr)
	}
	return tracks
}

// addRecv adds a recvonly transceiver and returns it (its mid is set by
// the offer).
func (p *testPeer) addRecv(kind webrtc.RTPCodecType) *webrtc.RTPTransceiver {
	tc, err := p.pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	if err != nil {
		p.t.Fatal(err)
	}
	return tc
}

// offer creates and sets the local offer with every candidate.
func (p *testPeer) offer() string {
	o, err := p.pc.CreateOffer(nil)
	if err != nil {
		p.t.Fatal(err)
	}
	g := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(o); err != nil {
		p.t.Fatal(err)
	}
	<-g
	return p.pc.LocalDescription().SDP
}

// join creates the session with the current offer; subs is called after
// the offer exists (mids are known) to build the subscriptions.
func (p *testPeer) join(room string, subs func() []bus.Subscription) error {
	offer := p.offer()
	var s []bus.Subscription
	if subs != nil {
		s = subs()
	}
	var ans bus.SessionAnswer
	err := p.env.request(bus.CmdSessionCreate, bus.CreateSession{
		Participant: bus.Participant{Namespace: "default", Room: room, Identity: p.id, SessionID: "PA_" + p.id},
		Grants:      bus.Grants{Publish: true, Subscribe: true},
		Offer:       offer, Subscribe: s,
	}, &ans)
	if err != nil {
		return err
	}
	if p.rewriteAnswer != nil {
		ans.Answer = p.rewriteAnswer(ans.Answer)
	}
	return p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.Answer})
}

func (p *testPeer) connected() bool {
	return p.pc.ConnectionState() == webrtc.PeerConnectionStateConnected
}

func (p *testPeer) sessionID() string { return "PA_" + p.id }

// extID returns the id the peer's sender negotiated for uri, or 0.
func extID(s *webrtc.RTPSender, uri string) uint8 {
	for _, e := range s.GetParameters().HeaderExtensions {
		if e.URI == uri {
			return uint8(e.ID)
		}
	}
	return 0
}

// synth builds a synthetic payload: for video a VP8 descriptor and header
// byte (keyframe or not), then the counter and a layer byte, padded.
func synth(video, key bool, counter uint32, layer byte) []byte {
	b := make([]byte, 0, 120)
	if video {
		hdr := byte(0x01)
		if key {
			hdr = 0x00
		}
		b = append(b, 0x10, hdr)
	}
	b = binary.BigEndian.AppendUint32(b, counter)
	b = append(b, layer)
	for len(b) < 100 {
		b = append(b, 0xAA)
	}
	return b
}

// sender writes synthetic packets on one track.
type sender struct {
	track *webrtc.TrackLocalStaticRTP
	video bool
	seq   uint16
	ts    uint32
	ext   map[uint8][]byte
	layer byte
	big   bool // ~1,100-byte payloads instead of 100
}

func (s *sender) send(counter uint32, key bool) error {
	pkt := &rtp.Packet{
		Header:  rtp.Header{Version: 2, SequenceNumber: s.seq, Timestamp: s.ts, Marker: true},
		Payload: synth(s.video, key, counter, s.layer),
	}
	if s.big {
		pkt.Payload = append(pkt.Payload, make([]byte, 1000)...)
	}
	for id, v := range s.ext {
		if err := pkt.Header.SetExtension(id, v); err != nil {
			return err
		}
	}
	s.seq++
	s.ts += 3000
	return s.track.WriteRTP(pkt)
}

// roomTracks asks the node for the tracks of a room.
func (e *testEnv) roomTracks(room string) []bus.TrackInfo {
	var st bus.RoomState
	if err := e.request(bus.CmdRoomState, bus.RoomStateRequest{Namespace: "default", Room: room}, &st); err != nil {
		e.t.Fatal(err)
	}
	var out []bus.TrackInfo
	for _, p := range st.Participants {
		out = append(out, p.Tracks...)
	}
	return out
}

// eventLog collects bus events.
type eventLog struct {
	mu  sync.Mutex
	evs []bus.Event
}

func (l *eventLog) add(m *nats.Msg) {
	var ev bus.Event
	if json.Unmarshal(m.Data, &ev) != nil {
		return
	}
	l.mu.Lock()
	l.evs = append(l.evs, ev)
	l.mu.Unlock()
}

// find returns the first event of type typ for which match is true.
func (l *eventLog) find(typ string, match func(bus.Event) bool) (bus.Event, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range l.evs {
		if ev.Type == typ && (match == nil || match(ev)) {
			return ev, true
		}
	}
	return bus.Event{}, false
}

func (l *eventLog) has(typ string, match func(bus.Event) bool) func() bool {
	return func() bool { _, ok := l.find(typ, match); return ok }
}

type heartbeatLog struct {
	mu   sync.Mutex
	info []bus.NodeInfo
}

func (l *heartbeatLog) add(m *nats.Msg) {
	var ni bus.NodeInfo
	if json.Unmarshal(m.Data, &ni) == nil {
		l.mu.Lock()
		l.info = append(l.info, ni)
		l.mu.Unlock()
	}
}

func (l *heartbeatLog) last() (bus.NodeInfo, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.info) == 0 {
		return bus.NodeInfo{}, false
	}
	return l.info[len(l.info)-1], true
}

// every calls fn with a counter 0, 1, 2, ... once per interval on its own
// goroutine, until the returned stop function is called; stop waits for it.
func every(interval time.Duration, fn func(counter uint32)) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for c := uint32(0); ; c++ {
			select {
			case <-quit:
				return
			case <-t.C:
			}
			fn(c)
		}
	}()
	return func() { close(quit); <-done }
}
