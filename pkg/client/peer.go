package client

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// Header extension URIs the client uses.
const (
	uriMid        = "urn:ietf:params:rtp-hdrext:sdes:mid"
	uriRID        = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
	uriAudioLevel = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
)

// MediaOptions configure the PeerConnection of a client or a WHIP/WHEP
// session.
type MediaOptions struct {
	// IPFilter limits the local addresses gathered as ICE candidates (for
	// example loopback only in tests). Loopback candidates are included.
	IPFilter func(net.IP) bool
	// ICETCP also gathers TCP candidates.
	ICETCP bool
	// ReceiveLoss drops received packets before the NACK generator sees
	// them (loss injection).
	ReceiveLoss LossFunc
	// NoTWCC disables transport-wide congestion control feedback.
	NoTWCC bool
	// NACKInterval is how often lost packets are requested (default 50ms).
	NACKInterval time.Duration
	// Via routes the media through a UDP relay (a test impairment proxy,
	// say): see via.go.
	Via *net.UDPAddr
	// ExtraCodecs are registered after the default codecs (for example an
	// H.264 High profile for a gateway that forwards an encoder's stream);
	// the kind comes from the MIME type's prefix.
	ExtraCodecs []webrtc.RTPCodecParameters
	Logger      *slog.Logger
}

// newAPI builds a Pion API with the codecs rtcloud clients use (no RTX:
// retransmissions arrive on the media SSRC), NACK generation and response,
// RTCP reports and TWCC.
func newAPI(o MediaOptions, nacks *atomic.Uint64) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	codecs := []struct {
		c    webrtc.RTPCodecParameters
		kind webrtc.RTPCodecType
	}{
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111}, webrtc.RTPCodecTypeAudio},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb}, PayloadType: 96}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: fb,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, PayloadType: 102}, webrtc.RTPCodecTypeVideo},
	}
	for _, c := range o.ExtraCodecs {
		kind := webrtc.RTPCodecTypeVideo
		if strings.HasPrefix(strings.ToLower(c.MimeType), "audio/") {
			kind = webrtc.RTPCodecTypeAudio
		}
		codecs = append(codecs, struct {
			c    webrtc.RTPCodecParameters
			kind webrtc.RTPCodecType
		}{c, kind})
	}
	for _, c := range codecs {
		if err := m.RegisterCodec(c.c, c.kind); err != nil {
			return nil, fmt.Errorf("register codec: %w", err)
		}
	}
	exts := []struct {
		uri  string
		kind webrtc.RTPCodecType
	}{
		{uriMid, webrtc.RTPCodecTypeVideo}, {uriMid, webrtc.RTPCodecTypeAudio},
		{uriRID, webrtc.RTPCodecTypeVideo}, {uriAudioLevel, webrtc.RTPCodecTypeAudio},
	}
	for _, e := range exts {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: e.uri}, e.kind); err != nil {
			return nil, fmt.Errorf("register header extension: %w", err)
		}
	}
	reg := &interceptor.Registry{}
	reg.Add(netFactory{drop: o.ReceiveLoss, nacks: nacks})
	if err := configureNack(m, reg, o.NACKInterval); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, err
	}
	if !o.NoTWCC {
		if err := webrtc.ConfigureTWCCSender(m, reg); err != nil {
			return nil, err
		}
		if err := webrtc.ConfigureTWCCHeaderExtensionSender(m, reg); err != nil {
			return nil, err
		}
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	nets := []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	if o.ICETCP {
		nets = append(nets, webrtc.NetworkTypeTCP4)
	}
	se.SetNetworkTypes(nets)
	if o.IPFilter != nil {
		se.SetIPFilter(o.IPFilter)
	}
	if o.ReceiveLoss != nil {
		// Injected loss happens after decryption: the SRTP layer saw the
		// dropped packet, so its retransmission (same SSRC and sequence
		// number) would be rejected as a replay.
		se.DisableSRTPReplayProtection(true)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

// LoopbackOnly is an IPFilter that keeps only loopback addresses.
func LoopbackOnly(ip net.IP) bool { return ip.IsLoopback() }

// peer is a PeerConnection with the client's send and receive machinery.
// It is shared by the WebSocket client and the WHIP/WHEP sessions.
type peer struct {
	pc  *webrtc.PeerConnection
	log *slog.Logger

	connectedOnce sync.Once
	connected     chan struct{} // closed when the PeerConnection first connects
	connectedAt   atomic.Int64  // unix nanos of that moment
	failed        chan struct{} // closed when it fails or closes
	failedOnce    sync.Once

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
	slots  map[string]*recvSlot // by mid
	stop   chan struct{}

	nacksSent *atomic.Uint64 // sequence numbers requested in NACKs
	via       *net.UDPAddr   // MediaOptions.Via
}

func newPeer(o MediaOptions) (*peer, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	nacks := &atomic.Uint64{}
	api, err := newAPI(o, nacks)
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	p := &peer{pc: pc, log: o.Logger, nacksSent: nacks, connected: make(chan struct{}), failed: make(chan struct{}),
		slots: map[string]*recvSlot{}, stop: make(chan struct{}), via: o.Via}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			p.connectedOnce.Do(func() {
				p.connectedAt.Store(time.Now().UnixNano())
				close(p.connected)
			})
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			p.failedOnce.Do(func() { close(p.failed) })
		}
	})
	pc.OnTrack(p.onTrack)
	return p, nil
}

// goWorker runs fn in a goroutine owned by the peer, unless it is closed.
func (p *peer) goWorker(fn func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		fn()
	}()
	return true
}

// offer creates an offer, sets it locally and waits for ICE gathering so
// the offer carries every local candidate.
func (p *peer) offer(iceRestart bool) (string, error) {
	gathered := webrtc.GatheringCompletePromise(p.pc)
	offer, err := p.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: iceRestart})
	if err != nil {
		return "", fmt.Errorf("create offer: %w", err)
	}
	if err := p.pc.SetLocalDescription(offer); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		return "", fmt.Errorf("ICE gathering did not complete")
	}
	return p.viaOffer(p.pc.LocalDescription().SDP), nil
}

func (p *peer) answer(sdp string) error {
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: p.viaAnswer(sdp)}); err != nil {
		return fmt.Errorf("set remote description: %w", err)
	}
	return nil
}

// Connected is closed once media flows (ICE and DTLS are up).
func (p *peer) Connected() <-chan struct{} { return p.connected }

// close stops the generators, closes the PeerConnection and waits for
// every goroutine of the peer.
func (p *peer) close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.stop)
	p.mu.Unlock()
	err := p.pc.Close()
	p.wg.Wait()
	return err
}
