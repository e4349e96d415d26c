package sfu

import (
	"fmt"
	"github.com/rtcloud/rtcloud/internal/rtpbuf"
	"io"
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v4/packetio"
	"github.com/pion/webrtc/v4"
	"github.com/rtcloud/rtcloud/internal/icemux"
	"github.com/rtcloud/rtcloud/internal/metrics"
)

// Header extension URIs the node negotiates.
const (
	extAudioLevel = sdp.AudioLevelURI
	extTWCC       = sdp.TransportCCURI
)

var videoFeedback = []webrtc.RTCPFeedback{
	{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}, {Type: webrtc.TypeRTCPFBTransportCC},
}

// codecs are the codecs the node accepts and sends, in preference order.
func codecs() []webrtc.RTPCodecParameters {
	video := func(mime, fmtp string, pt webrtc.PayloadType) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000, SDPFmtpLine: fmtp, RTCPFeedback: videoFeedback},
			PayloadType:        pt,
		}
	}
	return []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine:  "minptime=10;useinbandfec=1;usedtx=1",
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}},
		}, PayloadType: 111},
		video(webrtc.MimeTypeVP8, "", 96),
		video(webrtc.MimeTypeVP9, "profile-id=0", 98),
		video(webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", 102),
		video(webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f", 104),
		video(webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f", 106),
	}
}

// newAPI builds the Pion API every PeerConnection of the node uses: the
// codecs and header extensions above, the shared ICE sockets and the RTCP
// interceptors (NACK generation towards publishers, receiver reports, TWCC
// feedback; sender reports and TWCC sequence numbers are written by the
// down tracks). NACKs from subscribers are
// answered by the node from its own packet cache, so there is no NACK
// responder interceptor. The naive forwarder uses Pion's default
// interceptors instead, as an application built from Pion's examples does.
func newAPI(mux *icemux.Mux, m *metrics.SFU, naive bool, rtpReadBuffer int) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	for _, c := range codecs() {
		kind := webrtc.RTPCodecTypeVideo
		if c.MimeType == webrtc.MimeTypeOpus {
			kind = webrtc.RTPCodecTypeAudio
		}
		if err := me.RegisterCodec(c, kind); err != nil {
			return nil, fmt.Errorf("register codec %s: %w", c.MimeType, err)
		}
	}
	exts := []struct {
		uri   string
		kinds []webrtc.RTPCodecType
	}{
		{sdp.SDESMidURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo}},
		{sdp.SDESRTPStreamIDURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo}},
		{sdp.SDESRepairRTPStreamIDURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo}},
		{extAudioLevel, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio}},
		{extTWCC, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo}},
	}
	for _, e := range exts {
		for _, k := range e.kinds {
			if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: e.uri}, k); err != nil {
				return nil, fmt.Errorf("register extension %s: %w", e.uri, err)
			}
		}
	}
	reg := &interceptor.Registry{}
	// First, so it sees the RTCP every later interceptor writes.
	reg.Add(nackCounter{m: m})
	if naive {
		if err := webrtc.RegisterDefaultInterceptors(me, reg); err != nil {
			return nil, err
		}
	} else if err := registerInterceptors(reg); err != nil {
		return nil, err
	}

	se := webrtc.SettingEngine{LoggerFactory: newSharedLoggers()}
	if err := mux.Configure(&se); err != nil {
		return nil, err
	}
	if !naive {
		se.BufferFactory = readBuffers(rtpReadBuffer)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

// registerInterceptors adds the interceptors of the rtcloud forwarder.
func registerInterceptors(reg *interceptor.Registry) error {
	// NACK generation, receiver reports and TWCC feedback concern what a
	// client sends: created on its first stream (lazy.go).
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return err
	}
	reg.Add(lazyFactory{gen})
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return err
	}
	reg.Add(lazyFactory{rr})
	// No sender report interceptor either: the node writes sender reports
	// from its down tracks' counters (reports.go).
	// No TWCC header-extension interceptor: down tracks number their
	// packets themselves (downTrack.stamp), without the allocation Pion's
	// interceptor makes for every packet to every subscriber.
	twccFB, err := twcc.NewSenderInterceptor()
	if err != nil {
		return err
	}
	reg.Add(lazyFactory{twccFB})
	return nil
}

// nackCounter counts the sequence numbers the node requests in NACKs.
type nackCounter struct{ m *metrics.SFU }

func (f nackCounter) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &nackCountInterceptor{m: f.m}, nil
}

type nackCountInterceptor struct {
	interceptor.NoOp
	m *metrics.SFU
}

func (i *nackCountInterceptor) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, a interceptor.Attributes) (int, error) {
		for _, p := range pkts {
			if n, ok := p.(*rtcp.TransportLayerNack); ok {
				i.m.NACKsSent.Add(float64(rtpbuf.CountNACKed(n.Nacks)))
			}
		}
		return w.Write(pkts, a)
	})
}

// rtcpReadBuffer bounds the RTCP queued from one client stream.
const rtcpReadBuffer = 32 << 10

// readBuffers bounds what Pion queues for each received stream between
// decryption and the node's read loop (config.SFU.ReadBufferBytes) and the RTCP
// from each stream. Beyond the bound an overloaded node drops at its input
// (and NACKs the publisher) instead of forwarding packets ever later.
// Buffers grow on demand, so an idle one stays small.
func readBuffers(rtp int) func(packetio.BufferPacketType, uint32) io.ReadWriteCloser {
	return func(t packetio.BufferPacketType, _ uint32) io.ReadWriteCloser {
		b := packetio.NewBuffer()
		switch t {
		case packetio.RTPBufferPacket:
			b.SetLimitSize(rtp)
		case packetio.RTCPBufferPacket:
			b.SetLimitSize(rtcpReadBuffer)
		}
		return b
	}
}

// sharedLoggers gives every PeerConnection the same error-level Pion
// loggers, one per scope, instead of a set of new loggers per connection.
type sharedLoggers struct {
	f       *logging.DefaultLoggerFactory
	mu      sync.Mutex
	byScope map[string]logging.LeveledLogger
}

func newSharedLoggers() *sharedLoggers {
	f := logging.NewDefaultLoggerFactory()
	f.DefaultLogLevel = logging.LogLevelError
	return &sharedLoggers{f: f, byScope: map[string]logging.LeveledLogger{}}
}

func (s *sharedLoggers) NewLogger(scope string) logging.LeveledLogger {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.byScope[scope]
	if l == nil {
		l = s.f.NewLogger(scope)
		s.byScope[scope] = l
	}
	return l
}
